//! The summary `n2n demo` and `n2n sim` print, and the topology they write
//! (DOT for graphviz users, SVG for everyone else: a circular layout drawn
//! here, no graphviz needed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use n2n_overlay::{ConnState, ConnectionInfo, PeerId, Role, Via};

use crate::error::CliError;

/// How a connection was set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Link {
    /// Out of band: through the signaling server.
    Server,
    /// Through a bridge (a common neighbour).
    Bridge,
}

impl Link {
    fn color(self) -> &'static str {
        match self {
            Link::Server => "#d9480f",
            Link::Bridge => "#1c7ed6",
        }
    }
}

/// One peer's row.
#[derive(Debug, Clone)]
pub(crate) struct PeerRow {
    pub(crate) id: PeerId,
    /// The index of the peer it joined through; `None` for the first.
    pub(crate) contact: Option<usize>,
    pub(crate) inview: BTreeMap<PeerId, u32>,
    pub(crate) outview: BTreeMap<PeerId, u32>,
    pub(crate) received: u64,
}

/// Everything the summary shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    /// First line: what ran.
    pub(crate) title: String,
    /// "wall clock" or "virtual clock".
    pub(crate) clock: &'static str,
    pub(crate) peers: Vec<PeerRow>,
    /// Established connections, each once: (initiator, acceptor, how).
    pub(crate) connections: Vec<(usize, usize, Link)>,
    pub(crate) join_times: Vec<Duration>,
    pub(crate) bridge_times: Vec<Duration>,
    pub(crate) join_failures: Vec<String>,
    pub(crate) bridge_failures: Vec<String>,
    pub(crate) sent: u64,
    pub(crate) send_failures: u64,
    pub(crate) delivered: u64,
    pub(crate) elapsed: Duration,
}

impl Summary {
    /// An empty summary of a run timed by `clock` ("wall clock", "virtual clock").
    pub(crate) fn new(clock: &'static str) -> Self {
        Summary {
            clock,
            ..Summary::default()
        }
    }

