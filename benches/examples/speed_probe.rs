//! One speed measurement at a time, for profiling (`perf record`):
//! `cargo run --release -p n2n-benches --example speed_probe -- WHAT [N]`
//! where WHAT is `rtt`, `tput1k`, `tput16k` (the overlay on str0m, each
//! node on a thread of its own, the applications using `feed`; with an
//! `-await` suffix: `send(..).await` per message), `mt-rtt`, `mt-tput1k`
//! (both nodes on a 2-worker runtime), or `raw-rtt`, `raw-tput1k`,
//! `raw-tput16k` (raw str0m).
//!
//! Round trips after a bulk transfer (what `compare --speed` measures):
//! `speed_probe after-bulk [N] [ROUNDS] [SCALE]` opens two overlay pairs
//! (a thread per peer), runs on one of them the transfers of `compare`'s
//! throughput rows (a warm-up and 3 runs each of 20,000 × 1 KiB and
//! 2,000 × 16 KiB, divided by SCALE), then measures `N` round trips
//! (after a warm-up of N/10 + 1, as `compare`) on each pair, ROUNDS
//! times, alternating which pair goes first. Every node's transport is
//! wrapped in a recorder: per round trip it prints the datagrams read and
//! written, the str0m timeouts fed, the transport polls, and the time of
//! each stage (ping handed to a's transport → frame out of b's transport →
//! echo handed to b's transport → frame out of a's transport → next ping).
//! `raw-after-bulk [N] [ROUNDS] [SCALE]`: the same with two raw str0m pairs
//! (no per-stage figures).
//! `ratio-after-bulk [N] [ROUNDS] [SCALE]`: the issue-14 RTT ratio as
//! `compare` defines it (overlay, a thread per peer, after its transfers,
//! against raw str0m after its transfers), but with the two measured in
//! alternating blocks of N round trips, so that both see the same load:
//! the ratio of each block pair, and their median.
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use n2n_benches::backend::ThreadedPair;
use n2n_benches::hub::cpu_time;
use n2n_benches::{
    median, raw_str0m, rtt, scale::runtime, throughput, Backend, BenchError, SendMode,
};
use overlay_core::{ConnId, Transport, TransportCommand, TransportEvent};
use rtc_common::RtcConfig;
use transport_str0m::{Stats, Str0mTransport};

/// The ping's size in `ThreadedPair::rtt_samples`.
const PING: usize = 32;

fn main() -> Result<(), BenchError> {
    let arg = |i: usize| {
        std::env::args()
            .nth(i)
            .and_then(|n| n.parse::<usize>().ok())
    };
    let what = std::env::args().nth(1).unwrap_or_else(|| "rtt".to_owned());
    let n = arg(2).unwrap_or(2000);
    let count = u32::try_from(n).unwrap_or(u32::MAX);
    let rt = runtime()?;
    let took = match what.as_str() {
        "after-bulk" => {
            return after_bulk(
                &rt,
                arg(2).unwrap_or(200),
                arg(3).unwrap_or(4),
                scale(arg(4)),
            )
        }
        "raw-after-bulk" => {
            return raw_after_bulk(arg(2).unwrap_or(200), arg(3).unwrap_or(4), scale(arg(4)))
        }
        "ratio-after-bulk" => {
            return ratio_after_bulk(
                &rt,
                arg(2).unwrap_or(200),
                arg(3).unwrap_or(9),
                scale(arg(4)),
            )
        }
        "rtt" | "tput1k" | "tput16k" | "rtt-await" | "tput1k-await" | "tput16k-await" => {
            let mut p = rt.block_on(Backend::Str0m.threaded_pair())?;
            let mode = if what.ends_with("-await") {
                SendMode::Await
            } else {
                SendMode::Feed
            };
            let r = match what.trim_end_matches("-await") {
                "rtt" => median(&mut rt.block_on(p.rtt_samples_with(n, mode))?),
                "tput1k" => rt.block_on(p.throughput_with(1024, count * 10, mode))?,
                _ => rt.block_on(p.throughput_with(16 * 1024, count, mode))?,
            };
            rt.block_on(p.shutdown());
            r
        }
        "mt-rtt" | "mt-tput1k" => {
            let mut p = rt.block_on(Backend::Str0m.pair())?;
            let r = if what == "mt-rtt" {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(rt.block_on(rtt(&mut p))?);
                }
                median(&mut v)
            } else {
                rt.block_on(throughput(&mut p, 1024, count * 10))?
            };
            rt.block_on(p.shutdown());
            r
        }
        "raw-rtt" => {
            let mut p = raw_str0m::RawPair::open()?;
            median(&mut raw_str0m::rtt_samples(&mut p, n)?)
        }
        "raw-tput1k" => {
            let mut p = raw_str0m::RawPair::open()?;
            raw_str0m::throughput(&mut p, 1024, count * 10)?
        }
        "raw-tput16k" => {
            let mut p = raw_str0m::RawPair::open()?;
            raw_str0m::throughput(&mut p, 16 * 1024, count)?
        }
        other => return Err(format!("unknown measurement {other}").into()),
    };
    println!("{what} {n}: {took:?}");
    Ok(())
}

