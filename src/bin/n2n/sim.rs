//! `n2n sim`: the demo's scenario in the simulator: every peer an engine
//! of one thread, the network and the signaling server simulated, time
//! virtual (latencies are the simulated network's, not this machine's).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use n2n_overlay::sim::{NetConfig, NodeId, OpRef, Sim, SimConfig};
use n2n_overlay::{PeerId, ProtocolId};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::report::{PeerRow, Summary};

/// Options of `n2n sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimArgs {
    /// Number of peers.
    #[arg(long, default_value_t = 200)]
    peers: usize,
    /// Bridged connects each newcomer's contact makes for it.
    #[arg(long, default_value_t = 3)]
    bridges: usize,
    /// Messages sent over each arc.
    #[arg(long, default_value_t = 5)]
    messages: u32,
    /// Seed: the same seed replays the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of frames lost once (and retransmitted) and of handshakes that never connect.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Directory for topology.dot and topology.svg.
    #[arg(long, default_value = "target/n2n-sim")]
    out: PathBuf,
    /// Rows of the per-peer table shown.
    #[arg(long, default_value_t = 30)]
    rows: usize,
}

/// How long (virtual) an operation may take before it counts as failed.
const OP_LIMIT: Duration = Duration::from_secs(60);

/// Run `ops` to completion; per op, its virtual duration or failure.
fn complete(sim: &mut Sim, ops: &[OpRef]) -> Vec<Result<Duration, String>> {
    let start = sim.elapsed();
    let mut done: Vec<Option<Result<Duration, String>>> = vec![None; ops.len()];
    loop {
        for (k, op) in ops.iter().enumerate() {
            if done[k].is_none() {
                if let Some(c) = sim.completion(*op) {
                    done[k] = Some(
                        c.result
                            .clone()
                            .map(|()| sim.elapsed() - start)
                            .map_err(|e| e.to_string()),
                    );
                }
            }
        }
        if done.iter().all(Option::is_some) || sim.elapsed() - start > OP_LIMIT || !sim.step() {
            break;
        }
    }
    done.into_iter()
        .map(|d| d.unwrap_or_else(|| Err("did not complete".into())))
        .collect()
}

/// Run the scenario and print the summary.
pub(crate) fn run(args: SimArgs) -> Result<(), String> {
    if args.peers < 2 {
        return Err("--peers must be at least 2".into());
    }
    if !(0.0..=1.0).contains(&args.loss) {
        return Err("--loss is a fraction between 0 and 1".into());
    }
    let wall = Instant::now();
    let protocol = ProtocolId::new(crate::demo::PROTOCOL).map_err(|e| e.to_string())?;
    let config = SimConfig::new(args.seed)
        .with_net(NetConfig::default().with_loss(args.loss))
        .with_record_outputs(false);
    let mut sim = Sim::new(config);
    let nodes = sim.add_nodes(args.peers);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut summary = Summary {
        clock: "virtual clock",
        ..Summary::default()
    };
    let mut contacts: Vec<Option<usize>> = vec![None; nodes.len()];
    println!(
        "n2n sim: {} peers, seed {}, loss {}",
        args.peers, args.seed, args.loss
    );

    // 1. Join through the simulated signaling server, one at a time.
    for i in 1..nodes.len() {
        let c = rng.gen_range(0..i);
        match sim.join(nodes[i], nodes[c], protocol) {
            Ok(op) => match complete(&mut sim, &[op]).remove(0) {
                Ok(t) => {
                    summary.join_times.push(t);
                    contacts[i] = Some(c);
                }
                Err(e) => summary.join_failures.push(format!("peer {i}: {e}")),
            },
            Err(e) => summary.join_failures.push(format!("peer {i}: {e}")),
        }
    }
    println!(
        "joined: {} peers through the simulated server at {:.1?} (virtual)",
        summary.join_times.len() + 1,
        sim.elapsed()
    );

    // 2. Bridges only.
    for i in 1..nodes.len() {
        let Some(c) = contacts[i] else { continue };
        let newcomer = sim.peer(nodes[i]);
        let mine = sim.engine(nodes[i]).neighbours();
        let mut targets: Vec<NodeId> = sim
            .engine(nodes[c])
            .neighbours()
            .into_iter()
            .filter(|p| *p != newcomer && !mine.contains(p))
            .filter_map(|p| sim.node_of(&p))
            .collect();
        targets.shuffle(&mut rng);
        targets.truncate(args.bridges);
        let mut ops = Vec::new();
        for t in &targets {
            match sim.connect(nodes[c], protocol, &[nodes[i]], &[*t]) {
                Ok(op) => ops.push(op),
                Err(e) => summary
                    .bridge_failures
                    .push(format!("peer {c} bridging {i}: {e}")),
            }
        }
        for r in complete(&mut sim, &ops) {
            match r {
                Ok(t) => summary.bridge_times.push(t),
                Err(e) => summary
                    .bridge_failures
                    .push(format!("peer {c} bridging {i}: {e}")),
            }
        }
    }
    println!(
        "bridged: {} connects at {:.1?} (virtual)",
        summary.bridge_times.len() + summary.bridge_failures.len(),
        sim.elapsed()
    );

    // 3. Messages over every arc.
    let before = sim.stats().messages_delivered;
    for &n in &nodes {
        let out: Vec<PeerId> = sim.engine(n).outview(&protocol).into_keys().collect();
        for q in out {
            let Some(to) = sim.node_of(&q) else { continue };
            for m in 0..args.messages {
                match sim.send(
                    n,
                    protocol,
                    to,
                    Bytes::from(format!("message {m} from {n}")),
                ) {
                    Ok(()) => summary.sent += 1,
                    Err(_) => summary.send_failures += 1,
                }
            }
        }
    }
    // Messages still in flight at the limit count as not delivered.
    let _quiet = sim.run_until_quiet(OP_LIMIT);
    summary.delivered = sim.stats().messages_delivered - before;

    // 4. Summary.
    let index: BTreeMap<PeerId, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (sim.peer(*n), i))
        .collect();
    for (i, &n) in nodes.iter().enumerate() {
        let engine = sim.engine(n);
        summary.add_connections(i, &engine.connections(), &index);
        summary.peers.push(PeerRow {
            id: sim.peer(n),
            contact: contacts[i],
            inview: engine.inview(&protocol),
            outview: engine.outview(&protocol),
            received: engine.stats().messages_received,
        });
    }
    summary.elapsed = sim.elapsed();
    summary.title = format!("n2n sim: {} peers, seed {}", args.peers, args.seed);
    let invariants = sim.check_invariants();
    println!();
    print!("{}", summary.render(args.rows));
    println!("simulated in {:.0?} of wall-clock time", wall.elapsed());
    let (dot, svg) = summary.write_topology(&args.out)?;
    println!("topology: {} and {}", dot.display(), svg.display());
    match invariants {
        Ok(report) => println!(
            "invariants hold: {} connections, {} arcs, both ends agree",
            report.connections, report.arcs
        ),
        Err(e) => return Err(format!("the simulation broke an invariant: {e}")),
    }
    if summary.lost() > 0
        || !summary.join_failures.is_empty()
        || !summary.bridge_failures.is_empty()
    {
        return Err(format!(
            "the simulation ran with failures: {} joins, {} bridged connects, {} messages lost",
            summary.join_failures.len(),
            summary.bridge_failures.len(),
            summary.lost()
        ));
    }
    Ok(())
}
