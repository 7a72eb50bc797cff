//! `n2n spray`: the Spray peer-sampling protocol (crate `overlay-spray`)
//! in the simulator, measured as in the paper (Nédelec et al., WWW 2018):
//! view size against ln N, in-degree, clustering, shortest paths, arcs,
//! components; with churn, the view size as the network shrinks and grows.
//! Prints markdown tables and writes SVG plots.

use crate::error::CliError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use n2n_overlay::sim::{Signatures, SimConfig};
use n2n_overlay::ProtocolId;
use overlay_spray::graph::{Graph, Summary};
use overlay_spray::plot::{bar_chart, line_chart, Series};
use overlay_spray::sim::SpraySim;
use overlay_spray::{Ages, Duplicates, SprayConfig};

/// Options of `n2n spray`.
#[derive(Debug, clap::Args)]
pub(crate) struct SprayArgs {
    /// Network sizes, comma separated (one run each).
    #[arg(long, value_delimiter = ',', default_values_t = [1000])]
    peers: Vec<usize>,
    /// Shuffle periods (cycles) to run once every peer has joined.
    #[arg(long, default_value_t = 50)]
    cycles: u32,
    /// The shuffle period Δt, in seconds of virtual time.
    #[arg(long, default_value_t = 10)]
    period: u64,
    /// Newcomers per second of virtual time while the network grows
    /// (default: N / 50, so growth takes 5 periods).
    #[arg(long)]
    join_rate: Option<f64>,
    /// Churn: after growth, oscillate between MIN and the size (crashes
    /// down to MIN, joins back up), e.g. `--churn 500`.
    #[arg(long)]
    churn: Option<usize>,
    /// Periods per churn half-wave (down or up).
    #[arg(long, default_value_t = 10)]
    churn_cycles: u32,
    /// Peers leave gracefully during churn instead of crashing.
    #[arg(long)]
    graceful: bool,
    /// BFS roots for the mean shortest path (all peers if N is smaller).
    #[arg(long, default_value_t = 200)]
    sources: usize,
    /// Seed: the same seed replays the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for the SVG plots and the markdown report.
    #[arg(long, default_value = "target/n2n-spray")]
    out: PathBuf,
    /// Every K cycles (and after growth), write the measures so far to
    /// `snapshot-N.md` in `--out` (0: only at the end). A long run that is
    /// stopped early still leaves its latest figures.
    #[arg(long, default_value_t = 10)]
    snapshot_every: u32,
    /// How the simulated peers sign their handshakes: `ed25519` as real
    /// peers do, or `simulated`, a keyed hash in its place (the same
    /// checks, more than twice as fast at 10,000 peers; for 100,000).
    #[arg(long, value_enum, default_value_t = SignatureArg::Ed25519)]
    signatures: SignatureArg,
    /// What a peer does with an arc a shuffle hands it to a peer already in
    /// its view: `keep` both (the paper's algorithm, spray-wrtc) or `swap`
    /// (the authors' PeerSim code: drop it and keep instead an arc it
    /// handed out). See docs/spray/in-degree.md.
    #[arg(long, value_enum, default_value_t = DuplicatesArg::Keep)]
    duplicates: DuplicatesArg,
    /// What age an arc has at the peer a shuffle hands it to: `carry` (the
    /// age it had, as in the paper's algorithm and Cyclon; the default) or
    /// `reset` (0, as spray-wrtc and PeerSim's `descent.spray`). See
    /// docs/spray/in-degree.md.
    #[arg(long, value_enum, default_value_t = AgesArg::Carry)]
    ages: AgesArg,
}

/// `--ages`: [`Ages`] on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AgesArg {
    /// A moved arc starts at age 0.
    Reset,
    /// A moved arc keeps its age.
    Carry,
}

impl From<AgesArg> for Ages {
    fn from(a: AgesArg) -> Self {
        match a {
            AgesArg::Reset => Ages::Reset,
            AgesArg::Carry => Ages::Carry,
        }
    }
}