/// `compare`'s transfers (count of 1 KiB, count of 16 KiB), divided by `by`.
fn scale(by: Option<usize>) -> (u32, u32) {
    let by = u32::try_from(by.unwrap_or(1).max(1)).unwrap_or(1);
    (20_000 / by, 2_000 / by)
}

/// What a recorder saw of its transport.
#[derive(Default)]
struct Log {
    /// When each `Send` command of a `PING`-sized frame reached the transport.
    sends: Vec<Instant>,
    /// When each `PING`-sized frame left `poll_event`.
    frames: Vec<Instant>,
    /// Other frames (sizes), both ways: the overlay's own traffic.
    others: u64,
    polls: u64,
    flushes: u64,
    stats: Stats,
}

/// A [`Str0mTransport`] that records what goes through it.
struct Recorder {
    inner: Str0mTransport,
    log: Arc<Mutex<Log>>,
}

/// The overlay adds a header to each payload: a frame is "a ping" when its
/// size is the most common one of the round-trip phase; here, any frame of
/// at most `PING` + 128 bytes.
fn is_ping(len: usize) -> bool {
    (PING..=PING + 128).contains(&len)
}

fn lock(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Transport for Recorder {
    type Error = <Str0mTransport as Transport>::Error;

    fn handle_command(&mut self, now: Instant, cmd: TransportCommand) -> Result<(), Self::Error> {
        if let TransportCommand::Send { frame, .. } = &cmd {
            let mut log = lock(&self.log);
            if is_ping(frame.len()) {
                log.sends.push(Instant::now());
            } else {
                log.others += 1;
            }
        }
        self.inner.handle_command(now, cmd)
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        let r = self.inner.poll_event(cx);
        let mut log = lock(&self.log);
        log.polls += 1;
        if let Poll::Ready(TransportEvent::Frame { frame, .. }) = &r {
            if is_ping(frame.len()) {
                log.frames.push(Instant::now());
            } else {
                log.others += 1;
            }
        }
        log.stats = self.inner.stats();
        r
    }

    fn flush(&mut self) {
        self.inner.flush();
        let mut log = lock(&self.log);
        log.flushes += 1;
        log.stats = self.inner.stats();
    }

    fn send_window(&self) -> usize {
        Transport::send_window(&self.inner)
    }

    fn rtt(&self, conn: ConnId) -> Option<Duration> {
        Transport::rtt(&self.inner, conn)
    }

    fn connection_count(&self) -> Option<usize> {
        Transport::connection_count(&self.inner)
    }
}

/// An overlay pair (a thread per peer) whose transports record; the logs
/// of `a` (the pinger) and `b` (the echo).
async fn recorded_pair() -> Result<(ThreadedPair, [Arc<Mutex<Log>>; 2]), BenchError> {
    let logs: Arc<Mutex<Vec<Arc<Mutex<Log>>>>> = Arc::default();
    let made = logs.clone();
    let mut make = move || {
        let made = made.clone();
        async move {
            let log = Arc::<Mutex<Log>>::default();
            made.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(log.clone());
            Ok::<_, BenchError>(Recorder {
                inner: Str0mTransport::bind(&RtcConfig::loopback())?,
                log,
            })
        }
    };
    let pair = ThreadedPair::open(&mut make).await?;
    let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(PoisonError::into_inner));
    match <[Arc<Mutex<Log>>; 2]>::try_from(logs) {
        Ok(l) => Ok((pair, l)),
        Err(_) => Err("expected two transports".into()),
    }
}

