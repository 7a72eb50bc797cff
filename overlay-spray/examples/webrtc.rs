//! Spray over real WebRTC: N peers in this process (str0m, or str0m and
//! webrtc-rs mixed), each on its own UDP socket on loopback, joined one by
//! one through a random earlier peer (signals carried in process). Prints
//! the view sizes against ln N, the components, a broadcast's reach, and
//! memory and CPU per peer.
//!
//! ```text
//! cargo run --release -p overlay-spray --example webrtc -- 100
//! cargo run --release -p overlay-spray --example webrtc -- 100 --mix
//! ```
//! Arguments: peers (default 100); `--mix` (every other peer on webrtc-rs);
//! `--period SECONDS` (default 2); `--cycles C` shuffle periods to wait
//! (default 15); `--dying SECONDS` the engine's dying timeout (default 60 s:
//! with Δt = 2 s each peer then keeps about 30 periods of unused
//! connections open); `--join-gap MS` pause after each join so that the
//! contact's join bridges land before the next newcomer arrives (default
//! 200).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use overlay_core::{Config, Keypair, Node, NodeConfig, ProtocolId};
use overlay_spray::graph::{Graph, Summary};
use overlay_spray::node::SprayHandle;
use overlay_spray::{SprayConfig, SprayStats};
use rtc_common::RtcConfig;

use n2n_test_support::probe::{cpu_time, rss_kib};

fn spawn(mix: bool, i: usize, dying: Option<u64>) -> Result<(Node, &'static str), String> {
    let rtc = RtcConfig::loopback();
    let config = match dying {
        Some(s) => {
            NodeConfig::with_engine(Config::default().with_dying_timeout(Duration::from_secs(s)))
        }
        None => NodeConfig::default(),
    };
    if mix && i % 2 == 1 {
        let t = transport_webrtcrs::WebRtcTransport::bind(&rtc).map_err(|e| e.to_string())?;
        Ok((Node::spawn(t, Keypair::generate(), config), "webrtc-rs"))
    } else {
        let t = transport_str0m::Str0mTransport::bind(&rtc).map_err(|e| e.to_string())?;
        Ok((Node::spawn(t, Keypair::generate(), config), "str0m"))
    }
}

