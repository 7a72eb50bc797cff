//! Setup when webrtc-rs offers to other stacks, against the answering
//! stack's own same-stack setup: `transport-webrtcrs`'s `interop_setup`
//! example (Node libwebrtc, libdatachannel and Chromium peers in a
//! loopback-only network namespace; see `docs/INTEROP-SETUP.md`), run as a
//! child process, its markdown table parsed.

use std::path::Path;
use std::process::{Command, Stdio};

use super::goal::Goal;
use super::samples::Samples;
use super::table::{cell, Row};
use crate::BenchError;

/// The answering stacks of the goal.
pub const STACKS: [&str; 4] = ["str0m", "libwebrtc", "libdatachannel", "chromium"];

/// One row of `interop_setup`'s table.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupRow {
    /// "offerer → answerer", "(reference)" for a stack with itself.
    pub what: String,
    /// Median setup, ms (`None`: none opened).
    pub median_ms: Option<f64>,
    /// Setups that opened.
    pub n: usize,
    /// Setups that failed.
    pub failed: usize,
}

/// The rows of `interop_setup`'s output table.
pub fn parse(text: &str) -> Vec<SetupRow> {
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let [what, median, _p90, _max, n, failed, ..] = cells.as_slice() else {
                return None;
            };
            Some(SetupRow {
                what: (*what).to_owned(),
                median_ms: median.parse().ok(),
                n: n.parse().ok()?,
                failed: failed.parse().ok()?,
            })
        })
        .collect()
}

fn offer_key(stack: &str) -> String {
    format!("interop.{stack}.offer")
}

fn self_key(stack: &str) -> String {
    format!("interop.{stack}.self")
}

fn failed_key(stack: &str) -> String {
    format!("interop.{stack}.failed")
}

fn tried_key(stack: &str) -> String {
    format!("interop.{stack}.tried")
}

/// Record one run's rows: for each stack, webrtc-rs → it (the defaults)
/// and its own reference row.
pub fn record(rows: &[SetupRow], stacks: &[&str], round: usize, s: &mut Samples) {
    for stack in stacks {
        let offer = rows
            .iter()
            .find(|r| r.what == format!("webrtc-rs → {stack}"));
        let own = rows
            .iter()
            .find(|r| r.what == format!("{stack} → {stack} (reference)"));
        for (k, row) in [(offer_key(stack), offer), (self_key(stack), own)] {
            match row.and_then(|r| r.median_ms) {
                Some(ms) => s.push(&k, ms),
                None => s.fail(&[&k], round, &k, "no setup opened (see stderr)"),
            }
        }
        s.push(
            &failed_key(stack),
            offer.map_or(f64::NAN, |r| r.failed as f64),
        );
        s.push(
            &tried_key(stack),
            offer.map_or(f64::NAN, |r| (r.n + r.failed) as f64),
        );
    }
}

/// One round: one run of `exe --n n --stacks ...`.
pub fn measure(exe: &Path, n: usize, stacks: &[&str], round: usize, s: &mut Samples) {
    eprintln!("floor: round {round}, setup with other stacks ({n} per row) ...");
    let run = || -> Result<String, BenchError> {
        let out = Command::new(exe)
            .args(["--n", &n.to_string(), "--stacks", &stacks.join(",")])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!("interop_setup failed ({}): {}", out.status, text.trim()).into());
        }
        Ok(text)
    };
    match run() {
        Ok(text) => record(&parse(&text), stacks, round, s),
        Err(e) => {
            let keys: Vec<String> = stacks
                .iter()
                .flat_map(|st| [offer_key(st), self_key(st)])
                .collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            s.fail(&keys, round, "interop_setup", &e.to_string());
        }
    }
}

/// One row per answering stack.
pub fn rows(n: usize, stacks: &[&str], s: &Samples) -> Vec<Row> {
    let ms = |v: f64| format!("{v:.1} ms");
    stacks
        .iter()
        .map(|stack| {
            let ratio = s.ratio(&offer_key(stack), &self_key(stack));
            let sum = |k: String| -> f64 { s.get(&k).iter().filter(|f| f.is_finite()).sum() };
            let failed = format!(
                "{:.0} of {:.0} setups failed",
                sum(failed_key(stack)),
                sum(tried_key(stack))
            );
            Row::new(
                format!("setup when webrtc-rs offers to {stack} vs {stack} → {stack} (its own same-stack setup); median of {n} one at a time per round"),
                Goal::AtMost(2.0),
                &ratio,
            )
            .goal_text("≤ 2×")
            .overlay(cell(s.get(&offer_key(stack)), ms))
            .floor(cell(s.get(&self_key(stack)), ms))
            .ratio(&ratio)
            .notes(match *stack {
                "str0m" => format!("{failed}; webrtc-rs's per-connection driver task adds a thread hop per datagram (docs/INTEROP-SETUP.md)"),
                "libdatachannel" => format!("{failed}; libdatachannel's own setup is bimodal here (~5–16 ms or ~1 s, its first retransmission), so the ratio against its median flatters us (docs/INTEROP-SETUP.md)"),
                "chromium" => format!("{failed}; most of a Chromium row is the harness (a DevTools round trip per signal, which the same-stack reference does not pay; docs/INTEROP-SETUP.md)"),
                _ => format!("{failed} (docs/INTEROP-SETUP.md)"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "setup, 20 connections per row, one at a time, 2 runtime thread(s); load average 1.0 1.0 1.0

| setup (offerer → answerer) | median ms | p90 ms | max ms | n | failed | early held/released, checks replayed |
|---|---|---|---|---|---|---|
| webrtc-rs → str0m | 13.1 | 20.0 | 25.0 | 20 | 0 | 3/3/1 |
| str0m → webrtc-rs | 9.0 | 10.0 | 11.0 | 20 | 0 | 0/0/0 |
| str0m → str0m (reference) | 6.5 | 7.0 | 8.0 | 20 | 0 | - |
| webrtc-rs → chromium (stopped: see stderr) | - | - | - | 0 | 20 | - |
| chromium → chromium (reference) | 120.5 | 130.0 | 140.0 | 20 | 0 | - |
";

    #[test]
    fn the_table_is_parsed() {
        let rows = parse(OUT);
        assert_eq!(rows.len(), 5, "header and rule lines are not rows");
        assert_eq!(
            rows[0],
            SetupRow {
                what: "webrtc-rs → str0m".into(),
                median_ms: Some(13.1),
                n: 20,
                failed: 0
            }
        );
        assert_eq!(rows[3].median_ms, None);
        assert_eq!(rows[3].failed, 20);
    }

    #[test]
    fn ratios_pair_the_offer_with_the_stacks_own_setup() {
        let mut s = Samples::default();
        record(&parse(OUT), &["str0m", "chromium"], 1, &mut s);
        let r = s.ratio(&offer_key("str0m"), &self_key("str0m"));
        assert_eq!(r.len(), 1);
        assert!((r[0] - 13.1 / 6.5).abs() < 1e-9);
        // The stopped row is not the default row: Chromium has no sample.
        assert!(s.get(&offer_key("chromium"))[0].is_nan());
        let rows = rows(20, &["str0m", "chromium"], &s);
        assert_eq!(rows[0].ratio, "2.02");
        assert_eq!(rows[0].met.to_string(), "**no**");
        assert_eq!(
            rows[1].met.to_string(),
            "not measured: no round measured it"
        );
    }
}
