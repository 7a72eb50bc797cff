//! Issue 14's ratio table from one run of one command: every goal
//! measured next to its floor in the same rounds, the verdict computed
//! from the samples.
//!
//! `cargo run --release -p n2n-benches --bin floor` ([`options::USAGE`]).
//! Each section runs once per round; a round's ratio compares the overlay
//! and its floor measured back to back in that round; the table shows
//! the median and range over the rounds. The binary must call
//! [`crate::scale::child_main_if_requested`] first thing in `main` (the
//! memory and hub measurements re-execute it).
//!
//! - [`speed`]: RTT and throughput against the tuned raw str0m loop;
//! - [`memory`]: memory per idle pair, overlay and raw;
//! - [`hub`]: the hub's memory, fit and setup rate, and its idle cost;
//! - [`crash`]: crash detection on both backends;
//! - [`interop`]: setup with other stacks (`interop_setup`, a child);
//! - [`sim`]: the simulator (`sim_bench`, a child);
//! - [`samples`], [`summary`], [`goal`], [`table`]: the samples, their
//!   median and range, the verdict, the markdown;
//! - [`machine`]: load average, commit, the other crates' examples.

pub mod crash;
pub mod goal;
pub mod hub;
pub mod interop;
pub mod machine;
pub mod memory;
pub mod options;
pub mod samples;
pub mod sim;
pub mod speed;
pub mod summary;
pub mod table;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use options::{Options, Section};
use samples::Samples;
use table::Report;

use crate::hub::HubOptions;
use crate::BenchError;

/// The time of day, UTC, `HH:MM`.
fn utc_now() -> String {
    let s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{:02}:{:02} UTC", s / 3600 % 24, s / 60 % 60)
}

/// Run every selected section `options.rounds` times and build the table.
/// Progress goes to stderr.
///
/// # Errors
/// If the runtime cannot start or an example cannot be built. A failed
/// measurement is a failed cell and a line under the table.
pub fn run(options: &Options, command: &str) -> Result<Report, BenchError> {
    let started = Instant::now();
    let load_start = machine::load_average();
    let at = utc_now();
    let commit = machine::commit();
    let interop_exe = if options.has(Section::Interop) {
        Some(machine::example(
            "transport-webrtcrs",
            "interop_setup",
            options.build,
        )?)
    } else {
        None
    };
    let sim_exe = if options.has(Section::Sim) {
        Some(machine::example(
            "overlay-core",
            "sim_bench",
            options.build,
        )?)
    } else {
        None
    };
    let rt = crate::scale::runtime()?;
    let hub_options = HubOptions {
        window: options.window,
        lite: options.lite,
        ..HubOptions::default()
    };
    let stacks: Vec<&str> = options.stacks.iter().map(String::as_str).collect();
    let mut s = Samples::default();
    for round in 1..=options.rounds {
        eprintln!("floor: round {round} of {}", options.rounds);
        let (rtt, tput) = (options.has(Section::Rtt), options.has(Section::Tput));
        if rtt || tput {
            eprintln!("floor: round {round}, RTT and throughput against raw str0m ...");
            speed::measure(&rt, options.speed, rtt, tput, round, &mut s);
        }
        if options.has(Section::Mem) {
            memory::measure(options.mem_pairs, round, &mut s);
        }
        if options.has(Section::Hub) || options.has(Section::Idle) {
            hub::measure(options.hub, &hub_options, options.mem_pairs, round, &mut s);
        }
        if options.has(Section::Crash) {
            crash::measure(&rt, round, &mut s);
        }
        if let Some(exe) = &interop_exe {
            interop::measure(exe, options.interop_n, &stacks, round, &mut s);
        }
        if let Some(exe) = &sim_exe {
            sim::measure(exe, &options.sim, round, &mut s);
        }
    }
    let mut report = Report::default();
    report.head.push(format!("`{command}`"));
    report.head.push(String::new());
    report.head.push(format!(
        "Commit {}, started {at}, load average at the start {load_start} (1, 5, 15 min; 2 cores shared with other work: figures are noisy, read the same-round ratios). {} round(s); each cell: median (range) over the rounds.",
        commit,
        options.rounds
    ));
    for section in &options.sections {
        let rows = match section {
            Section::Rtt => speed::rtt_rows(options.speed, &s),
            Section::Tput => speed::tput_rows(options.speed, &s),
            Section::Mem => memory::rows(options.mem_pairs, &s),
            Section::Hub => hub::rows(options.hub, options.lite, options.window, &s),
            Section::Idle => hub::idle_rows(options.hub, &s),
            Section::Crash => crash::rows(&s),
            Section::Interop => interop::rows(options.interop_n, &stacks, &s),
            Section::Sim => sim::rows(&options.sim, &s),
        };
        report.rows.extend(rows);
    }
    report.foot.push(format!(
        "Load average at the end {}; the run took {:.1} min.",
        machine::load_average(),
        started.elapsed().as_secs_f64() / 60.0
    ));
    for e in &s.errors {
        report.foot.push(format!("- failed: {e}"));
    }
    Ok(report)
}