/// One line of diagnostics per period: Spray's view against the engine's
/// outview, per backend, and the counters that tell arcs lost from arcs
/// moved.
async fn report_period(
    label: &str,
    nodes: &[Node],
    sprays: &[SprayHandle],
    kinds: &[&'static str],
) -> Result<(), String> {
    let mut per_kind: HashMap<&str, (usize, usize, usize)> = HashMap::new();
    let mut mismatched = 0;
    let mut total = SprayStats::default();
    let (mut timeouts, mut opened, mut dying_closed) = (0, 0, 0);
    for ((s, n), kind) in sprays.iter().zip(nodes).zip(kinds) {
        let view = s.view().await.map_err(|e| e.to_string())?;
        let engine = s
            .protocol_handle()
            .outview()
            .await
            .map_err(|e| e.to_string())?;
        if view != engine {
            mismatched += 1;
        }
        let size: usize = view.values().map(|c| *c as usize).sum();
        let e = per_kind.entry(kind).or_insert((0, 0, usize::MAX));
        e.0 += size;
        e.1 = e.1.max(size);
        e.2 = e.2.min(size);
        let st = s.stats().await.map_err(|e| e.to_string())?;
        total.arcs_moved += st.arcs_moved;
        total.moves_failed += st.moves_failed;
        total.arcs_lost += st.arcs_lost;
        total.arcs_replaced += st.arcs_replaced;
        total.connects_failed += st.connects_failed;
        total.exchanges_started += st.exchanges_started;
        if let Ok(ns) = n.stats().await {
            timeouts += ns.engine.pending_timeouts;
            opened += ns.engine.connections_opened;
            dying_closed += ns.engine.dying_closed;
        }
    }
    let mut by_kind: Vec<String> = per_kind
        .iter()
        .map(|(k, (sum, max, min))| {
            let count = kinds.iter().filter(|x| *x == k).count().max(1);
            format!("{k}: mean {:.2} ({min}–{max})", *sum as f64 / count as f64)
        })
        .collect();
    by_kind.sort();
    eprintln!(
        "{label}: views {}; spray≠engine view at {mismatched} peers; exchanges {}, moved {}, move failed {}, lost {}, replaced {}, other connects failed {}; connections opened {opened}, pending timeouts {timeouts}, dying closed {dying_closed}",
        by_kind.join(", "),
        total.exchanges_started,
        total.arcs_moved,
        total.moves_failed,
        total.arcs_lost,
        total.arcs_replaced,
        total.connects_failed,
    );
    Ok(())
}

const USAGE: &str =
    "usage: webrtc [PEERS] [--mix] [--period S] [--cycles C] [--dying S] [--join-gap MS]";

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut peers = 100usize;
    let mut mix = false;
    let mut period = 2u64;
    let mut cycles = 15u32;
    let mut dying = None;
    let mut join_gap = 200u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mix" => mix = true,
            "--period" => {
                period = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--period SECONDS")?
            }
            "--dying" => {
                dying = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--dying SECONDS")?,
                )
            }
            "--join-gap" => {
                join_gap = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--join-gap MS")?
            }
            "--cycles" => {
                cycles = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--cycles C")?
            }
            n => peers = n.parse().map_err(|_| format!("{USAGE}; got {n}"))?,
        }
    }
    let protocol = ProtocolId::new("spray").map_err(|e| e.to_string())?;
    let config = SprayConfig::default().with_period(Duration::from_secs(period));
    let rss0 = rss_kib();
    let started = Instant::now();
    let mut nodes = Vec::new();
    let mut sprays = Vec::new();
    let mut inboxes = Vec::new();
    let mut kinds = HashMap::new();
    let mut kind_of = Vec::new();
    for i in 0..peers {
        let (node, kind) = spawn(mix, i, dying)?;
        *kinds.entry(kind).or_insert(0) += 1;
        kind_of.push(kind);
        let (spray, rx) = SprayHandle::start(&node, protocol, config.clone(), i as u64)
            .await
            .map_err(|e| e.to_string())?;
        if i > 0 {
            // A join can fail on a loaded machine (the handshake misses the
            // pending timeout): try again through another contact, as an
            // application would.
            for attempt in 1..=3 {
                let c = rand::random::<u32>() as usize % i;
                let t0 = Instant::now();
                let r =
                    tokio::time::timeout(Duration::from_secs(30), spray.join_via(&nodes[c])).await;
                match r {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => eprintln!(
                        "peer {i} ({kind}): join via {c} ({}) failed (attempt {attempt}): {e}",
                        kind_of[c]
                    ),
                    Err(_) => eprintln!(
                        "peer {i} ({kind}): join via {c} ({}) not done after {:.0} s (attempt {attempt})",
                        kind_of[c],
                        t0.elapsed().as_secs_f64()
                    ),
                }
            }
        }
        // Let the contact's join bridges land before the next newcomer
        // picks a contact: a contact whose view is still on its way hands
        // the newcomer fewer arcs, and the mean view ends below ln N.
        tokio::time::sleep(Duration::from_millis(join_gap)).await;
        nodes.push(node);
        sprays.push(spray);
        inboxes.push(rx);
    }
    let joined = started.elapsed();
    eprintln!(
        "{peers} peers joined in {:.1} s; {cycles} periods of {period} s...",
        joined.as_secs_f64()
    );
    for c in 0..cycles {
        tokio::time::sleep(Duration::from_secs(period)).await;
        report_period(&format!("period {}", c + 1), &nodes, &sprays, &kind_of).await?;
    }
    // CPU over one steady window of 5 periods.
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(period * 5)).await;
    let cpu = cpu_time().saturating_sub(cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64();
    let rss = rss_kib();

    let index: HashMap<_, _> = sprays
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id(), i as u32))
        .collect();
    let mut out = Vec::new();
    let mut moved = 0;
    for s in &sprays {
        let view = s.view().await.map_err(|e| e.to_string())?;
        moved += s.stats().await.map_err(|e| e.to_string())?.arcs_moved;
        out.push(
            view.iter()
                .flat_map(|(p, c)| std::iter::repeat_n(index[p], *c as usize))
                .collect(),
        );
    }
    let g = Graph::new(out);
    let views = Summary::of(&g.view_sizes());
    let ins = Summary::of(&g.in_degrees());
    let t0 = Instant::now();
    let id = sprays[0]
        .broadcast(&b"hello everyone"[..])
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut reached = 0;
    for rx in inboxes.iter_mut().skip(1) {
        while let Ok(d) = rx.try_recv() {
            if d.id == id {
                reached += 1;
            }
        }
    }
    let (path, _) = g.mean_shortest_path(peers, 1);
    println!("| backends | peers | ln N | mean view (min–max) | in-degree max | components | mean shortest path | arcs moved | broadcast reached | RSS per peer | CPU per peer (steady) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {peers} | {:.2} | {:.2} ({}–{}) | {} | {} | {:.2} | {moved} | {reached}/{} (≤ {:.1} s) | {:.0} KiB | {:.2} % of a core |",
        kinds.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(" + "),
        (peers as f64).ln(),
        views.mean,
        views.min,
        views.max,
        ins.max,
        g.components(),
        path,
        peers - 1,
        t0.elapsed().as_secs_f64(),
        rss.saturating_sub(rss0) as f64 / peers as f64,
        cpu * 100.0 / peers as f64,
    );
    for n in &nodes {
        n.shutdown().await;
    }
    if g.components() != 1 || reached != peers - 1 {
        return Err("the overlay is split or the broadcast missed peers".into());
    }
    Ok(())
}