/// `--signatures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SignatureArg {
    /// Ed25519, as real peers.
    Ed25519,
    /// A keyed hash in its place (simulator only).
    Simulated,
}

/// `--duplicates`: [`Duplicates`] on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DuplicatesArg {
    /// Keep both arcs.
    Keep,
    /// Drop the duplicate, keep an arc handed out in the same exchange.
    Swap,
}

impl From<DuplicatesArg> for Duplicates {
    fn from(d: DuplicatesArg) -> Self {
        match d {
            DuplicatesArg::Keep => Duplicates::Keep,
            DuplicatesArg::Swap => Duplicates::Swap,
        }
    }
}

/// Peak resident set size of this process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let utime: u64 = rest.get(11)?.parse().ok()?;
            let stime: u64 = rest.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    // Linux reports clock ticks of 1/100 s.
    Duration::from_millis(ticks * 10)
}

/// The measures of the overlay now, as markdown: view size and in-degree
/// (summary, histogram), in-degree by join order, clustering, sampled
/// shortest paths, components.
fn snapshot(net: &SpraySim, args: &SprayArgs, n: usize, cycle: u32, started: Instant) -> String {
    let g = net.graph();
    let views = Summary::of(&g.view_sizes());
    let ins_v = g.in_degrees();
    let ins = Summary::of(&ins_v);
    let (path, reach) = g.mean_shortest_path(args.sources, args.seed);
    let events = net.sim().stats().engine_inputs;
    let wall = started.elapsed().as_secs_f64();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Spray, N = {n} (live {}), cycle {cycle} after growth, Δt {} s, seed {}, duplicates {:?}, ages {:?}.\n",
        g.len(),
        args.period,
        args.seed,
        args.duplicates,
        args.ages
    );
    let _ = writeln!(
        md,
        "| ln N | mean view | view min–max | in-degree mean / max / std dev | clustering | mean shortest path ({} roots) | reachable | arcs | components |",
        args.sources.min(g.len())
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        md,
        "| {:.2} | {:.2} | {}–{} | {:.2} / {} / {:.2} | {:.5} | {:.2} | {:.3} | {} | {} |\n",
        (g.len().max(1) as f64).ln(),
        views.mean,
        views.min,
        views.max,
        ins.mean,
        ins.max,
        ins.std_dev,
        g.clustering(),
        path,
        reach,
        g.arcs(),
        g.components()
    );
    let _ = writeln!(
        md,
        "Cost so far: {wall:.0} s wall, {:.0} s CPU, {events} engine events ({:.0} events/s of wall), peak RSS {:.0} MiB (the machine is shared with other jobs: wall times are noisy).\n",
        cpu_time().as_secs_f64(),
        events as f64 / wall.max(1e-9),
        peak_rss_mib()
    );
    for (what, values) in [("in-degree", &ins_v), ("view size", &g.view_sizes())] {
        let h = Graph::histogram(values);
        let _ = writeln!(md, "{what} histogram (value: peers):\n");
        let cells: Vec<String> = h
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(k, c)| format!("{k}: {c}"))
            .collect();
        let _ = writeln!(md, "{}\n", cells.join(", "));
    }
    // Peers in join order (node ids grow as peers are added): does an
    // early joiner keep a larger in-degree?
    let tenths = 10.min(ins_v.len().max(1));
    let _ = writeln!(
        md,
        "in-degree by join order (tenths of the peers, earliest first): mean / max\n"
    );
    let chunk = ins_v.len().div_ceil(tenths).max(1);
    let cells: Vec<String> = ins_v
        .chunks(chunk)
        .map(|c| {
            let s = Summary::of(c);
            format!("{:.2} / {}", s.mean, s.max)
        })
        .collect();
    let _ = writeln!(md, "{}\n", cells.join(" · "));
    md
}

