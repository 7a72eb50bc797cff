//! `n2n sim`: the demo's scenario in the simulator: every peer an engine
//! of one thread, the network and the signaling server simulated, time
//! virtual (latencies are the simulated network's, not this machine's).
//! The four phases of [`crate::scenario`] are one method of [`SimRun`] each.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use n2n_overlay::sim::{NetConfig, NodeId, OpRef, Sim, SimConfig};
use n2n_overlay::{ConnectError, ConnectFailure, PeerId, ProtocolId};
use rand::{Rng, SeedableRng};

use crate::error::CliError;
use crate::report::{PeerRow, Summary};
use crate::scenario;

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

/// Why an operation of the simulation did not open its arcs.
#[derive(Debug, thiserror::Error)]
enum OpFailed {
    /// The engine refused it at once.
    #[error(transparent)]
    Refused(#[from] ConnectError),
    /// It ran and failed.
    #[error("{0}")]
    Failed(ConnectFailure),
    /// No completion within [`OP_LIMIT`] of virtual time.
    #[error("did not complete within {OP_LIMIT:?} (virtual)")]
    Unfinished,
}

/// The simulated network and the scenario's state.
struct SimRun {
    sim: Sim,
    protocol: ProtocolId,
    nodes: Vec<NodeId>,
    /// The index of the peer each one joined through.
    contacts: Vec<Option<usize>>,
    rng: rand::rngs::StdRng,
}

/// Run the scenario and print the summary.
pub(crate) fn run(args: SimArgs) -> Result<(), CliError> {
    scenario::check_peers(args.peers)?;
    if !(0.0..=1.0).contains(&args.loss) {
        return Err(CliError::Argument {
            flag: "--loss",
            rule: "is a fraction between 0 and 1",
        });
    }
    let wall = Instant::now();
    println!(
        "n2n sim: {} peers, seed {}, loss {}",
        args.peers, args.seed, args.loss
    );
    let mut run = SimRun::new(&args)?;
    let mut summary = Summary::new("virtual clock");
    run.join(&mut summary);
    run.bridge(args.bridges, &mut summary);
    run.exchange_messages(args.messages, &mut summary);
    run.summarize(&mut summary);
    summary.elapsed = run.sim.elapsed();
    summary.title = format!("n2n sim: {} peers, seed {}", args.peers, args.seed);
    let invariants = run.sim.check_invariants();
    scenario::report(&summary, args.rows, &args.out)?;
    println!("simulated in {:.0?} of wall-clock time", wall.elapsed());
    let report = invariants.map_err(CliError::Invariant)?;
    println!(
        "invariants hold: {} connections, {} arcs, both ends agree",
        report.connections, report.arcs
    );
    scenario::verdict("the simulation", &summary)
}

impl SimRun {
    /// `args.peers` simulated nodes, none connected yet.
    fn new(args: &SimArgs) -> Result<Self, CliError> {
        let config = SimConfig::new(args.seed)
            .with_net(NetConfig::default().with_loss(args.loss))
            .with_record_outputs(false);
        let mut sim = Sim::new(config);
        let nodes = sim.add_nodes(args.peers);
        Ok(SimRun {
            sim,
            protocol: scenario::protocol()?,
            contacts: vec![None; nodes.len()],
            nodes,
            rng: rand::rngs::StdRng::seed_from_u64(args.seed),
        })
    }

    /// Run `ops` to completion; per op, its virtual duration or failure.
    fn complete(&mut self, ops: &[OpRef]) -> Vec<Result<Duration, OpFailed>> {
        let sim = &mut self.sim;
        let start = sim.elapsed();
        let mut done: Vec<Option<Result<Duration, OpFailed>>> = ops.iter().map(|_| None).collect();
        loop {
            for (k, op) in ops.iter().enumerate() {
                if done[k].is_none() {
                    if let Some(c) = sim.completion(*op) {
                        done[k] = Some(match &c.result {
                            Ok(()) => Ok(sim.elapsed() - start),
                            Err(e) => Err(OpFailed::Failed(e.clone())),
                        });
                    }
                }
            }
            if done.iter().all(Option::is_some) || sim.elapsed() - start > OP_LIMIT || !sim.step() {
                break;
            }
        }
        done.into_iter()
            .map(|d| d.unwrap_or(Err(OpFailed::Unfinished)))
            .collect()
    }

