//! Memory per idle connection: `pairs` pairs opened at once in a fresh
//! process (overlay on str0m, overlay on webrtc-rs, raw str0m, raw
//! webrtc-rs; [`crate::scale::measure_in_child`]), and the same count of
//! running but unconnected overlay node pairs, so what a connection adds
//! beyond its two nodes can be told apart.

use std::time::Duration;

use super::goal::Goal;
use super::samples::Samples;
use super::table::{cell, Row};
use crate::scale::{measure_in_child, unconnected_in_child, Subject};
use crate::Backend;

/// Raw str0m's KiB per open idle pair (the hub's floor too).
pub const RAW_STR0M: &str = "mem.raw-str0m";

fn key(subject: Subject) -> String {
    format!("mem.{}", subject.name())
}

fn nodes_key(b: Backend) -> String {
    format!("mem.{}.nodes", b.name())
}

/// Raw str0m's pair memory, in a fresh process (pushed as [`RAW_STR0M`]).
pub fn measure_raw_str0m(pairs: usize, round: usize, s: &mut Samples) {
    one(Subject::RawStr0m, pairs, round, s);
}

fn one(subject: Subject, pairs: usize, round: usize, s: &mut Samples) {
    eprintln!(
        "floor: round {round}, memory of {pairs} {} pairs ...",
        subject.name()
    );
    match measure_in_child(subject, pairs, Duration::from_secs(120)) {
        Ok(r) => s.push(&key(subject), r.kib_per_pair),
        Err(e) => s.fail(&[&key(subject)], round, subject.name(), &e.to_string()),
    }
}

/// One round: every subject's pairs, and each overlay backend's
/// unconnected nodes.
pub fn measure(pairs: usize, round: usize, s: &mut Samples) {
    for subject in [
        Subject::Overlay(Backend::Str0m),
        Subject::RawStr0m,
        Subject::Overlay(Backend::WebRtcRs),
        Subject::RawWebRtcRs,
    ] {
        one(subject, pairs, round, s);
        if let Subject::Overlay(b) = subject {
            match unconnected_in_child(b, pairs) {
                Ok(k) => s.push(&nodes_key(b), k),
                Err(e) => s.fail(
                    &[&nodes_key(b)],
                    round,
                    &format!("unconnected {} nodes", b.name()),
                    &e.to_string(),
                ),
            }
        }
    }
}

/// Per round: the overlay pair minus its two unconnected nodes.
fn beyond(s: &Samples, b: Backend) -> Vec<f64> {
    s.get(&key(Subject::Overlay(b)))
        .iter()
        .zip(s.get(&nodes_key(b)))
        .map(|(p, n)| p - n)
        .collect()
}

/// The webrtc-rs row (a goal) and the str0m pair row (information: the
/// str0m goal is the hub's row, a pair being two whole nodes).
pub fn rows(pairs: usize, s: &Samples) -> Vec<Row> {
    let kib = |v: f64| format!("{v:.0} KiB");
    let mut rows = Vec::new();
    for (b, raw, goal) in [
        (Backend::WebRtcRs, Subject::RawWebRtcRs, Goal::AtMost(1.1)),
        (Backend::Str0m, Subject::RawStr0m, Goal::Info),
    ] {
        let o = key(Subject::Overlay(b));
        let r = key(raw);
        let ratio = s.ratio(&o, &r);
        let extra: Vec<f64> = beyond(s, b);
        let extra_ratio: Vec<f64> = extra.iter().zip(s.get(&r)).map(|(e, r)| e / r).collect();
        let note = format!(
            "two unconnected nodes: {} per pair; beyond them a connection adds {} = {} x raw",
            cell(s.get(&nodes_key(b)), kib),
            cell(&extra, kib),
            cell(&extra_ratio, |v| format!("{v:.2}"))
        );
        let note = if b == Backend::Str0m {
            format!("{note}; the str0m goal is the hub's row (a pair here is two whole nodes)")
        } else {
            note
        };
        rows.push(
            Row::new(
                format!(
                    "memory per idle connection, {}: overlay pair (two nodes, one connection) vs raw {} pair; {pairs} pairs open at once in a fresh process, RSS growth",
                    b.name(),
                    b.name()
                ),
                goal,
                &ratio,
            )
            .overlay(cell(s.get(&o), kib))
            .floor(cell(s.get(&r), kib))
            .ratio(&ratio)
            .notes(note),
        );
    }
    rows
}
