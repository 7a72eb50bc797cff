//! Many connections in one process: the setup rate when `n` connections
//! are opened at once, and the resident memory each open, idle pair adds.
//!
//! Memory is read from `/proc/self/status` (`VmRSS`): the growth from just
//! before the peers are made to one second after the last channel opened,
//! divided by the number of pairs. The allocator keeps what earlier work
//! freed, so every measurement runs in a fresh process: [`measure_in_child`]
//! re-executes the current binary, which must call
//! [`child_main_if_requested`] first thing in `main`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{raw_str0m, raw_webrtcrs, Backend, BenchError};

/// What is measured: the overlay on a backend, or a raw library pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The overlay on this backend.
    Overlay(Backend),
    /// A raw str0m pair ([`raw_str0m`]).
    RawStr0m,
    /// A raw webrtc-rs pair ([`raw_webrtcrs`]).
    RawWebRtcRs,
}

impl Subject {
    /// Every subject, in table order.
    pub const ALL: [Subject; 5] = [
        Subject::Overlay(Backend::Memory),
        Subject::Overlay(Backend::Str0m),
        Subject::Overlay(Backend::WebRtcRs),
        Subject::RawStr0m,
        Subject::RawWebRtcRs,
    ];

    /// The name used in bench ids and tables.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Overlay(b) => b.name(),
            Subject::RawStr0m => "raw-str0m",
            Subject::RawWebRtcRs => "raw-webrtc-rs",
        }
    }

    /// Parse [`Subject::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The outcome of one scale measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleResult {
    /// Pairs opened at once.
    pub pairs: usize,
    /// From the first join to the last channel open.
    pub setup: Duration,
    /// Resident memory per open, idle pair, KiB.
    pub kib_per_pair: f64,
}

impl ScaleResult {
    /// Connections opened per second.
    pub fn rate(&self) -> f64 {
        self.pairs as f64 / self.setup.as_secs_f64().max(1e-9)
    }
}

pub use n2n_test_support::probe::rss_kib;

