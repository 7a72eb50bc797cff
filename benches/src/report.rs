//! The comparison: every backend, overlay and raw, measured in one run;
//! medians and the ratios of issue 6's goals, as markdown tables.
//!
//! ```no_run
//! n2n_benches::scale::child_main_if_requested(); // first thing in main
//! let table = n2n_benches::report::run(true).expect("bench failed");
//! println!("{table}");
//! ```

use std::fmt;
use std::time::Duration;

use crate::scale::{measure_in_child, runtime, unconnected_in_child, ScaleResult, Subject};
use crate::{median, raw_str0m, raw_webrtcrs, rtt, throughput, Backend, BenchError};

/// Which measurements a run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything: setup, throughput, round trips, memory, the hub.
    All,
    /// Throughput and round trips of the overlay on str0m and of raw str0m
    /// only (the issue 14 speed rows; about a minute).
    Speed,
}

/// libwebrtc M106's setup median on this machine (8.2-9.0 ms, `shared/design/backends.md`).
pub const LIBWEBRTC_SETUP: Duration = Duration::from_micros(8_600);

/// One markdown table with a title.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Heading above the table.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
}

/// The comparison: several markdown tables. `Display` prints them.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The tables, in order.
    pub sections: Vec<Section>,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.sections {
            writeln!(f, "**{}**\n", s.title)?;
            writeln!(f, "| {} |", s.header.join(" | "))?;
            writeln!(f, "|{}", "---|".repeat(s.header.len()))?;
            for r in &s.rows {
                writeln!(f, "| {} |", r.join(" | "))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn section(title: &str, header: &[&str]) -> Section {
    Section {
        title: title.to_owned(),
        header: header.iter().map(|&h| h.to_owned()).collect(),
        rows: Vec::new(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// How many runs of each measurement.
#[derive(Debug, Clone, Copy)]
struct Plan {
    setups: usize,
    throughput_runs: usize,
    count_1k: u32,
    count_16k: u32,
    rtts: usize,
    memory_pairs: usize,
    hub: usize,
}

const FULL: Plan = Plan {
    setups: 20,
    throughput_runs: 3,
    count_1k: 20_000,
    count_16k: 2_000,
    rtts: 200,
    memory_pairs: 100,
    hub: 10_000,
};
const QUICK: Plan = Plan {
    setups: 5,
    throughput_runs: 1,
    count_1k: 2_000,
    count_16k: 200,
    rtts: 20,
    memory_pairs: 20,
    hub: 200,
};

/// Medians of one subject.
#[derive(Debug, Clone, Default)]
struct Figures {
    setup: Option<Duration>,
    bridged: Option<Duration>,
    /// (1 KiB, 16 KiB) time for the transfer.
    tput: [Option<Duration>; 2],
    rtt: Option<Duration>,
    /// Overlay only: (1 KiB, 16 KiB) transfer times with each node and its
    /// application on a thread of its own ([`crate::backend::ThreadedPair`]).
    threaded_tput: [Option<Duration>; 2],
    /// Overlay only: median RTT with each node on a thread of its own.
    threaded_rtt: Option<Duration>,
    /// Raw str0m only: RTT with both peers on one busy-polling thread.
    rtt_one_thread: Option<Duration>,
    memory: Option<Result<ScaleResult, String>>,
    /// Overlay only: KiB per pair of running, unconnected nodes.
    unconnected: Option<f64>,
}

fn repeat<F: FnMut() -> Result<Duration, BenchError>>(
    runs: usize,
    mut f: F,
) -> Result<Duration, BenchError> {
    f()?; // warm-up, not counted
    let mut v = (0..runs).map(|_| f()).collect::<Result<Vec<_>, _>>()?;
    Ok(median(&mut v))
}

fn measure_subject(
    s: Subject,
    plan: Plan,
    scope: Scope,
    rt: &tokio::runtime::Runtime,
) -> Result<Figures, BenchError> {
    let mut fig = Figures::default();
    let counts = [(1024usize, plan.count_1k), (16 * 1024, plan.count_16k)];
    let all = scope == Scope::All;
    match s {
        Subject::Overlay(b) => {
            if all {
                fig.setup = Some(repeat(plan.setups, || rt.block_on(b.setup_direct()))?);
                fig.bridged = Some(repeat(plan.setups, || rt.block_on(b.setup_bridged()))?);
            }
            // Nodes and application tasks on the shared 2-worker runtime.
            let mut p = rt.block_on(b.pair())?;
            for (i, (size, count)) in counts.into_iter().enumerate() {
                fig.tput[i] = Some(repeat(plan.throughput_runs, || {
                    rt.block_on(throughput(&mut p, size, count))
                })?);
            }
            fig.rtt = Some(repeat(plan.rtts, || rt.block_on(rtt(&mut p)))?);
            rt.block_on(p.shutdown());
            // Each node with its application on a thread of its own.
            let mut p = rt.block_on(b.threaded_pair())?;
            for (i, (size, count)) in counts.into_iter().enumerate() {
                fig.threaded_tput[i] = Some(repeat(plan.throughput_runs, || {
                    rt.block_on(p.throughput(size, count))
                })?);
            }
            rt.block_on(p.rtt_samples(plan.rtts / 10 + 1))?; // warm-up
            fig.threaded_rtt = Some(median(&mut rt.block_on(p.rtt_samples(plan.rtts))?));
            rt.block_on(p.shutdown());
        }
        Subject::RawStr0m => {
            if all {
                fig.setup = Some(repeat(plan.setups, raw_str0m::setup)?);
            }
            let mut p = raw_str0m::RawPair::open()?;
            for (i, (size, count)) in counts.into_iter().enumerate() {
                fig.tput[i] = Some(repeat(plan.throughput_runs, || {
                    raw_str0m::throughput(&mut p, size, count)
                })?);
            }
            raw_str0m::rtt_samples(&mut p, plan.rtts / 10 + 1)?; // warm-up
            fig.rtt = Some(median(&mut raw_str0m::rtt_samples(&mut p, plan.rtts)?));
            fig.rtt_one_thread = Some(repeat(plan.rtts, || raw_str0m::rtt_one_thread(&mut p))?);
        }
        Subject::RawWebRtcRs => {
            fig.setup = Some(repeat(plan.setups, || rt.block_on(raw_webrtcrs::setup()))?);
            let mut p = rt.block_on(raw_webrtcrs::RawPair::open())?;
            for (i, (size, count)) in counts.into_iter().enumerate() {
                fig.tput[i] = Some(repeat(plan.throughput_runs, || {
                    rt.block_on(raw_webrtcrs::throughput(&mut p, size, count))
                })?);
            }
            fig.rtt = Some(repeat(plan.rtts, || {
                rt.block_on(raw_webrtcrs::rtt(&mut p))
            })?);
            rt.block_on(p.close());
        }
    }
    Ok(fig)
}

fn ratio(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    Some(a?.as_secs_f64() / b?.as_secs_f64())
}

fn mbps(t: Option<Duration>, size: usize, count: u32) -> Option<f64> {
    Some(size as f64 * f64::from(count) / 1e6 / t?.as_secs_f64())
}

/// Measure everything (overlay on memory, str0m, webrtc-rs; raw str0m and
/// raw webrtc-rs) and build the tables. `quick`: 5 setups instead of 20,
/// smaller transfers, 20 pairs for memory instead of 100. Progress goes to
/// stderr. The memory figures run in child processes: the calling binary
/// must call [`crate::scale::child_main_if_requested`] first in `main`.
///
/// # Errors
/// If the runtime cannot start. A failed measurement is shown in its cell.
pub fn run(quick: bool) -> Result<Table, BenchError> {
    run_scope(quick, Scope::All)
}

/// [`run`] limited to `scope`.
///
/// # Errors
/// As [`run`].
pub fn run_scope(quick: bool, scope: Scope) -> Result<Table, BenchError> {
    let plan = if quick { QUICK } else { FULL };
    let rt = runtime()?;
    let mut figs = Vec::new();
    let subjects = match scope {
        Scope::All => Subject::ALL.to_vec(),
        Scope::Speed => vec![Subject::Overlay(Backend::Str0m), Subject::RawStr0m],
    };
    for s in subjects {
        eprintln!("measuring {} ...", s.name());
        let mut fig = match measure_subject(s, plan, scope, &rt) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("  {}: {e}", s.name());
                Figures::default()
            }
        };
        if scope == Scope::Speed {
            figs.push((s, fig));
            continue;
        }
        fig.memory = Some(
            measure_in_child(s, plan.memory_pairs, Duration::from_secs(120))
                .map_err(|e| e.to_string()),
        );
        if let Subject::Overlay(b) = s {
            fig.unconnected = unconnected_in_child(b, plan.memory_pairs).ok();
        }
        figs.push((s, fig));
    }
    let get = |s: Subject| {
        figs.iter()
            .find(|(x, _)| *x == s)
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    };
    let cell = |d: Option<Duration>| d.map_or_else(|| "failed".to_owned(), ms);

    let mut t = Table::default();
    let (s0, sr) = (
        get(Subject::Overlay(Backend::Str0m)),
        get(Subject::RawStr0m),
    );
    if scope == Scope::Speed {
        t.sections.push(throughput_section(&figs, plan));
        let mut g = section(ISSUE_14, ISSUE_14_HEADER);
        speed_rows(&mut g, &s0, &sr, plan);
        t.sections.push(g);
        return Ok(t);
    }
    let mut setup = section(
        &format!("Setup, median of {} (direct: until the channel/arc is open on both sides; bridged: B bridges A to C)", plan.setups),
        &["subject", "direct", "bridged"],
    );
    for (s, f) in &figs {
        let bridged = if matches!(s, Subject::Overlay(_)) {
            cell(f.bridged)
        } else {
            "-".to_owned()
        };
        setup
            .rows
            .push(vec![s.name().to_owned(), cell(f.setup), bridged]);
    }
    t.sections.push(setup);

    t.sections.push(throughput_section(&figs, plan));

    let mut mem = section(
        &format!(
            "Idle connections: {} pairs opened at once in a fresh process",
            plan.memory_pairs
        ),
        &[
            "subject",
            "KiB per open pair (RSS growth)",
            "of which two unconnected nodes",
            "all open after",
            "setup rate",
        ],
    );
    for (s, f) in &figs {
        match &f.memory {
            Some(Ok(r)) => mem.rows.push(vec![
                s.name().to_owned(),
                format!("{:.0}", r.kib_per_pair),
                f.unconnected
                    .map_or_else(|| "-".to_owned(), |k| format!("{k:.0}")),
                ms(r.setup),
                format!("{:.0} conn/s", r.rate()),
            ]),
            Some(Err(e)) => mem.rows.push(vec![
                s.name().to_owned(),
                format!("failed: {e}"),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
            None => {}
        }
    }
    t.sections.push(mem);

    let mut r = section(
        "Ratios (same run) against the goals of issue 6",
        &["ratio", "value", "goal", "met"],
    );
    let mut add = |name: String, v: Option<f64>, goal: &str, ok: fn(f64) -> bool| {
        let (val, met) = match v {
            Some(v) => (format!("{v:.2}"), if ok(v) { "yes" } else { "**no**" }),
            None => ("-".to_owned(), "-"),
        };
        r.rows
            .push(vec![name, val, goal.to_owned(), met.to_owned()]);
    };
    let w0 = get(Subject::Overlay(Backend::WebRtcRs));
    let wr = get(Subject::RawWebRtcRs);
    add(
        "setup: overlay str0m / raw str0m".into(),
        ratio(s0.setup, sr.setup),
        "≤ 1.10",
        |v| v <= 1.10,
    );
    add(
        "setup: overlay webrtc-rs / raw webrtc-rs (library defaults)".into(),
        ratio(w0.setup, wr.setup),
        "≤ 1.10",
        |v| v <= 1.10,
    );
    for b in Backend::ALL {
        let f = get(Subject::Overlay(b));
        add(
            format!("setup: bridged / direct, {}", b.name()),
            ratio(f.bridged, f.setup),
            "≤ 1.3",
            |v| v <= 1.3,
        );
    }
    for (i, label) in ["1 KiB", "16 KiB"].into_iter().enumerate() {
        // Throughput ratio = raw time / overlay time (same bytes).
        add(
            format!("throughput {label}: overlay str0m / raw str0m"),
            ratio(sr.tput[i], s0.tput[i]),
            "≥ 0.9",
            |v| v >= 0.9,
        );
        add(
            format!("throughput {label}: overlay webrtc-rs / raw webrtc-rs"),
            ratio(wr.tput[i], w0.tput[i]),
            "≥ 0.9",
            |v| v >= 0.9,
        );
    }
    add(
        "setup: overlay webrtc-rs / libwebrtc (8.6 ms reference)".into(),
        ratio(w0.setup, Some(LIBWEBRTC_SETUP)),
        "≤ 2",
        |v| v <= 2.0,
    );
    add(
        "setup: raw webrtc-rs / libwebrtc (8.6 ms reference)".into(),
        ratio(wr.setup, Some(LIBWEBRTC_SETUP)),
        "(info)",
        |_| true,
    );
    add(
        "setup: overlay str0m / libwebrtc (8.6 ms reference)".into(),
        ratio(s0.setup, Some(LIBWEBRTC_SETUP)),
        "(info)",
        |_| true,
    );
    let kib = |f: &Figures| {
        f.memory
            .as_ref()
            .and_then(|m| m.as_ref().ok())
            .map(|r| r.kib_per_pair)
    };
    let mem_ratio = |a: &Figures, b: &Figures| Some(kib(a)? / kib(b)?);
    add(
        "memory per idle pair: overlay str0m / raw str0m".into(),
        mem_ratio(&s0, &sr),
        "≤ 1.1",
        |v| v <= 1.1,
    );
    add(
        "memory per idle pair: overlay webrtc-rs / raw webrtc-rs".into(),
        mem_ratio(&w0, &wr),
        "≤ 1.1",
        |v| v <= 1.1,
    );
    add(
        "RTT: overlay str0m / raw str0m".into(),
        ratio(s0.rtt, sr.rtt),
        "(info)",
        |_| true,
    );
    add(
        "RTT: overlay webrtc-rs / raw webrtc-rs".into(),
        ratio(w0.rtt, wr.rtt),
        "(info)",
        |_| true,
    );
    t.sections.push(r);

    eprintln!("measuring a hub of {} connections ...", plan.hub);
    let hub = crate::hub::hub_in_child(plan.hub, 128);
    let mut h = section(
        &format!("Hub: one str0m node, one UDP socket, {} connections (clients in a second process, 128 handshakes in flight)", plan.hub),
        &["connections", "all open after", "setup rate", "KiB per connection (hub process)", "hub CPU per connection opened", "hub idle CPU (% of a core)"],
    );
    match &hub {
        Ok(x) => h.rows.push(vec![
            x.conns.to_string(),
            ms(x.setup),
            format!("{:.0} conn/s", x.rate()),
            format!("{:.1}", x.kib_per_conn),
            format!("{:.2} ms", x.setup_cpu_per_conn.as_secs_f64() * 1e3),
            format!("{:.2} %", x.idle_cpu_percent),
        ]),
        Err(e) => h.rows.push(vec![
            plan.hub.to_string(),
            format!("failed: {e}"),
            "-".into(),
            "-".into(),
            "-".into(),
        ]),
    }
    t.sections.push(h);

    let mut g = section(ISSUE_14, ISSUE_14_HEADER);
    speed_rows(&mut g, &s0, &sr, plan);
    let mut row =
        |name: &str, goal: &str, ours: String, floor: String, v: Option<f64>, ok: bool| {
            add_row(&mut g, name, goal, ours, floor, v, ok);
        };
    let beyond = |f: &Figures| Some(kib(f)? - f.unconnected?);
    let kb = |k: Option<f64>| k.map_or_else(|| "-".to_owned(), |k| format!("{k:.0} KiB"));
    for (name, o, r) in [("str0m", &s0, &sr), ("webrtc-rs", &w0, &wr)] {
        let v = (|| Some(beyond(o)? / kib(r)?))();
        row(&format!("memory per idle connection, {name}: overlay (pair minus two unconnected nodes) / raw pair"), "≤ 1.1", kb(beyond(o)), kb(kib(r)), v, v.is_some_and(|v| v <= 1.1));
    }
    if let Ok(x) = &hub {
        let per_end = kib(&sr).map(|k| k / 2.0);
        let v = per_end.map(|p| x.kib_per_conn / p);
        row(
            "memory per connection at the hub / raw str0m per end (pair / 2)",
            "≤ 1.1",
            kb(Some(x.kib_per_conn)),
            kb(per_end),
            v,
            v.is_some_and(|v| v <= 1.1),
        );
        row(
            "hub setup rate (conn/s)",
            "≥ 2000",
            format!("{:.0}", x.rate()),
            "-".into(),
            Some(x.rate()),
            x.rate() >= 2000.0,
        );
        row(
            "hub idle CPU (% of one core)",
            "near 0",
            format!("{:.2} %", x.idle_cpu_percent),
            "-".into(),
            Some(x.idle_cpu_percent),
            x.idle_cpu_percent < 2.0,
        );
    }
    t.sections.push(g);
    Ok(t)
}

const ISSUE_14: &str = "Issue 14 ratio table (same run)";
const ISSUE_14_HEADER: &[&str] = &["figure", "goal", "overlay", "floor", "ratio", "met"];

fn add_row(
    g: &mut Section,
    name: &str,
    goal: &str,
    ours: String,
    floor: String,
    v: Option<f64>,
    ok: bool,
) {
    let (val, met) = match v {
        Some(v) => (format!("{v:.2}"), if ok { "yes" } else { "**no**" }),
        None => ("-".to_owned(), "-"),
    };
    g.rows.push(vec![
        name.to_owned(),
        goal.to_owned(),
        ours,
        floor,
        val,
        met.to_owned(),
    ]);
}

fn us(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.0} µs", d.as_secs_f64() * 1e6),
    )
}

/// The round-trip and throughput rows of the issue 14 table: the overlay
/// with each node and its application on a thread of its own (the raw
/// pair's threads: one loop thread per peer) against raw str0m; then, for
/// information, the overlay on the shared 2-worker runtime.
fn speed_rows(g: &mut Section, s0: &Figures, sr: &Figures, plan: Plan) {
    let v = ratio(s0.threaded_rtt, sr.rtt);
    add_row(
        g,
        "RTT 32 B, str0m: overlay (a thread per peer) / raw (a loop thread per peer)",
        "≤ 1.3",
        us(s0.threaded_rtt),
        us(sr.rtt),
        v,
        v.is_some_and(|v| v <= 1.3),
    );
    let v = ratio(s0.rtt, sr.rtt);
    add_row(
        g,
        "RTT 32 B, str0m: overlay (both nodes and the app on a 2-worker runtime) / raw (a loop thread per peer)",
        "(info)",
        us(s0.rtt),
        us(sr.rtt),
        v,
        true,
    );
    let v = ratio(s0.threaded_rtt, sr.rtt_one_thread);
    add_row(
        g,
        "RTT 32 B, str0m: overlay (a thread per peer) / raw (both peers on one busy thread)",
        "(info)",
        us(s0.threaded_rtt),
        us(sr.rtt_one_thread),
        v,
        true,
    );
    for (i, (label, size, count)) in [
        ("1 KiB", 1024usize, plan.count_1k),
        ("16 KiB", 16 * 1024, plan.count_16k),
    ]
    .into_iter()
    .enumerate()
    {
        let mb = |d: Option<Duration>| {
            mbps(d, size, count).map_or_else(|| "-".to_owned(), |m| format!("{m:.1} MB/s"))
        };
        let v = ratio(sr.tput[i], s0.threaded_tput[i]);
        add_row(
            g,
            &format!("one-way {label}, str0m: overlay (a thread per peer) / tuned raw (a loop thread per peer)"),
            "≥ 0.9",
            mb(s0.threaded_tput[i]),
            mb(sr.tput[i]),
            v,
            v.is_some_and(|v| v >= 0.9),
        );
        let v = ratio(sr.tput[i], s0.tput[i]);
        add_row(
            g,
            &format!("one-way {label}, str0m: overlay (2-worker runtime) / tuned raw"),
            "(info)",
            mb(s0.tput[i]),
            mb(sr.tput[i]),
            v,
            true,
        );
    }
}

/// One row per subject (and per overlay subject, a second row with each
/// node on a thread of its own).
fn throughput_section(figs: &[(Subject, Figures)], plan: Plan) -> Section {
    let row_of = |name: String, tput: [Option<Duration>; 2], rtt: Option<Duration>| {
        let mut row = vec![name];
        for (i, (size, count)) in [(1024usize, plan.count_1k), (16 * 1024, plan.count_16k)]
            .into_iter()
            .enumerate()
        {
            match tput[i] {
                Some(d) => {
                    row.push(format!("{:.1}", mbps(Some(d), size, count).unwrap_or(0.0)));
                    row.push(format!("{:.0}", f64::from(count) / d.as_secs_f64()));
                }
                None => row.extend(["failed".to_owned(), "failed".to_owned()]),
            }
        }
        row.push(rtt.map_or_else(
            || "failed".to_owned(),
            |d| format!("{:.0} µs", d.as_secs_f64() * 1e6),
        ));
        row
    };
    let mut tp = section(
        &format!(
            "One-way throughput, all received, order checked (median of {}): {} x 1 KiB, {} x 16 KiB; overlay rows: both nodes and the app on one 2-worker runtime, or each node with its app on a thread of its own; raw str0m: a loop thread per peer",
            plan.throughput_runs, plan.count_1k, plan.count_16k
        ),
        &["subject", "1 KiB MB/s", "1 KiB msg/s", "16 KiB MB/s", "16 KiB msg/s", "RTT 32 B (median)"],
    );
    for (s, f) in figs {
        if let Subject::Overlay(_) = s {
            tp.rows.push(row_of(
                format!("{} (2-worker runtime)", s.name()),
                f.tput,
                f.rtt,
            ));
            tp.rows.push(row_of(
                format!("{} (a thread per peer)", s.name()),
                f.threaded_tput,
                f.threaded_rtt,
            ));
        } else {
            tp.rows.push(row_of(s.name().to_owned(), f.tput, f.rtt));
        }
    }
    tp
}