    /// What went wrong, counted (empty for a clean run): failed joins and
    /// bridged connects, lost and refused messages.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.join_failures.is_empty() {
            problems.push(format!("{} joins failed", self.join_failures.len()));
        }
        if !self.bridge_failures.is_empty() {
            problems.push(format!(
                "{} bridged connects failed",
                self.bridge_failures.len()
            ));
        }
        if self.lost() > 0 || self.send_failures > 0 {
            problems.push(format!(
                "{} messages lost, {} refused",
                self.lost(),
                self.send_failures
            ));
        }
        problems
    }

    /// Record `peer`'s connections (those it initiated, so each counts once).
    pub(crate) fn add_connections(
        &mut self,
        peer: usize,
        conns: &[ConnectionInfo],
        index: &BTreeMap<PeerId, usize>,
    ) {
        for c in conns {
            if c.role != Role::Initiator || !matches!(c.state, ConnState::Living | ConnState::Dying)
            {
                continue;
            }
            let Some(other) = c.peer.and_then(|p| index.get(&p).copied()) else {
                continue;
            };
            let link = match c.via {
                Via::OutOfBand => Link::Server,
                Via::Bridge(_) => Link::Bridge,
            };
            self.connections.push((peer, other, link));
        }
    }

    fn link_between(&self, a: usize, b: usize) -> Option<Link> {
        self.connections
            .iter()
            .find(|(x, y, _)| (*x, *y) == (a, b) || (*x, *y) == (b, a))
            .map(|c| c.2)
    }

    fn index(&self) -> BTreeMap<PeerId, usize> {
        self.peers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect()
    }

    /// Arcs, as (from, to, multiplicity), from the outviews.
    fn arcs(&self) -> Vec<(usize, usize, u32)> {
        let index = self.index();
        let mut arcs = Vec::new();
        for (i, p) in self.peers.iter().enumerate() {
            for (q, n) in &p.outview {
                if let Some(j) = index.get(q) {
                    arcs.push((i, *j, *n));
                }
            }
        }
        arcs
    }

    /// Connections set up (through the signaling server, through a bridge).
    fn links(&self) -> (usize, usize) {
        let server = self
            .connections
            .iter()
            .filter(|c| c.2 == Link::Server)
            .count();
        (server, self.connections.len() - server)
    }

    pub(crate) fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.delivered)
    }

    /// The summary as text.
    pub(crate) fn render(&self, max_rows: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:>4}  {:<10}  {:>6}  {:>12}  {:>12}  {:>9}  {:>7}",
            "peer", "id", "joined", "inview", "outview", "conns", "msgs in"
        );
        let _ = writeln!(
            out,
            "{:>4}  {:<10}  {:>6}  {:>12}  {:>12}  {:>9}  {:>7}",
            "", "", "via", "peers/arcs", "peers/arcs", "srv/brg", ""
        );
        let mut per_peer: Vec<(usize, usize)> = vec![(0, 0); self.peers.len()];
        for (a, b, link) in &self.connections {
            for x in [*a, *b] {
                if let Some(c) = per_peer.get_mut(x) {
                    match link {
                        Link::Server => c.0 += 1,
                        Link::Bridge => c.1 += 1,
                    }
                }
            }
        }
        let shown = if self.peers.len() > max_rows {
            max_rows.saturating_sub(2)
        } else {
            self.peers.len()
        };
        for (i, p) in self.peers.iter().enumerate() {
            if i == shown && shown < self.peers.len() {
                let _ = writeln!(
                    out,
                    "{:>4}  ({} more peers)",
                    "...",
                    self.peers.len() - shown
                );
            }
            if i >= shown && i + 1 != self.peers.len() {
                continue;
            }
            let via = p.contact.map_or_else(|| "-".to_owned(), |c| c.to_string());
            let views =
                |v: &BTreeMap<PeerId, u32>| format!("{}/{}", v.len(), v.values().sum::<u32>());
            let (s, b) = per_peer[i];
            let _ = writeln!(
                out,
                "{:>4}  {:<10}  {:>6}  {:>12}  {:>12}  {:>9}  {:>7}",
                i,
                p.id.short(),
                via,
                views(&p.inview),
                views(&p.outview),
                format!("{s}/{b}"),
                p.received
            );
        }
        let _ = writeln!(out);
        let (server, bridged) = self.links();
        let arcs: u32 = self
            .peers
            .iter()
            .map(|p| p.outview.values().sum::<u32>())
            .sum();
        let _ = writeln!(
            out,
            "connections: {} ({} through the signaling server, {} through bridges); arcs: {}",
            self.connections.len(),
            server,
            bridged,
            arcs
        );
        let _ = writeln!(out, "setup time ({}):", self.clock);
        let _ = writeln!(
            out,
            "  {:<16} {:>5} {:>10} {:>10} {:>10} {:>10}",
            "", "n", "p50", "p90", "p99", "max"
        );
        for (name, times) in [
            ("join via server", &self.join_times),
            ("bridged connect", &self.bridge_times),
        ] {
            let _ = writeln!(
                out,
                "  {:<16} {:>5} {:>10} {:>10} {:>10} {:>10}",
                name,
                times.len(),
                ms(percentile(times, 50.0)),
                ms(percentile(times, 90.0)),
                ms(percentile(times, 99.0)),
                ms(percentile(times, 100.0))
            );
        }
        for (what, failures) in [
            ("joins", &self.join_failures),
            ("bridged connects", &self.bridge_failures),
        ] {
            if !failures.is_empty() {
                let _ = writeln!(
                    out,
                    "failed {what}: {} (first: {})",
                    failures.len(),
                    failures[0]
                );
            }
        }
        let _ = writeln!(
            out,
            "messages: {} sent, {} delivered, {} lost{}",
            self.sent,
            self.delivered,
            self.lost(),
            if self.send_failures > 0 {
                format!(", {} refused by send", self.send_failures)
            } else {
                String::new()
            }
        );
        let _ = writeln!(out, "ran for {:.2?} ({})", self.elapsed, self.clock);
        out
    }

    /// The topology in graphviz DOT: one node per peer, one edge per arc,
    /// coloured by how its connection was set up.
    pub(crate) fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph overlay {\n  layout=circo;\n  node [shape=circle, fontname=\"monospace\"];\n",
        );
        let _ = writeln!(
            out,
            "  // {} ({} = signaling server, {} = bridge)",
            self.title,
            Link::Server.color(),
            Link::Bridge.color()
        );
        for (i, p) in self.peers.iter().enumerate() {
            let _ = writeln!(out, "  p{i} [label=\"{i}\", tooltip=\"{}\"];", p.id);
        }
        for (a, b, n) in self.arcs() {
            let color = self.link_between(a, b).unwrap_or(Link::Bridge).color();
            let label = if n > 1 {
                format!(", label=\"x{n}\"")
            } else {
                String::new()
            };
            let _ = writeln!(out, "  p{a} -> p{b} [color=\"{color}\"{label}];");
        }
        out.push_str("}\n");
        out
    }

    /// The topology as a standalone SVG picture: peers on a circle, arcs
    /// as slightly curved arrows (so `a -> b` and `b -> a` both show).
    pub(crate) fn to_svg(&self) -> String {
        let n = self.peers.len().max(1);
        let (w, h) = (900.0_f64, 980.0_f64);
        let (cx, cy) = (w / 2.0, 500.0);
        let radius = 380.0;
        let node_r = if n > 60 { 7.0 } else { 15.0 };
        let pos: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let a = std::f64::consts::TAU * i as f64 / n as f64 - std::f64::consts::FRAC_PI_2;
                (cx + radius * a.cos(), cy + radius * a.sin())
            })
            .collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
        );
        let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
        out.push_str("<defs>\n");
        for link in [Link::Server, Link::Bridge] {
            let _ = writeln!(
                out,
                r#"<marker id="arrow-{link:?}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{}"/></marker>"#,
                link.color()
            );
        }
        out.push_str("</defs>\n");
        let _ = writeln!(
            out,
            r#"<text x="{}" y="34" font-size="20" text-anchor="middle">{}</text>"#,
            w / 2.0,
            escape(&self.title)
        );
        let (server, bridged) = self.links();
        let arcs = self.arcs();
        let _ = writeln!(
            out,
            r#"<text x="{}" y="60" font-size="14" text-anchor="middle" fill="dimgray">{} peers, {} arcs; connections: {} through the signaling server, {} through bridges</text>"#,
            w / 2.0,
            self.peers.len(),
            arcs.iter().map(|a| a.2).sum::<u32>(),
            server,
            bridged
        );
        // Legend.
        for (k, (link, label)) in [
            (
                Link::Server,
                "arc over a connection set up through the signaling server",
            ),
            (
                Link::Bridge,
                "arc over a connection set up through a bridge",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let y = h - 66.0 + 22.0 * k as f64;
            let _ = writeln!(
                out,
                r#"<line x1="30" y1="{y}" x2="80" y2="{y}" stroke="{}" stroke-width="2" marker-end="url(#arrow-{link:?})"/><text x="92" y="{}" font-size="14">{label}</text>"#,
                link.color(),
                y + 5.0
            );
        }
        let _ = writeln!(
            out,
            r##"<circle cx="{}" cy="{}" r="8" fill="#ffe8cc" stroke="#333"/><text x="{}" y="{}" font-size="14">the first peer (alone in the room until the second joined)</text>"##,
            55.0,
            h - 22.0,
            92.0,
            h - 17.0
        );
        out.push_str("<g fill=\"none\" stroke-opacity=\"0.75\">\n");
        for (a, b, count) in &arcs {
            let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(*a), pos.get(*b)) else {
                continue;
            };
            let link = self.link_between(*a, *b).unwrap_or(Link::Bridge);
            let (dx, dy) = (x2 - x1, y2 - y1);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            // Control point: off the chord's middle, to the right of a -> b.
            let bend = 0.12 * len;
            let (mx, my) = (
                (x1 + x2) / 2.0 - dy / len * bend,
                (y1 + y2) / 2.0 + dx / len * bend,
            );
            // Start and end on the circles' borders, toward the control point.
            let (sx, sy) = toward((x1, y1), (mx, my), node_r);
            let (ex, ey) = toward((x2, y2), (mx, my), node_r + 1.0);
            let width = 1.2 + 0.8 * f64::from(count.saturating_sub(1).min(4));
            let _ = writeln!(
                out,
                r#"<path d="M{sx:.1},{sy:.1} Q{mx:.1},{my:.1} {ex:.1},{ey:.1}" stroke="{}" stroke-width="{width:.1}" marker-end="url(#arrow-{link:?})"/>"#,
                link.color()
            );
        }
        out.push_str("</g>\n");
        for (i, (x, y)) in pos.iter().enumerate().take(self.peers.len()) {
            let first = self.peers[i].contact.is_none();
            let _ = writeln!(
                out,
                r##"<g><title>peer {i}: {}</title><circle cx="{x:.1}" cy="{y:.1}" r="{node_r}" fill="{}" stroke="#333" stroke-width="1.5"/>"##,
                self.peers[i].id,
                if first { "#ffe8cc" } else { "#f8f9fa" }
            );
            if node_r >= 10.0 {
                let _ = writeln!(
                    out,
                    r#"<text x="{x:.1}" y="{:.1}" font-size="12" text-anchor="middle">{i}</text>"#,
                    y + 4.0
                );
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg>\n");
        out
    }

    /// Write `topology.dot` and `topology.svg` into `dir`.
    pub(crate) fn write_topology(&self, dir: &Path) -> Result<(PathBuf, PathBuf), CliError> {
        std::fs::create_dir_all(dir).map_err(|source| CliError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let dot = dir.join("topology.dot");
        let svg = dir.join("topology.svg");
        for (path, text) in [(&dot, self.to_dot()), (&svg, self.to_svg())] {
            std::fs::write(path, text).map_err(|source| CliError::WriteFile {
                path: path.clone(),
                source,
            })?;
        }
        Ok((dot, svg))
    }
}

fn toward(from: (f64, f64), to: (f64, f64), by: f64) -> (f64, f64) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-9);
    (from.0 + dx / len * by, from.1 + dy / len * by)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Nearest-rank percentile; `None` for no samples.
