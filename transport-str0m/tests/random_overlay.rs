//! 50 nodes on one box build a random overlay by bridging: every node joins
//! a random earlier one out-of-band (a random tree), then random nodes
//! bridge random pairs of their neighbours. Every bridge's arc opens, and
//! the overlay invariant holds on every node: both ends of every arc agree,
//! arcs ride living connections only, living connections carry arcs.
//! Prints resident memory and sockets per node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use overlay_core::{
    link_out_of_band, ConnState, Keypair, Node, NodeConfig, PeerId, ProtocolHandle, ProtocolId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NODES: usize = 50;
const BRIDGES: usize = 150;

fn rss_kib() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0))
}

fn open_sockets() -> std::io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Ok(target) = std::fs::read_link(entry?.path()) {
            n += usize::from(target.to_string_lossy().starts_with("socket:"));
        }
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_build_a_random_overlay_by_bridging() -> TestResult {
    let proto = ProtocolId::new("random-overlay")?;
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let (rss0, sockets0) = (rss_kib()?, open_sockets()?);

    let mut nodes: Vec<Node> = Vec::new();
    let mut handles: Vec<ProtocolHandle> = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..NODES {
        let node = Node::spawn(
            Str0mTransport::bind(&RtcConfig::loopback())?,
            Keypair::generate(),
            NodeConfig::default(),
        );
        let (h, events) = node.protocol(proto).await?;
        nodes.push(node);
        handles.push(h);
        streams.push(events);
    }
    let sockets = open_sockets()? - sockets0;

    // A random tree: node i joins a random earlier node.
    let start = Instant::now();
    for (i, handle) in handles.iter().enumerate().skip(1) {
        let j = rng.gen_range(0..i);
        link_out_of_band(handle, &nodes[j]).await?;
    }
    let ids: Vec<PeerId> = nodes.iter().map(Node::id).collect();
    let index: BTreeMap<PeerId, usize> = ids.iter().enumerate().map(|(i, p)| (*p, i)).collect();

    // Random bridges, ten at a time.
    let mut done = 0;
    while done < BRIDGES {
        let mut batch = Vec::new();
        while batch.len() < 10 {
            let b = rng.gen_range(0..NODES);
            let neighbours: Vec<PeerId> = nodes[b].neighbours().await?.into_iter().collect();
            if neighbours.len() < 2 {
                continue;
            }
            let from = neighbours[rng.gen_range(0..neighbours.len())];
            let to = neighbours[rng.gen_range(0..neighbours.len())];
            if from != to {
                batch.push((b, from, to));
            }
        }
        let results = futures::future::join_all(
            batch
                .iter()
                .map(|(b, from, to)| handles[*b].connect(*from, *to)),
        )
        .await;
        for ((b, from, to), r) in batch.iter().zip(results) {
            if let Err(e) = r {
                return Err(format!(
                    "bridge by {b} of {} -> {} failed: {e}",
                    index[from], index[to]
                )
                .into());
            }
        }
        done += batch.len();
    }
    let built = start.elapsed();

    // Let in-flight control messages settle, then check the invariant.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut outviews = Vec::new();
    let mut inviews = Vec::new();
    for h in &handles {
        outviews.push(h.outview().await?);
        inviews.push(h.inview().await?);
    }
    let mut arcs = 0u32;
    for (x, out) in outviews.iter().enumerate() {
        for (peer, n) in out {
            let y = index[peer];
            let back = inviews[y].get(&ids[x]).copied().unwrap_or(0);
            assert_eq!(
                *n, back,
                "arc {x} -> {y}: outview says {n}, inview says {back}"
            );
            arcs += n;
        }
    }
    for (y, inn) in inviews.iter().enumerate() {
        for (peer, n) in inn {
            let x = index[peer];
            assert_eq!(
                outviews[x].get(&ids[y]).copied().unwrap_or(0),
                *n,
                "inview of {y} from {x} has no matching outview"
            );
        }
    }
    let mut connections = 0;
    for (i, node) in nodes.iter().enumerate() {
        for info in node.connections().await? {
            let carries = info.arcs.iter().any(|(_, c)| c.out + c.inn > 0);
            match info.state {
                ConnState::Living => assert!(carries, "node {i}: a living connection without arcs"),
                other => assert!(!carries, "node {i}: arcs on a {other:?} connection"),
            }
            if info.state == ConnState::Living {
                connections += 1;
            }
        }
    }
    assert!(
        arcs as usize >= NODES - 1 + BRIDGES,
        "every join and bridge left an arc ({arcs})"
    );

    let rss = rss_kib()?.saturating_sub(rss0);
    println!(
        "{NODES} nodes, {BRIDGES} bridges in {:.2} s: {arcs} arcs, {} connections (both ends counted: {connections}); \
         sockets per node {:.2}; resident memory growth {} KiB total, {} KiB per node",
        built.as_secs_f64(),
        connections / 2,
        sockets as f64 / NODES as f64,
        rss,
        rss / NODES as u64
    );
    assert_eq!(sockets, NODES, "one UDP socket per node");
    for n in &nodes {
        n.shutdown().await;
    }
    Ok(())
}