/// The paper's figures, for the side-by-side table.
fn paper(n: usize) -> (Option<f64>, Option<f64>, Option<f64>) {
    match n {
        1000 => (Some(6.9), Some(0.0067), Some(3.8)),
        10_000 => (Some(9.2), Some(0.0009), Some(4.4)),
        100_000 => (Some(11.5), None, Some(5.0)),
        _ => (None, None, None),
    }
}

struct Run {
    n: usize,
    wall: Duration,
    grow_wall: Duration,
    final_graph: Graph,
    views: Summary,
    ins: Summary,
    clustering: f64,
    path: f64,
    reach: f64,
    components: usize,
    /// (cycle, live peers, mean view, components) every period.
    series: Vec<(f64, usize, f64, usize)>,
    stats: String,
}

fn mean_view(g: &Graph) -> f64 {
    if g.is_empty() {
        0.0
    } else {
        g.arcs() as f64 / g.len() as f64
    }
}

fn run_one(args: &SprayArgs, n: usize) -> Result<Run, CliError> {
    let protocol = ProtocolId::new("spray").map_err(CliError::ProtocolName)?;
    let period = Duration::from_secs(args.period.max(1));
    let started = Instant::now();
    let mut net = SpraySim::new(
        SimConfig::new(args.seed).with_signatures(match args.signatures {
            SignatureArg::Ed25519 => Signatures::Ed25519,
            SignatureArg::Simulated => Signatures::Simulated,
        }),
        SprayConfig::default()
            .with_period(period)
            .with_duplicates(args.duplicates.into())
            .with_ages(args.ages.into()),
        protocol,
    );
    // Growth: newcomers at a steady rate, each through a random member.
    net.grow(n, args.join_rate.unwrap_or(n as f64 / 50.0));
    let grow_wall = started.elapsed();
    eprintln!(
        "spray: {n} peers joined in {:.1} s (wall), {} members, peak RSS {:.0} MiB",
        grow_wall.as_secs_f64(),
        net.members(),
        peak_rss_mib()
    );
    let snap_path = args.out.join(format!("snapshot-{n}.md"));
    if args.snapshot_every > 0 {
        write(&snap_path, &snapshot(&net, args, n, 0, started))?;
    }
    let mut series = Vec::new();
    let min = args.churn.unwrap_or(n).min(n);
    let half = args.churn_cycles.max(1);
    for cycle in 0..args.cycles {
        if args.churn.is_some() {
            // Target size at the end of this period: a triangle wave.
            let phase = cycle % (2 * half);
            let frac = if phase < half {
                f64::from(phase + 1) / f64::from(half)
            } else {
                1.0 - f64::from(phase + 1 - half) / f64::from(half)
            };
            let target = n - ((n - min) as f64 * frac).round() as usize;
            churn_to(&mut net, target, period, args.graceful);
        } else {
            net.run_for(period);
        }
        let g = net.graph();
        series.push((f64::from(cycle + 1), g.len(), mean_view(&g), g.components()));
        let wall = started.elapsed().as_secs_f64();
        let events = net.sim().stats().engine_inputs;
        eprintln!(
            "spray: {n} peers, cycle {}: {} live, mean view {:.2}, {wall:.0} s wall, {:.0} s CPU, {events} events ({:.0}/s), peak RSS {:.0} MiB",
            cycle + 1,
            g.len(),
            mean_view(&g),
            cpu_time().as_secs_f64(),
            events as f64 / wall.max(1e-9),
            peak_rss_mib()
        );
        if args.snapshot_every > 0 && (cycle + 1) % args.snapshot_every == 0 {
            write(&snap_path, &snapshot(&net, args, n, cycle + 1, started))?;
        }
    }
    let g = net.graph();
    let views = Summary::of(&g.view_sizes());
    let ins = Summary::of(&g.in_degrees());
    let clustering = g.clustering();
    let (path, reach) = g.mean_shortest_path(args.sources, args.seed);
    let components = g.components();
    let s = net.spray_stats();
    let t = net.stats();
    let stats = format!(
        "exchanges {}, duplicates swapped {} (reports missed {}), ages carried {} (unused {}), arcs moved {} (failed {}), joins bridged {}, arcs lost {} / replaced {}, other connects failed {}, connects refused {}, engine events {} ({:.0}/s of wall), {:.0} s CPU, peak RSS {:.0} MiB",
        s.exchanges_started,
        s.duplicates_swapped,
        s.reports_missed,
        s.ages_carried,
        s.ages_unused,
        s.arcs_moved,
        s.moves_failed,
        s.joins_handled,
        s.arcs_lost,
        s.arcs_replaced,
        s.connects_failed,
        t.connects_refused,
        net.sim().stats().engine_inputs,
        net.sim().stats().engine_inputs as f64 / started.elapsed().as_secs_f64().max(1e-9),
        cpu_time().as_secs_f64(),
        peak_rss_mib()
    );
    Ok(Run {
        n,
        wall: started.elapsed(),
        grow_wall,
        final_graph: g,
        views,
        ins,
        clustering,
        path,
        reach,
        components,
        series,
        stats,
    })
}

