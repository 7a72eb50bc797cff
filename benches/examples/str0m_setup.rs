//! Connection setup time: this transport (`Open` -> `Opened` on both sides)
//! next to a raw str0m pair in the same run, and what building one `Rtc`
//! costs with str0m's defaults vs a node's prepared configuration.
//!
//! `cargo run --release -p n2n-benches --example str0m_setup`
//!
//! Both setups: two peers in one process and one thread, UDP on 127.0.0.1,
//! SDP passed in-process, host candidates only, one reliable ordered data
//! channel, until the channel is open on both sides. The raw pair is the
//! benches' one ([`n2n_benches::raw_str0m`]): str0m's defaults (a fresh
//! certificate per `Rtc`, all codecs) and a busy-polling loop on
//! non-blocking sockets (its best case); the transport runs on a
//! current-thread tokio runtime (epoll wake-ups).

use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use n2n_benches::raw_str0m;
use overlay_core::{ConnId, Role, Transport, TransportCommand as Cmd, TransportEvent as Ev};
use rtc_common::RtcConfig;
use str0m::Rtc;
use transport_str0m::{install_crypto, NodeRtcConfig, Str0mTransport};

const RUNS: usize = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Our transport: open one connection between two transports.
async fn transport_setup(
    a: &mut Str0mTransport,
    b: &mut Str0mTransport,
    conn: ConnId,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let start = Instant::now();
    b.handle_command(
        Instant::now(),
        Cmd::Open {
            conn,
            role: Role::Acceptor,
        },
    )?;
    a.handle_command(
        Instant::now(),
        Cmd::Open {
            conn,
            role: Role::Initiator,
        },
    )?;
    let mut opened = 0;
    while opened < 2 {
        let (from_a, ev) = poll_fn(|cx| {
            if let Poll::Ready(e) = a.poll_event(cx) {
                return Poll::Ready((true, e));
            }
            b.poll_event(cx).map(|e| (false, e))
        })
        .await;
        match ev {
            Ev::Signal { conn, signal } => {
                let other = if from_a { &mut *b } else { &mut *a };
                other.handle_command(Instant::now(), Cmd::Signal { conn, signal })?;
            }
            Ev::Opened { .. } => opened += 1,
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    let took = start.elapsed();
    a.handle_command(Instant::now(), Cmd::Close { conn })?;
    b.handle_command(Instant::now(), Cmd::Close { conn })?;
    Ok(took)
}

fn build_cost(f: impl Fn() -> Rtc) -> Duration {
    let mut v = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let rtc = f();
        v.push(t.elapsed());
        drop(rtc);
    }
    median(v)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Crypto provider install (once per process) is paid here, before timing.
    let provider = install_crypto();
    str0m::crypto::from_feature_flags().install_process_default();
    let first = Instant::now();
    drop(Rtc::builder().build(Instant::now()));
    let first_build = first.elapsed();

    let cert = str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .ok_or("no certificate")?;
    let prepared = NodeRtcConfig::new()?;
    let defaults = build_cost(|| Rtc::builder().build(Instant::now()));
    let with_cert = build_cost(|| {
        Rtc::builder()
            .set_dtls_cert(cert.clone())
            .build(Instant::now())
    });
    let no_codecs = build_cost(|| {
        Rtc::builder()
            .set_dtls_cert(cert.clone())
            .clear_codecs()
            .clear_extension_map()
            .build(Instant::now())
    });
    let ours = build_cost(|| prepared.build(Instant::now()));
    let cert_gen = {
        let mut v = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let c = provider.dtls_provider.generate_certificate();
            v.push(t.elapsed());
            drop(c);
        }
        median(v)
    };

    let (raw, ours_setup) = rt.block_on(async {
        let mut a = Str0mTransport::bind(&RtcConfig::loopback())?;
        let mut b = Str0mTransport::bind(&RtcConfig::loopback())?;
        // Warm-up, then alternate the two setups so drift hits both alike.
        raw_str0m::setup().map_err(|e| e.to_string())?;
        transport_setup(&mut a, &mut b, ConnId(0)).await?;
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        for i in 0..RUNS {
            raw.push(raw_str0m::setup().map_err(|e| e.to_string())?);
            ours.push(transport_setup(&mut a, &mut b, ConnId(1 + i as u64)).await?);
        }
        Ok::<_, Box<dyn std::error::Error>>((raw, ours))
    })?;

    println!("Building one Rtc (median of 200)");
    println!("| configuration | time |");
    println!("|---|---|");
    println!(
        "| str0m defaults (new certificate, all codecs) | {:.3} ms |",
        ms(defaults)
    );
    println!(
        "| defaults + shared certificate | {:.3} ms |",
        ms(with_cert)
    );
    println!("| + no codecs/extensions | {:.3} ms |", ms(no_codecs));
    println!(
        "| prepared (transport-str0m): + DTLS config made once per process | {:.3} ms |",
        ms(ours)
    );
    println!(
        "| (certificate generation alone, median of 50) | {:.3} ms |",
        ms(cert_gen)
    );
    println!(
        "| (first Rtc of the process, provider already installed) | {:.3} ms |",
        ms(first_build)
    );
    println!();
    println!(
        "Connection setup until the channel is open on both sides (median of {RUNS}, same run)"
    );
    println!("| setup | median | min | max |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("raw str0m pair (defaults, busy-poll)", raw),
        ("transport-str0m (Open -> Opened both)", ours_setup),
    ] {
        let (min, max) = (
            v.iter().min().copied().unwrap_or_default(),
            v.iter().max().copied().unwrap_or_default(),
        );
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
            ms(median(v)),
            ms(min),
            ms(max)
        );
    }
    Ok(())
}
