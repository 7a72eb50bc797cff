//! Measures the signaling server on loopback: how long joins (connect, join,
//! contact) take, and the round trip of a relayed signal, with many pairs at
//! once. Prints a table; asserts nothing.
//!
//! `cargo run --release -p overlay-signaling --example signaling_bench -- [PAIRS] [ROUNDS] [ws://URL]`
//! (without a URL it starts an embedded server; a standalone server must be
//! started with a high `--rate`/`--burst`).

use std::time::{Duration, Instant};

use overlay_core::{HandshakeId, Keypair, ProtocolId, Signal, SignalEnvelope};
use overlay_signaling::{Contact, Incoming, ServerConfig, SignalingClient, SignalingServer};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {name:<22} | {:>6} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} |",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(percentile(&samples, 0.99)),
        ms(percentile(&samples, 1.0)),
    );
}

fn envelope(
    from: overlay_core::PeerId,
    handshake: u64,
    signal: Signal,
) -> Result<SignalEnvelope, Error> {
    Ok(SignalEnvelope {
        handshake: HandshakeId(handshake),
        from,
        to: None,
        protocol: ProtocolId::new("bench")?,
        seq: 0,
        // The server relays envelopes without checking signatures.
        signature: overlay_core::SignatureBytes([0; 64]),
        signal,
        more: Vec::new(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pairs: usize = args.first().map_or(Ok(100), |a| a.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(20), |a| a.parse())?;
    let mut embedded = None;
    let url = match args.get(2) {
        Some(url) => url.clone(),
        None => {
            // Every client runs here, on one address.
            let server = SignalingServer::bind(ServerConfig::for_local_clients(1_000_000)).await?;
            let url = server.url();
            embedded = Some(server);
            url
        }
    };

    // Contacts: one room per pair so every newcomer's contact is known.
    let sdp = "v=0\r\n".to_owned() + &"a=x-padding\r\n".repeat(200); // ~2.6 kB, an offer's size
    let mut contacts = Vec::new();
    for i in 0..pairs {
        let key = Keypair::generate();
        contacts.push(SignalingClient::connect(&url, &format!("room-{i}"), &key).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut contact) in contacts.into_iter().enumerate() {
        let url = url.clone();
        let sdp = sdp.clone();
        tasks.push(tokio::spawn(async move {
            // The contact echoes every signal back as an answer.
            let echo = tokio::spawn(async move {
                let me = contact.peer_id();
                while let Ok(Incoming::Signal(e)) = contact.recv().await {
                    let reply = envelope(me, e.handshake.0, Signal::Answer { sdp: "v=0".into() })?;
                    contact.send(e.from, reply).await?;
                }
                Ok::<_, Error>(())
            });
            let t0 = Instant::now();
            let key = Keypair::generate();
            let me = key.peer_id();
            let mut newcomer = SignalingClient::connect(&url, &format!("room-{i}"), &key).await?;
            let Contact::Peer(to) = newcomer.request_contact(None).await? else {
                return Err::<_, Error>("no contact".into());
            };
            let join = t0.elapsed();
            let mut rtts = Vec::with_capacity(rounds);
            for r in 0..rounds {
                let t = Instant::now();
                newcomer
                    .send(
                        to,
                        envelope(me, r as u64, Signal::Offer { sdp: sdp.clone() })?,
                    )
                    .await?;
                match newcomer.recv().await? {
                    Incoming::Signal(e) if e.handshake.0 == r as u64 => rtts.push(t.elapsed()),
                    other => return Err(format!("unexpected {other:?}").into()),
                }
            }
            newcomer.close().await;
            echo.abort();
            Ok((join, rtts))
        }));
    }
    let mut joins = Vec::new();
    let mut rtts = Vec::new();
    for task in tasks {
        let (join, r) = task.await??;
        joins.push(join);
        rtts.extend(r);
    }
    let wall = started.elapsed();
    println!("signaling server on loopback: {pairs} newcomers joining at once, {rounds} relayed round trips each");
    println!(
        "| {:<22} | {:>6} | {:>8} | {:>8} | {:>8} | {:>8} |",
        "what (ms)", "n", "p50", "p90", "p99", "max"
    );
    println!(
        "|{:-<24}|{:->8}|{:->10}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", "", ""
    );
    let relayed = rtts.len() * 2;
    row("join + contact", joins);
    row("signal round trip", rtts);
    println!(
        "{relayed} signals relayed in {:.2} s: {:.0} signals/s",
        wall.as_secs_f64(),
        relayed as f64 / wall.as_secs_f64()
    );
    if let Some(server) = embedded {
        println!("server: {:?}", server.stats());
        server.shutdown().await;
    }
    Ok(())
}
