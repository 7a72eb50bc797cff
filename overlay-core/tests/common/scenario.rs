//! A growing network: newcomers join a random member out of band, then ask
//! their contact to bridge them to a few of its neighbours; messages flow
//! on the new arcs. Shared by the scale scenario and the determinism check.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use overlay_core::sim::{NodeId, OpRef, Sim};
use overlay_core::ProtocolId;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What the growth did.
#[derive(Debug, Default, Clone)]
pub struct Growth {
    pub joins_ok: u64,
    pub joins_failed: u64,
    pub bridges_ok: u64,
    pub bridges_failed: u64,
    pub messages_sent: u64,
    /// Why operations failed: reason -> count.
    pub failures: BTreeMap<String, u64>,
}

impl Growth {
    fn fail(&mut self, what: &str, why: impl std::fmt::Display) {
        *self.failures.entry(format!("{what}: {why}")).or_default() += 1;
    }
}

/// Grow `sim` to `peers` nodes: one newcomer every `interval`, each joining
/// a random member, then bridged by it to up to `fanout` of its neighbours,
/// then sending one message on each of its arcs.
pub fn grow(
    sim: &mut Sim,
    p: ProtocolId,
    peers: usize,
    fanout: usize,
    interval: Duration,
    seed: u64,
) -> Growth {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut g = Growth::default();
    let mut members: Vec<NodeId> = Vec::new();
    // Join op -> contact; bridge op -> newcomer; (newcomer, contact, tries)
    // waiting for the contact to see the newcomer's connection.
    let mut joins: BTreeMap<OpRef, NodeId> = BTreeMap::new();
    let mut bridges: BTreeMap<OpRef, NodeId> = BTreeMap::new();
    let mut asks: Vec<(NodeId, NodeId, u32)> = Vec::new();
    let first = sim.add_node();
    members.push(first);
    let mut added = 1;
    while added < peers || !joins.is_empty() || !bridges.is_empty() || !asks.is_empty() {
        if added < peers {
            let n = sim.add_node();
            added += 1;
            let contact = *members.choose(&mut rng).unwrap_or(&first);
            match sim.join(n, contact, p) {
                Ok(op) => {
                    joins.insert(op, contact);
                }
                Err(e) => {
                    g.joins_failed += 1;
                    g.fail("join", e);
                }
            }
            members.push(n);
        }
        sim.run_for(interval);
        for (node, c) in sim.take_completions() {
            let op = OpRef { node, op: c.op };
            if let Some(contact) = joins.remove(&op) {
                match &c.result {
                    Ok(()) => {
                        g.joins_ok += 1;
                        asks.push((node, contact, 0));
                    }
                    Err(e) => {
                        g.joins_failed += 1;
                        g.fail("join", e);
                    }
                }
            } else if let Some(newcomer) = bridges.remove(&op) {
                match &c.result {
                    Ok(()) => g.bridges_ok += 1,
                    Err(e) => {
                        g.bridges_failed += 1;
                        g.fail("bridge", e);
                    }
                }
                let outs = outview_nodes(sim, newcomer, p);
                for to in outs {
                    if sim
                        .send(newcomer, p, to, Bytes::from_static(b"hello neighbour"))
                        .is_ok()
                    {
                        g.messages_sent += 1;
                    }
                }
            }
        }
        // The newcomer's request reaches its contact over their connection:
        // the contact acts once it holds that connection (a few tries).
        for (node, contact, tries) in std::mem::take(&mut asks) {
            let newcomer = sim.peer(node);
            if !sim.engine(contact).neighbours().contains(&newcomer) {
                if tries < 50 {
                    asks.push((node, contact, tries + 1));
                } else {
                    g.fail("ask", "the contact never saw the newcomer");
                }
                continue;
            }
            let peers_of_contact: Vec<NodeId> = sim
                .engine(contact)
                .neighbours()
                .iter()
                .filter(|q| **q != newcomer)
                .filter_map(|q| sim.node_of(q))
                .collect();
            let k = rng.gen_range(1..=fanout.max(1));
            let targets: Vec<NodeId> = peers_of_contact
                .choose_multiple(&mut rng, k)
                .copied()
                .collect();
            if targets.is_empty() {
                continue;
            }
            match sim.connect(contact, p, &[node], &targets) {
                Ok(op) => {
                    bridges.insert(op, node);
                }
                Err(e) => {
                    g.bridges_failed += 1;
                    g.fail("bridge", e);
                }
            }
        }
    }
    g
}

/// What the churn did.
#[derive(Debug, Default, Clone)]
pub struct Churn {
    pub bridges: u64,
    pub bridges_ok: u64,
    pub disconnects: u64,
    pub messages_sent: u64,
    pub failures: BTreeMap<String, u64>,
}

/// Random activity on a grown network for `rounds` rounds of `interval`:
/// each round, `per_round` random nodes each do one thing: bridge two of
/// their neighbours (either way round, so glares happen), drop an arc, or
/// send a message on every arc.
pub fn churn(
    sim: &mut Sim,
    p: ProtocolId,
    rounds: usize,
    per_round: usize,
    interval: Duration,
    seed: u64,
) -> Churn {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Churn::default();
    let nodes: Vec<NodeId> = sim.node_ids().collect();
    for _ in 0..rounds {
        for _ in 0..per_round {
            let Some(&n) = nodes.choose(&mut rng) else {
                break;
            };
            if !sim.is_alive(n) {
                continue;
            }
            let neighbours: Vec<NodeId> = sim
                .engine(n)
                .neighbours()
                .iter()
                .filter_map(|q| sim.node_of(q))
                .collect();
            match rng.gen_range(0..10) {
                0..=5 if neighbours.len() >= 2 => {
                    let pair: Vec<NodeId> =
                        neighbours.choose_multiple(&mut rng, 2).copied().collect();
                    let count = rng.gen_range(1..=2);
                    let to = vec![pair[1]; count];
                    match sim.connect(n, p, &[pair[0]], &to) {
                        Ok(_) => c.bridges += 1,
                        Err(e) => *c.failures.entry(format!("bridge: {e}")).or_default() += 1,
                    }
                }
                6..=7 => {
                    let outs = outview_nodes(sim, n, p);
                    if let Some(&to) = outs.choose(&mut rng) {
                        if sim.disconnect(n, p, to).is_ok() {
                            c.disconnects += 1;
                        }
                    }
                }
                _ => {
                    let outs = outview_nodes(sim, n, p);
                    for to in outs {
                        if sim.send(n, p, to, Bytes::from_static(b"gossip")).is_ok() {
                            c.messages_sent += 1;
                        }
                    }
                }
            }
        }
        sim.run_for(interval);
        for (_, done) in sim.take_completions() {
            match done.result {
                Ok(()) => c.bridges_ok += 1,
                Err(e) => *c.failures.entry(format!("op: {e}")).or_default() += 1,
            }
        }
    }
    c
}

/// The nodes `n` holds arcs of protocol `p` to (each once).
pub fn outview_nodes(sim: &Sim, n: NodeId, p: ProtocolId) -> Vec<NodeId> {
    sim.engine(n)
        .outview(&p)
        .keys()
        .filter_map(|q| sim.node_of(q))
        .collect()
}