pub(crate) fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s.get(rank.clamp(1, s.len()) - 1).copied()
}

/// Milliseconds, two decimals; `-` for none.
pub(crate) fn ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1000.0),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use n2n_overlay::Keypair;

    fn three() -> Summary {
        let ids: Vec<PeerId> = (0..3).map(|_| Keypair::generate().peer_id()).collect();
        let row = |i: usize, contact, out: &[usize], inn: &[usize]| PeerRow {
            id: ids[i],
            contact,
            outview: out.iter().map(|j| (ids[*j], 1)).collect(),
            inview: inn.iter().map(|j| (ids[*j], 1)).collect(),
            received: 0,
        };
        Summary {
            title: "three <peers>".into(),
            clock: "virtual clock",
            peers: vec![
                row(0, None, &[], &[1, 2]),
                row(1, Some(0), &[0, 2], &[]),
                row(2, Some(0), &[0], &[1]),
            ],
            connections: vec![
                (1, 0, Link::Server),
                (2, 0, Link::Server),
                (1, 2, Link::Bridge),
            ],
            ..Summary::default()
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&s, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&s, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(
            percentile(&[Duration::from_millis(7)], 90.0),
            Some(Duration::from_millis(7))
        );
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn dot_has_one_edge_per_arc_coloured_by_link() {
        let dot = three().to_dot();
        assert_eq!(dot.matches(" -> ").count(), 3);
        assert!(dot.contains(&format!("p1 -> p2 [color=\"{}\"]", Link::Bridge.color())));
        assert!(dot.contains(&format!("p1 -> p0 [color=\"{}\"]", Link::Server.color())));
    }

    #[test]
    fn svg_draws_every_peer_and_arc_and_escapes_text() {
        let svg = three().to_svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>peer ").count(), 3);
        assert_eq!(svg.matches(" Q").count(), 3, "one curve per arc");
        assert!(svg.contains("three &lt;peers&gt;"));
        assert!(svg.contains("2 through the signaling server, 1 through bridges"));
    }

    #[test]
    fn table_counts_connections_per_peer() {
        let text = three().render(50);
        assert!(
            text.contains(
                "connections: 3 (2 through the signaling server, 1 through bridges); arcs: 3"
            ),
            "{text}"
        );
        // Peer 1: one server connection (to 0), one bridged (to 2).
        let row1 = text
            .lines()
            .find(|l| l.trim_start().starts_with("1 "))
            .unwrap_or_default();
        assert!(row1.contains("1/1"), "{row1}");
    }
}