/// The multi-thread runtime (2 workers) the async measurements run on.
///
/// # Errors
/// If tokio cannot start it.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Resident memory per pair of overlay nodes that are running but not
/// connected (the fixed cost of two nodes: transport, socket, engine,
/// tasks), KiB, measured in this process.
///
/// # Errors
/// If a node cannot be made.
pub fn measure_unconnected(backend: Backend, n: usize) -> Result<f64, BenchError> {
    let rt = runtime()?;
    rt.block_on(backend.setup_direct())?;
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let after = rt.block_on(async {
        let nodes = backend.idle_nodes(n).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib();
        drop(nodes);
        Ok::<_, BenchError>(after)
    })?;
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// Open `n` pairs of `subject` at once, in this process, and measure.
///
/// # Errors
/// If any pair fails to open within `limit`.
pub fn measure(subject: Subject, n: usize, limit: Duration) -> Result<ScaleResult, BenchError> {
    let rt = runtime()?;
    // Warm-up: one-time costs (crypto provider, first certificate) are not per pair.
    match subject {
        Subject::Overlay(b) => {
            rt.block_on(b.setup_direct())?;
        }
        Subject::RawStr0m => {
            raw_str0m::setup()?;
        }
        Subject::RawWebRtcRs => {
            rt.block_on(raw_webrtcrs::setup())?;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let idle = Duration::from_secs(1);
    let (setup, after) = match subject {
        Subject::Overlay(b) => rt.block_on(async {
            let (pairs, took) = b.open_pairs(n, limit).await?;
            tokio::time::sleep(idle).await;
            let after = rss_kib();
            drop(pairs);
            Ok::<_, BenchError>((took, after))
        })?,
        Subject::RawStr0m => {
            let start = Instant::now();
            let mut pairs = (0..n)
                .map(|_| raw_str0m::RawPair::start())
                .collect::<Result<Vec<_>, _>>()?;
            while !pairs.iter().all(raw_str0m::RawPair::is_open) {
                let mut any = false;
                for p in &mut pairs {
                    any |= p.step()?;
                }
                if !any {
                    std::thread::yield_now();
                }
                if start.elapsed() > limit {
                    let open = pairs.iter().filter(|p| p.is_open()).count();
                    return Err(
                        format!("{open} of {n} raw str0m pairs open after {limit:?}").into(),
                    );
                }
            }
            let took = start.elapsed();
            // Keep them serviced while idle (keepalives), as a real loop would.
            let idle_start = Instant::now();
            while idle_start.elapsed() < idle {
                for p in &mut pairs {
                    p.step()?;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (took, rss_kib())
        }
        Subject::RawWebRtcRs => rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n)
                .map(|_| tokio::spawn(raw_webrtcrs::RawPair::open_within(limit)))
                .collect();
            let mut pairs = Vec::with_capacity(n);
            for t in tasks {
                pairs.push(t.await??);
            }
            let took = start.elapsed();
            tokio::time::sleep(idle).await;
            Ok::<_, BenchError>((took, rss_kib()))
        })?,
    };
    Ok(ScaleResult {
        pairs: n,
        setup,
        kib_per_pair: after.saturating_sub(before) as f64 / n as f64,
    })
}

const CHILD_ENV: &str = "N2N_BENCH_SCALE_CHILD";
const RESULT_TAG: &str = "N2N_SCALE_RESULT";

/// If this process was started by [`measure_in_child`], run the requested
/// measurement, print its result and exit. Call it first thing in `main` of
/// any binary that calls [`measure_in_child`] or [`crate::report::run`].
pub fn child_main_if_requested() {
    // The hub's processes too (the comparison runs a hub).
    crate::hub::child_main_if_requested();
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let result = (|| {
        let mut parts = spec.split(':');
        let subject = parts
            .next()
            .and_then(Subject::from_name)
            .ok_or("bad subject")?;
        let n: usize = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or("bad count")?;
        let limit_s: u64 = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or("bad limit")?;
        if parts.next() == Some("unconnected") {
            let Subject::Overlay(b) = subject else {
                return Err("unconnected: overlay only".into());
            };
            let kib = measure_unconnected(b, n)?;
            return Ok(ScaleResult {
                pairs: n,
                setup: Duration::ZERO,
                kib_per_pair: kib,
            });
        }
        measure(subject, n, Duration::from_secs(limit_s))
    })();
    match result {
        Ok(r) => println!("{RESULT_TAG} {} {}", r.setup.as_secs_f64(), r.kib_per_pair),
        Err(e) => println!("{RESULT_TAG} error {e}"),
    }
    std::process::exit(0);
}

/// Run [`measure`] in a fresh process (this binary, re-executed). The child
/// is killed if it takes longer than `limit` plus a minute.
///
/// # Errors
/// If the child fails, reports an error or does not finish.
pub fn measure_in_child(
    subject: Subject,
    n: usize,
    limit: Duration,
) -> Result<ScaleResult, BenchError> {
    run_child(
        format!("{}:{n}:{}", subject.name(), limit.as_secs()),
        subject,
        n,
        limit,
    )
}

/// [`measure_unconnected`] in a fresh process: KiB per pair of running,
/// unconnected nodes.
///
/// # Errors
/// If the child fails.
pub fn unconnected_in_child(backend: Backend, n: usize) -> Result<f64, BenchError> {
    let limit = Duration::from_secs(60);
    let r = run_child(
        format!("{}:{n}:{}:unconnected", backend.name(), limit.as_secs()),
        Subject::Overlay(backend),
        n,
        limit,
    )?;
    Ok(r.kib_per_pair)
}

fn run_child(
    spec: String,
    subject: Subject,
    n: usize,
    limit: Duration,
) -> Result<ScaleResult, BenchError> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .env(CHILD_ENV, spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let deadline = Instant::now() + limit + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} x {n}: no result within {:?}",
                subject.name(),
                limit + Duration::from_secs(60)
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_TAG))
        .ok_or_else(|| format!("child exited ({status}) without a result"))?;
    let mut f = line.split_whitespace();
    match (f.next(), f.next()) {
        (Some("error"), _) => Err(line
            .trim()
            .trim_start_matches("error")
            .trim()
            .to_owned()
            .into()),
        (Some(s), Some(k)) => {
            let setup = Duration::from_secs_f64(s.parse()?);
            Ok(ScaleResult {
                pairs: n,
                setup,
                kib_per_pair: k.parse()?,
            })
        }
        _ => Err(format!("bad child output: {line}").into()),
    }
}
