//! The simulator: `overlay-core`'s `sim_bench` example (N peers join and
//! bridge over a simulated network, virtual clock, 1 % handshake loss,
//! invariant checked at the end), one fresh process per size under
//! `/usr/bin/time` for wall time, user and system CPU and peak RSS.

use std::path::Path;
use std::process::{Command, Stdio};

use super::goal::Goal;
use super::samples::Samples;
use super::table::{cell, int, Row};
use crate::BenchError;

/// The size issue 14 asks for.
pub const GOAL_PEERS: usize = 100_000;

/// What one `sim_bench` run printed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimRun {
    /// Peers.
    pub peers: usize,
    /// Engine events handled.
    pub events: u64,
    /// Wall time, s (`/usr/bin/time`).
    pub wall_s: f64,
    /// User CPU, s.
    pub user_s: f64,
    /// System CPU, s.
    pub sys_s: f64,
    /// Peak resident set, KiB.
    pub max_rss_kib: u64,
}

const TIME_TAG: &str = "N2N_SIM_TIME";

/// Parse `sim_bench`'s row for `peers` (stdout) and the tagged
/// `/usr/bin/time` line (stderr).
pub fn parse(peers: usize, stdout: &str, stderr: &str) -> Option<SimRun> {
    let events = stdout.lines().find_map(|l| {
        let f: Vec<&str> = l.split('|').map(str::trim).collect();
        (f.len() >= 3 && f[0].parse::<usize>().ok()? == peers).then(|| f[2].parse::<u64>().ok())?
    })?;
    let t = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix(TIME_TAG))?;
    let f: Vec<&str> = t.split_whitespace().collect();
    let [wall, user, sys, rss] = f.as_slice() else {
        return None;
    };
    Some(SimRun {
        peers,
        events,
        wall_s: wall.parse().ok()?,
        user_s: user.parse().ok()?,
        sys_s: sys.parse().ok()?,
        max_rss_kib: rss.parse().ok()?,
    })
}

fn key(peers: usize, what: &str) -> String {
    format!("sim.{peers}.{what}")
}

/// One run of `exe peers` under `/usr/bin/time`.
fn run(exe: &Path, peers: usize) -> Result<SimRun, BenchError> {
    let out = Command::new("/usr/bin/time")
        .args(["-f", &format!("{TIME_TAG} %e %U %S %M")])
        .arg(exe)
        .arg(peers.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time ({e}): install GNU time"))?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if !out.status.success() {
        return Err(format!(
            "sim_bench {peers} failed ({}): {}",
            out.status,
            stderr.trim()
        )
        .into());
    }
    parse(peers, &stdout, &stderr)
        .ok_or_else(|| format!("sim_bench {peers}: no result in its output: {stdout}").into())
}

/// One round: each size in a fresh process.
pub fn measure(exe: &Path, sizes: &[usize], round: usize, s: &mut Samples) {
    for &peers in sizes {
        eprintln!("floor: round {round}, simulator with {peers} peers ...");
        match run(exe, peers) {
            Ok(r) => {
                s.push(&key(peers, "ok"), 1.0);
                s.push(&key(peers, "wall"), r.wall_s);
                s.push(&key(peers, "cpu"), r.user_s);
                s.push(&key(peers, "sys"), r.sys_s);
                s.push(&key(peers, "rss"), r.max_rss_kib as f64 / 1024.0);
                s.push(&key(peers, "events"), r.events as f64);
                s.push(&key(peers, "rate"), r.events as f64 / r.wall_s.max(1e-9));
            }
            Err(e) => {
                s.push(&key(peers, "ok"), 0.0);
                let keys = ["wall", "cpu", "sys", "rss", "events", "rate"].map(|w| key(peers, w));
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                s.fail(&keys, round, "simulator", &e.to_string());
            }
        }
    }
}

/// One row per size, and one saying 100,000 was not run if it was not.
pub fn rows(sizes: &[usize], s: &Samples) -> Vec<Row> {
    let mut rows: Vec<Row> = sizes
        .iter()
        .map(|&peers| {
            let g = |w: &str| s.get(&key(peers, w)).to_vec();
            Row::new(
                format!(
                    "simulator, {} peers (growth scenario, one process, virtual clock, invariant checked)",
                    int(peers as f64)
                ),
                Goal::Holds,
                &g("ok"),
            )
            .goal_text("runs")
            .overlay(format!(
                "wall {}, CPU {} user + {} system, peak RSS {}, {} engine events ({}/s of wall time)",
                cell(&g("wall"), |v| format!("{v:.1} s")),
                cell(&g("cpu"), |v| format!("{v:.1} s")),
                cell(&g("sys"), |v| format!("{v:.1} s")),
                cell(&g("rss"), |v| format!("{v:.0} MiB")),
                cell(&g("events"), int),
                cell(&g("rate"), int)
            ))
        })
        .collect();
    if !sizes.contains(&GOAL_PEERS) {
        let mut row = Row::new(
            format!(
                "simulator, {} peers (growth scenario, one process)",
                int(GOAL_PEERS as f64)
            ),
            Goal::Holds,
            &[],
        )
        .goal_text("runs");
        row.met = super::goal::Verdict::NotMeasured(format!(
            "opt-in, ~15 min: --sim {}",
            sizes
                .iter()
                .chain(std::iter::once(&GOAL_PEERS))
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_and_the_time_line_are_parsed() {
        let stdout = "seed 1, loss 0.01, newcomer every 10 ms (virtual), fanout 1..=3, invariant checked at the end
  peers |  wall (s) | engine events |    events/s |   virtual |  conns |   arcs | messages | joins ok | bridged | failed
   1000 |     1.234 |         78000 |       63209 |     12.0s |   2870 |   2872 |     2872 |      999 |    1900 |      3
";
        let stderr = "some warning\nN2N_SIM_TIME 1.30 1.10 0.05 45678\n";
        assert_eq!(
            parse(1000, stdout, stderr),
            Some(SimRun {
                peers: 1000,
                events: 78000,
                wall_s: 1.30,
                user_s: 1.10,
                sys_s: 0.05,
                max_rss_kib: 45678
            })
        );
        assert_eq!(parse(10_000, stdout, stderr), None, "no row for that size");
        assert_eq!(parse(1000, stdout, "no time line"), None);
    }

    #[test]
    fn the_goal_size_not_run_is_said() {
        let mut s = Samples::default();
        s.push(&key(1000, "ok"), 1.0);
        let rows = rows(&[1000], &s);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].met.to_string(), "yes");
        assert!(rows[1].met.to_string().contains("--sim 1000,100000"));
    }
}
