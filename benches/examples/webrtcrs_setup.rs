//! Connection setup time on loopback, 20 runs each, in one process:
//! - this crate's transport (Open on both sides -> Opened on both sides);
//! - the same with the stall workaround off;
//! - a raw webrtc-rs pair with the library's defaults (build -> channel open
//!   on both sides), to show the stall the transport avoids (the benches'
//!   pair, [`n2n_benches::raw_webrtcrs`]).
//!
//! Then one-way bulk throughput over this crate's transport.
//!
//! Run: `cargo run --release -p n2n-benches --example webrtcrs_setup [runs]`

use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use n2n_benches::hub::cpu_time;
use n2n_benches::raw_webrtcrs;
use overlay_core::{ConnId, Role, Transport, TransportCommand, TransportEvent};
use rtc_common::RtcConfig;
use transport_webrtcrs::{Options, WebRtcTransport};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Next event of either transport; signals are delivered on the way.
async fn pump(
    a: &mut WebRtcTransport,
    b: &mut WebRtcTransport,
) -> Result<(bool, TransportEvent), BoxError> {
    loop {
        let (from_a, event) = poll_fn(|cx| {
            if let Poll::Ready(e) = a.poll_event(cx) {
                return Poll::Ready((true, e));
            }
            if let Poll::Ready(e) = b.poll_event(cx) {
                return Poll::Ready((false, e));
            }
            Poll::Pending
        })
        .await;
        if let TransportEvent::Signal { conn, signal } = event {
            let to = if from_a { &mut *b } else { &mut *a };
            to.handle_command(Instant::now(), TransportCommand::Signal { conn, signal })?;
        } else {
            return Ok((from_a, event));
        }
    }
}

async fn transport_setup(runs: u32, options: Options) -> Result<Vec<Duration>, BoxError> {
    let mut a = WebRtcTransport::bind_with_options(&RtcConfig::loopback(), options.clone())?;
    let mut b = WebRtcTransport::bind_with_options(&RtcConfig::loopback(), options)?;
    let mut times = Vec::new();
    for run in 0..runs {
        let conn = ConnId(u64::from(run) + 1);
        let t0 = Instant::now();
        a.handle_command(
            t0,
            TransportCommand::Open {
                conn,
                role: Role::Initiator,
            },
        )?;
        b.handle_command(
            t0,
            TransportCommand::Open {
                conn,
                role: Role::Acceptor,
            },
        )?;
        let mut open = 0;
        while open < 2 {
            let step = tokio::time::timeout(Duration::from_secs(10), pump(&mut a, &mut b))
                .await
                .map_err(|_| "setup took over 10 s")??;
            match step {
                (_, TransportEvent::Opened { .. }) => open += 1,
                (_, other) => return Err(format!("unexpected event {other:?}").into()),
            }
        }
        times.push(t0.elapsed());
        a.handle_command(Instant::now(), TransportCommand::Close { conn })?;
        b.handle_command(Instant::now(), TransportCommand::Close { conn })?;
    }
    let slow: Vec<String> = times
        .iter()
        .enumerate()
        .filter(|(_, d)| d.as_millis() >= 50)
        .map(|(i, d)| format!("run {i}: {:.1} ms", d.as_secs_f64() * 1e3))
        .collect();
    if !slow.is_empty() {
        println!("  runs over 50 ms: {}", slow.join(", "));
    }
    let stats = a.stats();
    println!(
        "  (side A: {} extra driver passes, {} nudges over {runs} connections)",
        stats.driver_flushes, stats.driver_nudges
    );
    Ok(times)
}

/// webrtc-rs with its defaults: descriptions first, then trickled candidates.
async fn raw_setup(runs: u32) -> Result<Vec<Duration>, BoxError> {
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(raw_webrtcrs::setup().await?);
    }
    Ok(times)
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = times.len();
    if n == 0 {
        return;
    }
    let median = if n % 2 == 1 {
        ms(times[n / 2])
    } else {
        (ms(times[n / 2 - 1]) + ms(times[n / 2])) / 2.0
    };
    println!(
        "| {name} | {n} | {median:.1} | {:.1} | {:.1} | {:.1} |",
        ms(times[0]),
        ms(times[(n * 9 / 10).min(n - 1)]),
        ms(times[n - 1])
    );
}

/// Two transports with connection 1 open between them (A offers).
async fn open_pair() -> Result<(WebRtcTransport, WebRtcTransport, ConnId), BoxError> {
    let mut a = WebRtcTransport::bind(&RtcConfig::loopback())?;
    let mut b = WebRtcTransport::bind(&RtcConfig::loopback())?;
    let conn = ConnId(1);
    a.handle_command(
        Instant::now(),
        TransportCommand::Open {
            conn,
            role: Role::Initiator,
        },
    )?;
    b.handle_command(
        Instant::now(),
        TransportCommand::Open {
            conn,
            role: Role::Acceptor,
        },
    )?;
    let mut open = 0;
    while open < 2 {
        if let (_, TransportEvent::Opened { .. }) = pump(&mut a, &mut b).await? {
            open += 1;
        }
    }
    Ok((a, b, conn))
}