/// Counters at one moment, to subtract.
#[derive(Clone, Copy, Default)]
struct Counts {
    dg_in: u64,
    dg_out: u64,
    timeouts: u64,
    polls: u64,
    flushes: u64,
    others: u64,
}

impl Counts {
    fn of(log: &Mutex<Log>) -> Self {
        let l = lock(log);
        Counts {
            dg_in: l.stats.datagrams_in,
            dg_out: l.stats.datagrams_out,
            timeouts: l.stats.timeouts,
            polls: l.polls,
            flushes: l.flushes,
            others: l.others,
        }
    }

    fn since(self, before: Counts) -> Counts {
        Counts {
            dg_in: self.dg_in - before.dg_in,
            dg_out: self.dg_out - before.dg_out,
            timeouts: self.timeouts - before.timeouts,
            polls: self.polls - before.polls,
            flushes: self.flushes - before.flushes,
            others: self.others - before.others,
        }
    }
}

fn per(n: u64, rts: usize) -> f64 {
    n as f64 / rts.max(1) as f64
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Median of a list of durations in µs.
fn med(mut v: Vec<Duration>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    us(v[v.len() / 2])
}

/// Voluntary context switches of all this process's threads so far.
fn voluntary_switches() -> u64 {
    let mut sum = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            sum += s
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    sum
}

/// `n` round trips on `p` (after its warm-up); prints one line: median RTT,
/// counts per round trip at each end, median time of each stage.
fn measured_rtts(
    rt: &tokio::runtime::Runtime,
    name: &str,
    p: &mut ThreadedPair,
    logs: &[Arc<Mutex<Log>>; 2],
    n: usize,
) -> Result<f64, BenchError> {
    for l in logs {
        let mut l = lock(l);
        l.sends.clear();
        l.frames.clear();
    }
    rt.block_on(p.rtt_samples(n / 10 + 1))?; // warm-up, as compare
    let warm: Vec<String> = {
        let la = lock(&logs[0]);
        la.sends
            .iter()
            .zip(&la.frames)
            .take(6)
            .map(|(s, f)| format!("{:.0}", us(f.saturating_duration_since(*s))))
            .collect()
    };
    for l in logs {
        let mut l = lock(l);
        l.sends.clear();
        l.frames.clear();
    }
    let switches = voluntary_switches();
    let before = [Counts::of(&logs[0]), Counts::of(&logs[1])];
    let cpu = cpu_time();
    let mut samples = rt.block_on(p.rtt_samples(n))?;
    let cpu = cpu_time().saturating_sub(cpu);
    let switches = voluntary_switches().saturating_sub(switches);
    let after = [Counts::of(&logs[0]), Counts::of(&logs[1])];
    let (a, b) = (after[0].since(before[0]), after[1].since(before[1]));
    let (la, lb) = (lock(&logs[0]), lock(&logs[1]));
    let k = la
        .sends
        .len()
        .min(la.frames.len())
        .min(lb.sends.len())
        .min(lb.frames.len());
    let (mut out, mut turn_b, mut back, mut turn_a, mut wire) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut slow = 0usize;
    for i in 0..k {
        out.push(lb.frames[i].saturating_duration_since(la.sends[i]));
        turn_b.push(lb.sends[i].saturating_duration_since(lb.frames[i]));
        back.push(la.frames[i].saturating_duration_since(lb.sends[i]));
        wire.push(la.frames[i].saturating_duration_since(la.sends[i]));
        if la.frames[i].saturating_duration_since(la.sends[i]) > Duration::from_millis(1) {
            slow += 1;
        }
        if i + 1 < k {
            turn_a.push(la.sends[i + 1].saturating_duration_since(la.frames[i]));
        }
    }
    let m = us(median(&mut samples));
    println!(
        "{name:>6}: rtt median {m:6.1} µs, cpu {:5.1} µs/rt | a→b {:5.1} b-turn {:5.1} b→a {:5.1} a-turn {:5.1} (transport rtt {:5.1}, >1ms: {slow}) | per rt a: in {:.2} out {:.2} tmo {:.2} polls {:.2} flush {:.2}; b: in {:.2} out {:.2} tmo {:.2} polls {:.2} flush {:.2}; other frames {} | matched {k}/{n}",
        us(cpu) / n.max(1) as f64,
        med(out.clone()),
        med(turn_b),
        med(back.clone()),
        med(turn_a),
        med(wire.clone()),
        per(a.dg_in, n),
        per(a.dg_out, n),
        per(a.timeouts, n),
        per(a.polls, n),
        per(a.flushes, n),
        per(b.dg_in, n),
        per(b.dg_out, n),
        per(b.timeouts, n),
        per(b.polls, n),
        per(b.flushes, n),
        a.others + b.others,
    );
    // sctp-proto acknowledges every second DATA packet at once, in a
    // datagram of its own: alternate round trips differ.
    let half = |v: &[Duration], odd: usize| med(v.iter().skip(odd).step_by(2).copied().collect());
    println!(
        "        by parity (even / odd round trips): a→b {:5.1} / {:5.1}, b→a {:5.1} / {:5.1}, transport rtt {:5.1} / {:5.1}",
        half(&out, 0),
        half(&out, 1),
        half(&back, 0),
        half(&back, 1),
        half(&wire, 0),
        half(&wire, 1),
    );
    println!(
        "        sleeps (voluntary context switches) per rt {:.2}; first warm-up round trips (transport, µs): {}",
        per(switches, n),
        warm.join(" ")
    );
    Ok(m)
}

fn after_bulk(
    rt: &tokio::runtime::Runtime,
    n: usize,
    rounds: usize,
    (c1k, c16k): (u32, u32),
) -> Result<(), BenchError> {
    let (mut fresh, fresh_logs) = rt.block_on(recorded_pair())?;
    let (mut bulk, bulk_logs) = rt.block_on(recorded_pair())?;
    // The process before any bulk transfer (allocator, caches): a round on
    // each pair first.
    println!("before the bulk transfer:");
    let before = [
        measured_rtts(rt, "bulk", &mut bulk, &bulk_logs, n)?,
        measured_rtts(rt, "fresh", &mut fresh, &fresh_logs, n)?,
    ];
    println!(
        "bulk / fresh before: {:.2}; after the bulk transfer:",
        before[0] / before[1]
    );
    let start = Instant::now();
    for (size, count) in [(1024, c1k), (16 * 1024, c16k)] {
        for _ in 0..4 {
            rt.block_on(bulk.throughput(size, count))?;
        }
    }
    println!(
        "bulk: 4 × {c1k} × 1 KiB + 4 × {c16k} × 16 KiB in {:.2} s; then {rounds} rounds of {n} round trips per pair",
        start.elapsed().as_secs_f64()
    );
    let (mut f, mut b) = (vec![], vec![]);
    for r in 0..rounds {
        if r % 2 == 0 {
            b.push(measured_rtts(rt, "bulk", &mut bulk, &bulk_logs, n)?);
            f.push(measured_rtts(rt, "fresh", &mut fresh, &fresh_logs, n)?);
        } else {
            f.push(measured_rtts(rt, "fresh", &mut fresh, &fresh_logs, n)?);
            b.push(measured_rtts(rt, "bulk", &mut bulk, &bulk_logs, n)?);
        }
    }
    let ratios: Vec<String> = b
        .iter()
        .zip(&f)
        .map(|(b, f)| format!("{:.2}", b / f))
        .collect();
    println!("bulk / fresh per round: {}", ratios.join(" "));
    rt.block_on(fresh.shutdown());
    rt.block_on(bulk.shutdown());
    Ok(())
}

fn raw_after_bulk(n: usize, rounds: usize, (c1k, c16k): (u32, u32)) -> Result<(), BenchError> {
    let mut fresh = raw_str0m::RawPair::open()?;
    let mut bulk = raw_str0m::RawPair::open()?;
    let one = |name: &str, p: &mut raw_str0m::RawPair| -> Result<f64, BenchError> {
        raw_str0m::rtt_samples(p, n / 10 + 1)?;
        let m = us(median(&mut raw_str0m::rtt_samples(p, n)?));
        println!("{name:>10}: rtt median {m:6.1} µs");
        Ok(m)
    };
    println!("before the bulk transfer:");
    let before = [one("raw bulk", &mut bulk)?, one("raw fresh", &mut fresh)?];
    println!("raw bulk / fresh before: {:.2}", before[0] / before[1]);
    let start = Instant::now();
    for (size, count) in [(1024, c1k), (16 * 1024, c16k)] {
        for _ in 0..4 {
            raw_str0m::throughput(&mut bulk, size, count)?;
        }
    }
    println!(
        "raw bulk: 4 × {c1k} × 1 KiB + 4 × {c16k} × 16 KiB in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let (mut f, mut b) = (vec![], vec![]);
    for r in 0..rounds {
        if r % 2 == 0 {
            b.push(one("raw bulk", &mut bulk)?);
            f.push(one("raw fresh", &mut fresh)?);
        } else {
            f.push(one("raw fresh", &mut fresh)?);
            b.push(one("raw bulk", &mut bulk)?);
        }
    }
    let ratios: Vec<String> = b
        .iter()
        .zip(&f)
        .map(|(b, f)| format!("{:.2}", b / f))
        .collect();
    println!("raw bulk / fresh per round: {}", ratios.join(" "));
    Ok(())
}

fn ratio_after_bulk(
    rt: &tokio::runtime::Runtime,
    n: usize,
    rounds: usize,
    (c1k, c16k): (u32, u32),
) -> Result<(), BenchError> {
    let (mut overlay, logs) = rt.block_on(recorded_pair())?;
    let mut raw = raw_str0m::RawPair::open()?;
    for (size, count) in [(1024, c1k), (16 * 1024, c16k)] {
        for _ in 0..4 {
            rt.block_on(overlay.throughput(size, count))?;
            raw_str0m::throughput(&mut raw, size, count)?;
        }
    }
    let mut raw_rtt = || -> Result<f64, BenchError> {
        raw_str0m::rtt_samples(&mut raw, n / 10 + 1)?;
        let m = us(median(&mut raw_str0m::rtt_samples(&mut raw, n)?));
        println!("   raw: rtt median {m:6.1} µs");
        Ok(m)
    };
    let mut ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let (o, w) = if r % 2 == 0 {
            let o = measured_rtts(rt, "overlay", &mut overlay, &logs, n)?;
            (o, raw_rtt()?)
        } else {
            let w = raw_rtt()?;
            (measured_rtts(rt, "overlay", &mut overlay, &logs, n)?, w)
        };
        ratios.push(o / w);
    }
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "overlay / raw per round: {}; median {:.2}",
        shown.join(" "),
        ratios[ratios.len() / 2]
    );
    rt.block_on(overlay.shutdown());
    Ok(())
}