/// Crash (or make leave) random members, or add newcomers, spread over
/// one period, to reach `target` live peers.
fn churn_to(net: &mut SpraySim, target: usize, period: Duration, graceful: bool) {
    let live = net.live();
    let moves = live.abs_diff(target);
    let slices = moves.max(1) as u32;
    let slice = period / slices;
    for _ in 0..moves {
        if live > target {
            if let Some(v) = net.random_member() {
                if graceful {
                    net.leave(v);
                } else {
                    net.crash(v);
                }
            }
        } else {
            let contact = net.random_member();
            net.add_peer(contact);
        }
        net.run_for(slice);
    }
    if moves == 0 {
        net.run_for(period);
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|source| CliError::WriteFile {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn run(args: SprayArgs) -> Result<(), CliError> {
    std::fs::create_dir_all(&args.out).map_err(|source| CliError::CreateDir {
        path: args.out.clone(),
        source,
    })?;
    let mut runs = Vec::new();
    for &n in &args.peers {
        if n < 2 {
            return Err(CliError::Argument {
                flag: "--peers",
                rule: "sizes must each be at least 2",
            });
        }
        runs.push(run_one(&args, n)?);
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Spray in the simulator: seed {}, Δt {} s, {} cycles after growth{}.\n",
        args.seed,
        args.period,
        args.cycles,
        args.churn.map_or(String::new(), |m| format!(
            ", churn between {m} and N every {} cycles ({})",
            args.churn_cycles,
            if args.graceful {
                "graceful leaves"
            } else {
                "crashes"
            }
        ))
    );
    let _ = writeln!(
        md,
        "| N | ln N | mean view (paper) | view min–max | in-degree mean / max | clustering (paper) | mean shortest path (paper) | reachable | arcs | components | wall (grow) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let (pv, pc, pp) = paper(r.n);
        let _ = writeln!(
            md,
            "| {} | {:.2} | **{:.2}** ({}) | {}–{} | {:.2} / {} | **{:.4}** ({}) | **{:.2}** ({}) | {:.3} | {} | {} | {:.0} s ({:.0} s) |",
            r.final_graph.len(),
            (r.final_graph.len() as f64).ln(),
            r.views.mean,
            fmt_opt(pv, 1),
            r.views.min,
            r.views.max,
            r.ins.mean,
            r.ins.max,
            r.clustering,
            fmt_opt(pc, 4),
            r.path,
            fmt_opt(pp, 1),
            r.reach,
            r.final_graph.arcs(),
            r.components,
            r.wall.as_secs_f64(),
            r.grow_wall.as_secs_f64(),
        );
    }
    md.push('\n');
    for r in &runs {
        let _ = writeln!(md, "- N = {}: {}", r.n, r.stats);
    }
    if args.churn.is_some() {
        for r in &runs {
            let worst = r.series.iter().map(|s| s.3).max().unwrap_or(0);
            let _ = writeln!(
                md,
                "\nChurn, N ≤ {}: most components seen at a period's end: {worst}.\n\n| cycle | live peers | ln(live) | mean view | components |\n|---|---|---|---|---|",
                r.n
            );
            for s in r.series.iter().filter(|s| (s.0 as u32) % 5 == 0) {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.2} | {:.2} | {} |",
                    s.0,
                    s.1,
                    (s.1.max(1) as f64).ln(),
                    s.2,
                    s.3
                );
            }
        }
    }
    println!("{md}");
    // Plots.
    let mut plots = Vec::new();
    for r in &runs {
        let n = r.n;
        let mut series = vec![Series {
            name: format!("mean view size, N = {n}"),
            points: r.series.iter().map(|s| (s.0, s.2)).collect(),
            dashed: false,
        }];
        series.push(Series {
            name: "ln(live peers)".into(),
            points: r
                .series
                .iter()
                .map(|s| (s.0, (s.1.max(1) as f64).ln()))
                .collect(),
            dashed: true,
        });
        let name = format!("view-size-{n}.svg");
        write(
            &args.out.join(&name),
            &line_chart(
                &format!("Spray: mean view size per cycle, N = {n}"),
                "cycle (shuffle periods after growth)",
                "arcs per peer",
                &series,
            ),
        )?;
        plots.push(name);
        if args.churn.is_some() {
            let name = format!("churn-{n}.svg");
            write(
                &args.out.join(&name),
                &line_chart(
                    &format!("Spray under churn: live peers (÷100) and components, N ≤ {n}"),
                    "cycle",
                    "value",
                    &[
                        Series {
                            name: "live peers / 100".into(),
                            points: r.series.iter().map(|s| (s.0, s.1 as f64 / 100.0)).collect(),
                            dashed: false,
                        },
                        Series {
                            name: "connected components".into(),
                            points: r.series.iter().map(|s| (s.0, s.3 as f64)).collect(),
                            dashed: true,
                        },
                    ],
                ),
            )?;
            plots.push(name);
        }
        for (what, values) in [
            ("in-degree", r.final_graph.in_degrees()),
            ("view-size-distribution", r.final_graph.view_sizes()),
        ] {
            let h = Graph::histogram(&values);
            let bars: Vec<(f64, f64)> = h
                .iter()
                .enumerate()
                .map(|(k, c)| (k as f64, *c as f64))
                .collect();
            let name = format!("{what}-{n}.svg");
            write(
                &args.out.join(&name),
                &bar_chart(
                    &format!("Spray: {what}, N = {n}"),
                    if what == "in-degree" {
                        "in-degree (arcs)"
                    } else {
                        "view size (arcs)"
                    },
                    "peers",
                    &bars,
                ),
            )?;
            plots.push(name);
        }
    }
    if runs.len() > 1 {
        let pts = |f: &dyn Fn(&Run) -> f64| runs.iter().map(|r| (r.n as f64, f(r))).collect();
        let name = "view-vs-n.svg".to_string();
        write(
            &args.out.join(&name),
            &line_chart(
                "Spray: mean view size against N",
                "peers N",
                "arcs per peer",
                &[
                    Series {
                        name: "ours".into(),
                        points: pts(&|r| r.views.mean),
                        dashed: false,
                    },
                    Series {
                        name: "ln N".into(),
                        points: pts(&|r| (r.n as f64).ln()),
                        dashed: true,
                    },
                ],
            ),
        )?;
        plots.push(name);
    }
    write(&args.out.join("report.md"), &md)?;
    eprintln!(
        "spray: wrote report.md and {} in {}",
        plots.join(", "),
        args.out.display()
    );
    Ok(())
}