    /// Phase 1: join through the simulated signaling server, one at a time, each
    /// through a random earlier peer.
    fn join(&mut self, summary: &mut Summary) {
        for i in 1..self.nodes.len() {
            let c = self.rng.gen_range(0..i);
            let joined = self
                .sim
                .join(self.nodes[i], self.nodes[c], self.protocol)
                .map_err(OpFailed::from)
                .and_then(|op| self.complete(&[op]).remove(0));
            match joined {
                Ok(t) => {
                    summary.join_times.push(t);
                    self.contacts[i] = Some(c);
                }
                Err(e) => summary.join_failures.push(format!("peer {i}: {e}")),
            }
        }
        println!(
            "joined: {} peers through the simulated server at {:.1?} (virtual)",
            summary.join_times.len() + 1,
            self.sim.elapsed()
        );
    }

    /// Phase 2: bridges only: each newcomer's contact bridges it to up to
    /// `bridges` of the contact's other neighbours.
    fn bridge(&mut self, bridges: usize, summary: &mut Summary) {
        for i in 1..self.nodes.len() {
            let Some(c) = self.contacts[i] else { continue };
            let (newcomer, contact) = (self.nodes[i], self.nodes[c]);
            let targets = scenario::bridge_targets(
                self.sim.peer(newcomer),
                &self.sim.engine(newcomer).neighbours(),
                self.sim.engine(contact).neighbours(),
                bridges,
                &mut self.rng,
            );
            let targets: Vec<NodeId> = targets.iter().filter_map(|p| self.sim.node_of(p)).collect();
            let mut ops = Vec::new();
            for t in targets {
                match self.sim.connect(contact, self.protocol, &[newcomer], &[t]) {
                    Ok(op) => ops.push(op),
                    Err(e) => summary
                        .bridge_failures
                        .push(format!("peer {c} bridging {i}: {e}")),
                }
            }
            for r in self.complete(&ops) {
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
            self.sim.elapsed()
        );
    }

    /// Phase 3: `messages` messages over every arc, then run until quiet.
    fn exchange_messages(&mut self, messages: u32, summary: &mut Summary) {
        let before = self.sim.stats().messages_delivered;
        for &n in &self.nodes {
            let out: Vec<PeerId> = self
                .sim
                .engine(n)
                .outview(&self.protocol)
                .into_keys()
                .collect();
            for q in out {
                let Some(to) = self.sim.node_of(&q) else {
                    continue;
                };
                for m in 0..messages {
                    let payload = Bytes::from(format!("message {m} from {n}"));
                    match self.sim.send(n, self.protocol, to, payload) {
                        Ok(()) => summary.sent += 1,
                        Err(_) => summary.send_failures += 1,
                    }
                }
            }
        }
        if !self.sim.run_until_quiet(OP_LIMIT) {
            tracing::warn!(
                "still busy after {OP_LIMIT:?} (virtual): messages in flight count as lost"
            );
        }
        summary.delivered = self.sim.stats().messages_delivered - before;
    }

    /// Phase 4: each peer's row and connections into the summary.
    fn summarize(&self, summary: &mut Summary) {
        let index: BTreeMap<PeerId, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (self.sim.peer(*n), i))
            .collect();
        for (i, &n) in self.nodes.iter().enumerate() {
            let engine = self.sim.engine(n);
            summary.add_connections(i, &engine.connections(), &index);
            summary.peers.push(PeerRow {
                id: self.sim.peer(n),
                contact: self.contacts[i],
                inview: engine.inview(&self.protocol),
                outview: engine.outview(&self.protocol),
                received: engine.stats().messages_received,
            });
        }
    }
}