async fn bulk(frames: u32, size: usize) -> Result<(), BoxError> {
    let (mut a, mut b, conn) = open_pair().await?;
    let window = a.send_window();
    let payload = Bytes::from(vec![7u8; size]);
    let t0 = Instant::now();
    let (mut queued, mut next, mut received) = (0usize, 0u32, 0u32);
    while received < frames {
        while next < frames && queued + size <= window {
            a.handle_command(
                Instant::now(),
                TransportCommand::Send {
                    conn,
                    frame: payload.clone(),
                },
            )?;
            queued += size;
            next += 1;
        }
        match pump(&mut a, &mut b).await? {
            (true, TransportEvent::Sent { bytes, .. }) => queued -= bytes,
            (false, TransportEvent::Frame { frame, .. }) => {
                if frame.len() != size {
                    return Err("bad frame length".into());
                }
                received += 1;
            }
            (_, other) => return Err(format!("unexpected {other:?}").into()),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let mb = f64::from(frames) * size as f64 / 1e6;
    println!(
        "| {frames} x {} KiB | {:.0} MB/s | {secs:.2} s |",
        size / 1024,
        mb / secs
    );
    Ok(())
}

/// CPU used by 10 open, idle connections (both ends in this process) over 10 s.
async fn idle_cpu() -> Result<(), BoxError> {
    let mut a = WebRtcTransport::bind(&RtcConfig::loopback())?;
    let mut b = WebRtcTransport::bind(&RtcConfig::loopback())?;
    for c in 1..=10 {
        let conn = ConnId(c);
        a.handle_command(
            Instant::now(),
            TransportCommand::Open {
                conn,
                role: Role::Initiator,
            },
        )?;
        b.handle_command(
            Instant::now(),
            TransportCommand::Open {
                conn,
                role: Role::Acceptor,
            },
        )?;
    }
    let mut open = 0;
    while open < 20 {
        if let (_, TransportEvent::Opened { .. }) = pump(&mut a, &mut b).await? {
            open += 1;
        }
    }
    let (c0, t0) = (cpu_time(), Instant::now());
    // Keep both transports polled (as a node would) while idle.
    let _ = tokio::time::timeout(Duration::from_secs(10), pump(&mut a, &mut b)).await;
    let used = cpu_time().saturating_sub(c0);
    println!(
        "| 10 idle connections (20 ends), 10 s | CPU {:.2} % of one core |",
        used.as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
    );
    Ok(())
}

/// Round trip of a 32-byte frame, A -> B -> A, through both transports.
async fn rtt(rounds: u32) -> Result<(), BoxError> {
    let (mut a, mut b, conn) = open_pair().await?;
    let ping = Bytes::from(vec![1u8; 32]);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        a.handle_command(
            t0,
            TransportCommand::Send {
                conn,
                frame: ping.clone(),
            },
        )?;
        loop {
            match pump(&mut a, &mut b).await? {
                (false, TransportEvent::Frame { frame, .. }) => {
                    b.handle_command(Instant::now(), TransportCommand::Send { conn, frame })?
                }
                (true, TransportEvent::Frame { .. }) => break,
                (_, TransportEvent::Sent { .. }) => {}
                (_, other) => return Err(format!("unexpected {other:?}").into()),
            }
        }
        times.push(t0.elapsed());
    }
    times.sort();
    println!(
        "| RTT, 32 B frame, {rounds} rounds | median {:.0} us | p90 {:.0} us |",
        times[times.len() / 2].as_secs_f64() * 1e6,
        times[times.len() * 9 / 10].as_secs_f64() * 1e6
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let runs: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    println!("Connection setup on 127.0.0.1, {runs} runs each (ms)");
    let ours = transport_setup(runs, Options::default()).await?;
    if std::env::var_os("SETUP_BENCH_OURS_ONLY").is_some() {
        report("transport-webrtcrs", ours);
        return Ok(());
    }
    let stalled = transport_setup(runs, Options::default().with_fix_setup_stall(false)).await?;
    let raw = raw_setup(runs).await?;
    println!("| setup | runs | median | min | p90 | max |");
    println!("|---|---|---|---|---|---|");
    report("transport-webrtcrs", ours);
    report("transport-webrtcrs, workaround off", stalled);
    report("raw webrtc-rs pair, defaults", raw);
    println!();
    println!(
        "One-way bulk over transport-webrtcrs (engine-style credit window {} KiB)",
        Options::default().send_window / 1024
    );
    println!("| frames | throughput | time |");
    println!("|---|---|---|");
    bulk(100_000, 1024).await?;
    bulk(10_000, 16 * 1024).await?;
    rtt(2000).await?;
    idle_cpu().await?;
    Ok(())
}
