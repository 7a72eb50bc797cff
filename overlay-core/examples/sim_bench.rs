//! Simulator benchmark: N peers join and bridge over a simulated network.
//!
//! Each newcomer joins a random member out of band (one every 10 ms of
//! virtual time), then its contact bridges it to 1..=3 of its neighbours;
//! then every peer sends one message on each of its outgoing arcs. The
//! global invariant is checked at the end. Prints one table row per size.
//!
//! ```text
//! cargo build --release -p overlay-core --example sim_bench
//! /usr/bin/time -v target/release/examples/sim_bench 10000
//! ```
//! Arguments: peer counts (default `1000 10000`); `--loss <fraction>`
//! (default 0.01); `--seed <n>` (default 1).

#[path = "../tests/common/scenario.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod scenario;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::sim::{NetConfig, NodeId, Sim, SimConfig};
use overlay_core::ProtocolId;

struct Row {
    peers: usize,
    wall: Duration,
    inputs: u64,
    virtual_time: Duration,
    connections: usize,
    arcs: u64,
    messages: u64,
    joins_ok: u64,
    bridges_ok: u64,
    failed: u64,
}

fn run(peers: usize, loss: f64, seed: u64) -> Result<Row, Box<dyn std::error::Error>> {
    let p = ProtocolId::new("bench")?;
    let config = SimConfig::new(seed)
        .with_net(NetConfig::default().with_loss(loss))
        .with_record_outputs(false);
    let started = Instant::now();
    let mut sim = Sim::new(config);
    let g = scenario::grow(&mut sim, p, peers, 3, Duration::from_millis(10), seed);
    // Messages exchanged: every peer greets each peer of its outview.
    let nodes: Vec<NodeId> = sim.node_ids().collect();
    for n in nodes {
        let outs: Vec<NodeId> = sim
            .engine(n)
            .outview(&p)
            .keys()
            .filter_map(|q| sim.node_of(q))
            .collect();
        for to in outs {
            sim.send(n, p, to, Bytes::from_static(b"hello from the benchmark"))?;
        }
    }
    if !sim.run_until_quiet(Duration::from_secs(600)) {
        return Err("the network did not get quiet".into());
    }
    let report = sim.check_invariants()?;
    let wall = started.elapsed();
    let stats = sim.stats();
    Ok(Row {
        peers,
        wall,
        inputs: stats.engine_inputs,
        virtual_time: sim.elapsed(),
        connections: report.connections,
        arcs: report.arcs,
        messages: stats.messages_delivered,
        joins_ok: g.joins_ok,
        bridges_ok: g.bridges_ok,
        failed: g.joins_failed + g.bridges_failed,
    })
}

fn main() -> ExitCode {
    let mut sizes = Vec::new();
    let mut loss = 0.01;
    let mut seed = 1;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let parsed = match a.as_str() {
            "--loss" => args.next().and_then(|v| v.parse().ok()).map(|v| loss = v),
            "--seed" => args.next().and_then(|v| v.parse().ok()).map(|v| seed = v),
            n => n.parse().ok().map(|n| sizes.push(n)),
        };
        if parsed.is_none() {
            eprintln!("usage: sim_bench [PEERS...] [--loss FRACTION] [--seed N]");
            return ExitCode::FAILURE;
        }
    }
    if sizes.is_empty() {
        sizes = vec![1000, 10_000];
    }
    println!("seed {seed}, loss {loss}, newcomer every 10 ms (virtual), fanout 1..=3, invariant checked at the end");
    println!(
        "{:>7} | {:>9} | {:>13} | {:>11} | {:>9} | {:>6} | {:>6} | {:>8} | {:>8} | {:>7} | {:>6}",
        "peers",
        "wall (s)",
        "engine events",
        "events/s",
        "virtual",
        "conns",
        "arcs",
        "messages",
        "joins ok",
        "bridged",
        "failed"
    );
    for peers in sizes {
        match run(peers, loss, seed) {
            Ok(r) => println!(
                "{:>7} | {:>9.3} | {:>13} | {:>11.0} | {:>8.1}s | {:>6} | {:>6} | {:>8} | {:>8} | {:>7} | {:>6}",
                r.peers,
                r.wall.as_secs_f64(),
                r.inputs,
                r.inputs as f64 / r.wall.as_secs_f64(),
                r.virtual_time.as_secs_f64(),
                r.connections,
                r.arcs,
                r.messages,
                r.joins_ok,
                r.bridges_ok,
                r.failed
            ),
            Err(e) => {
                eprintln!("{peers} peers: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
