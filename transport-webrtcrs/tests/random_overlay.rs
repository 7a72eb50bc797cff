//! 50 webrtc-rs nodes on one box build a random overlay by bridging: every
//! node joins a random earlier one out-of-band (a random tree), then random
//! nodes bridge random pairs of their neighbours. Every bridge's arc opens,
//! and the overlay invariant holds on every node: both ends of every arc
//! agree, arcs ride living connections only, living connections carry arcs.
//! Prints resident memory, threads, tokio tasks and sockets per node.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use overlay_core::{
    link_out_of_band, ConnState, Keypair, Node, NodeConfig, PeerId, ProtocolHandle, ProtocolId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rtc_common::RtcConfig;
use transport_webrtcrs::{TaskProbe, WebRtcTransport};

const NODES: usize = 50;
const BRIDGES: usize = 150;

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Wait until every arc's two ends agree (bounded), then check the invariant.
async fn check_invariant(
    nodes: &[Node],
    handles: &[ProtocolHandle],
    ids: &[PeerId],
    index: &BTreeMap<PeerId, usize>,
) -> Result<u32, String> {
    let deadline = Instant::now() + common::GUARD;
    loop {
        let mut outviews = Vec::new();
        let mut inviews = Vec::new();
        for h in handles {
            outviews.push(h.outview().await.map_err(|e| e.to_string())?);
            inviews.push(h.inview().await.map_err(|e| e.to_string())?);
        }
        let mut problems = Vec::new();
        let mut arcs = 0u32;
        for (x, out) in outviews.iter().enumerate() {
            for (peer, n) in out {
                let y = index[peer];
                let back = inviews[y].get(&ids[x]).copied().unwrap_or(0);
                if *n != back {
                    problems.push(format!(
                        "arc {x} -> {y}: outview says {n}, inview says {back}"
                    ));
                }
                arcs += n;
            }
        }
        for (y, inn) in inviews.iter().enumerate() {
            for (peer, n) in inn {
                let x = index[peer];
                if outviews[x].get(&ids[y]).copied().unwrap_or(0) != *n {
                    problems.push(format!("inview of {y} from {x} has no matching outview"));
                }
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            for info in node.connections().await.map_err(|e| e.to_string())? {
                let carries = info.arcs.iter().any(|(_, c)| c.out + c.inn > 0);
                match info.state {
                    ConnState::Living if !carries => {
                        problems.push(format!("node {i}: a living connection without arcs"))
                    }
                    ConnState::Living => {}
                    other if carries => {
                        problems.push(format!("node {i}: arcs on a {other:?} connection"))
                    }
                    _ => {}
                }
            }
        }
        if problems.is_empty() {
            return Ok(arcs);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} invariant violations, first: {}",
                problems.len(),
                problems[0]
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_webrtcrs_nodes_build_a_random_overlay() -> common::TestResult {
    common::init_tracing();
    let proto = ProtocolId::new("random-overlay")?;
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let (rss0, threads0, sockets0) = (
        proc_status("VmRSS:"),
        proc_status("Threads:"),
        open_sockets(),
    );
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks0 = metrics.num_alive_tasks();

    let mut nodes: Vec<Node> = Vec::new();
    let mut handles: Vec<ProtocolHandle> = Vec::new();
    let mut probes: Vec<TaskProbe> = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..NODES {
        let transport = WebRtcTransport::new(RtcConfig::loopback())?;
        probes.push(transport.task_probe());
        let node = Node::spawn(transport, Keypair::generate(), NodeConfig::default());
        let (h, events) = node.protocol(proto).await?;
        nodes.push(node);
        handles.push(h);
        streams.push(events);
    }

    // A random tree: node i joins a random earlier node.
    let start = Instant::now();
    for (i, handle) in handles.iter().enumerate().skip(1) {
        let j = rng.gen_range(0..i);
        link_out_of_band(handle, &nodes[j]).await?;
    }
    let ids: Vec<PeerId> = nodes.iter().map(Node::id).collect();
    let index: BTreeMap<PeerId, usize> = ids.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    // Joins complete at the joining side first; let both ends settle
    // before bridging through them.
    check_invariant(&nodes, &handles, &ids, &index).await?;

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
        check_invariant(&nodes, &handles, &ids, &index).await?;
    }
    let built = start.elapsed();
    let arcs = check_invariant(&nodes, &handles, &ids, &index).await?;
    assert!(
        arcs as usize >= NODES - 1 + BRIDGES,
        "every join and bridge left an arc ({arcs})"
    );

    let mut connections = 0;
    for node in &nodes {
        connections += node
            .connections()
            .await?
            .iter()
            .filter(|i| i.state == ConnState::Living)
            .count();
    }
    let rss = proc_status("VmRSS:").saturating_sub(rss0);
    let threads = proc_status("Threads:").saturating_sub(threads0);
    let tasks = metrics.num_alive_tasks().saturating_sub(tasks0);
    let ours: usize = probes.iter().map(TaskProbe::live_tasks).sum();
    let sockets = open_sockets().saturating_sub(sockets0);
    println!(
        "{NODES} webrtc-rs nodes, {BRIDGES} bridges in {:.2} s: {arcs} arcs over {} connections ({connections} ends)\n\
         per node: resident memory {} KiB, {:.1} tokio tasks ({:.1} of them this crate's connection tasks), \
         {:.2} UDP sockets (one per connection); threads in the process grew by {threads} (tokio workers are shared)",
        built.as_secs_f64(),
        connections / 2,
        rss / NODES as u64,
        tasks as f64 / NODES as f64,
        ours as f64 / NODES as f64,
        sockets as f64 / NODES as f64,
    );
    assert_eq!(sockets, connections, "one UDP socket per connection end");

    for n in &nodes {
        n.shutdown().await;
    }
    drop(nodes);
    drop(handles);
    common::eventually("every connection task ends after shutdown", || {
        probes.iter().all(|p| p.live_tasks() == 0)
    })
    .await;
    Ok(())
}
