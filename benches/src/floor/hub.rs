//! The hub: one overlay node on str0m (one UDP socket) holding `n`
//! connections from client nodes of a second process
//! ([`crate::hub::hub_in_child_with`]): its memory per connection against
//! raw str0m's per end, its setup rate and the CPU behind it, and its idle
//! CPU and traffic.

use super::goal::{Goal, Verdict};
use super::memory::{measure_raw_str0m, RAW_STR0M};
use super::samples::Samples;
use super::summary::Summary;
use super::table::{cell, int, Row};
use crate::hub::{hub_in_child_with, HubOptions};

/// The hub size issue 14 asks for.
pub const GOAL_CONNECTIONS: usize = 10_000;

const KIB: &str = "hub.kib";
const RATE: &str = "hub.rate";
const ALL: &str = "hub.all-open";
const OPENED: &str = "hub.opened";
const CPU: &str = "hub.cpu-ms";
const CLIENT_CPU: &str = "hub.client-cpu-ms";
const IDLE_CPU: &str = "hub.idle-cpu";
const DGRAMS: &str = "hub.idle-datagrams";
const WAKES: &str = "hub.idle-wakeups";

/// How many connections a failed hub run had open, from its error
/// ("6490 of 10000 open after 600s").
pub fn opened_in_error(msg: &str) -> Option<usize> {
    let (count, rest) = msg.trim().split_once(" of ")?;
    rest.contains(" open after ").then_some(())?;
    count.trim().parse().ok()
}

/// One round: a hub of `n` (and raw str0m's pair memory, if the memory
/// section did not measure it this round).
pub fn measure(n: usize, options: &HubOptions, pairs: usize, round: usize, s: &mut Samples) {
    if s.get(RAW_STR0M).len() < round {
        measure_raw_str0m(pairs, round, s);
    }
    eprintln!(
        "floor: round {round}, hub of {n} connections (hub ICE {}) ...",
        if options.lite { "lite" } else { "full" }
    );
    match hub_in_child_with(n, options) {
        Ok(r) => {
            let all = r.open_after_idle >= n;
            s.push(KIB, r.kib_per_conn);
            s.push(RATE, r.rate());
            s.push(OPENED, r.open_after_idle as f64);
            s.push(ALL, f64::from(u8::from(all)));
            s.push(CPU, r.setup_cpu_per_conn.as_secs_f64() * 1e3);
            s.push(CLIENT_CPU, r.client_setup_cpu_per_conn.as_secs_f64() * 1e3);
            s.push(IDLE_CPU, r.idle_cpu_percent);
            s.push(DGRAMS, r.idle_datagrams_per_conn);
            s.push(WAKES, r.idle_wakeups_per_conn);
        }
        Err(e) => {
            let msg = e.to_string();
            s.fail(
                &[KIB, RATE, CPU, CLIENT_CPU, IDLE_CPU, DGRAMS, WAKES],
                round,
                "hub",
                &msg,
            );
            s.push(ALL, 0.0);
            s.push(OPENED, opened_in_error(&msg).map_or(f64::NAN, |o| o as f64));
        }
    }
}

/// The hub's rows: memory, fits, setup rate.
pub fn rows(n: usize, lite: bool, window: usize, s: &Samples) -> Vec<Row> {
    let ice = if lite {
        "ICE-lite acceptor"
    } else {
        "full ICE at the hub"
    };
    let per_end: Vec<f64> = s.get(RAW_STR0M).iter().map(|k| k / 2.0).collect();
    let ratio: Vec<f64> = s
        .get(KIB)
        .iter()
        .zip(&per_end)
        .map(|(h, r)| h / r)
        .collect();
    let kib = |v: f64| format!("{v:.1} KiB");
    let ms = |v: f64| format!("{v:.2} ms");
    let mut rows = vec![Row::new(
        format!("memory per connection at a {}-connection hub (hub process RSS growth) vs raw str0m per end (raw pair / 2); {ice}", int(n as f64)),
        Goal::AtMost(1.1),
        &ratio,
    )
    .overlay(cell(s.get(KIB), kib))
    .floor(cell(&per_end, kib))
    .ratio(&ratio)
    .notes("str0m's per-connection state (DTLS, SRTP receive buffers built even when no media flows: upstream), the node's engine and routes (benches/HUB.md)")];

    let mut fits = Row::new(
        format!(
            "hub: {} connections on one node, one UDP socket",
            int(GOAL_CONNECTIONS as f64)
        ),
        Goal::Holds,
        s.get(ALL),
    )
    .goal_text("fits")
    .overlay(format!(
        "{} of {} open after idle ({ice})",
        cell(s.get(OPENED), int),
        int(n as f64)
    ));
    if n < GOAL_CONNECTIONS {
        fits.met = Verdict::NotMeasured(format!(
            "ran {}; run with --hub {GOAL_CONNECTIONS} (--lite for the ICE-lite acceptor)",
            int(n as f64)
        ));
    }
    rows.push(fits);

    let cpu = Summary::median_of(s.get(CPU));
    let client = Summary::median_of(s.get(CLIENT_CPU));
    let one_core = match (cpu, client) {
        (Some(h), Some(c)) if h.max(c) > 0.0 => format!(
            "; one idle core per process would open ~{}/s at the larger of the two",
            int(1e3 / h.max(c))
        ),
        _ => String::new(),
    };
    rows.push(
        Row::new(
            format!(
                "hub setup rate at {} connections, {window} handshakes in flight",
                int(n as f64)
            ),
            Goal::AtLeast(2000.0),
            s.get(RATE),
        )
        .goal_text("≥ 2,000/s")
        .overlay(cell(s.get(RATE), |v| format!("{}/s", int(v))))
        .notes(format!(
            "CPU per connection opened: hub {}, client process {} (both processes on the same 2 shared cores){one_core}",
            cell(s.get(CPU), ms),
            cell(s.get(CLIENT_CPU), ms)
        )),
    );
    rows
}

/// The hub's idle row.
pub fn idle_rows(n: usize, s: &Samples) -> Vec<Row> {
    let per_s = |v: f64| format!("{v:.2}");
    let total: Vec<f64> = s.get(DGRAMS).iter().map(|d| d * n as f64).collect();
    vec![Row::new(
        format!(
            "hub idle CPU with {} open idle connections, % of one core (5 s)",
            int(n as f64)
        ),
        Goal::AtMost(1.0),
        s.get(IDLE_CPU),
    )
    .goal_text("near 0 (read here as ≤ 1 % of a core)")
    .overlay(cell(s.get(IDLE_CPU), |v| format!("{v:.2} %")))
    .notes(format!(
        "keep-alive traffic: {} datagrams and {} timer wake-ups per connection per s, {} datagrams/s at the hub; it buys crash detection within 4 s (`RtcConfig::keepalive_interval` 1 s, `silence_timeout` 4 s; benches/HUB.md)",
        cell(s.get(DGRAMS), per_s),
        cell(s.get(WAKES), per_s),
        cell(&total, int)
    ))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_count_comes_from_the_hubs_error() {
        assert_eq!(opened_in_error("6490 of 10000 open after 600s"), Some(6490));
        assert_eq!(opened_in_error(" 0 of 5 open after 1.5s "), Some(0));
        assert_eq!(opened_in_error("the hub node stopped"), None);
        assert_eq!(opened_in_error("12 of 20 refused"), None);
    }
}
