//! A random overlay on real transports: every node joins a random earlier
//! one out of band (a random tree), then random nodes bridge random pairs
//! of their neighbours; and the overlay invariant, checked on every node:
//! both ends of every arc agree, arcs ride living connections only, living
//! connections carry arcs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use overlay_core::{
    link_out_of_band, ConnState, EventStream, Keypair, Node, NodeConfig, PeerId, ProtocolHandle,
    ProtocolId, Transport,
};
use rand::Rng;

use crate::{TestResult, GUARD};

/// Bridges asked at the same time.
const BATCH: usize = 10;

/// What [`RandomOverlay::grow`] built.
#[derive(Debug, Clone, Copy)]
pub struct Grown {
    /// Joins and bridges, wall clock.
    pub took: Duration,
    /// Arcs, with multiplicity.
    pub arcs: u32,
    /// Living connections, both ends counted.
    pub connection_ends: usize,
}

/// Nodes of one protocol, indexed `0..n`.
pub struct RandomOverlay {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Each node's handle of the protocol.
    pub handles: Vec<ProtocolHandle>,
    /// Each node's event stream (kept open; not read).
    pub streams: Vec<EventStream>,
    /// Each node's id.
    pub ids: Vec<PeerId>,
    /// Index of each id.
    pub index: BTreeMap<PeerId, usize>,
}

impl RandomOverlay {
    /// Spawn one node per transport and open protocol `proto` on each.
    ///
    /// # Errors
    /// If a node refuses the protocol.
    pub async fn spawn<T: Transport>(
        proto: ProtocolId,
        transports: impl IntoIterator<Item = T>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut o = RandomOverlay {
            nodes: Vec::new(),
            handles: Vec::new(),
            streams: Vec::new(),
            ids: Vec::new(),
            index: BTreeMap::new(),
        };
        for transport in transports {
            let node = Node::spawn(transport, Keypair::generate(), NodeConfig::default());
            let (h, events) = node.protocol(proto).await?;
            o.index.insert(node.id(), o.nodes.len());
            o.ids.push(node.id());
            o.nodes.push(node);
            o.handles.push(h);
            o.streams.push(events);
        }
        Ok(o)
    }

    /// A random tree: node `i` joins a random earlier node out of band.
    /// Returns once both ends of every join agree (joins complete at the
    /// joining side first).
    ///
    /// # Errors
    /// If a join fails or the invariant does not settle.
    pub async fn join_random_tree(&self, rng: &mut impl Rng) -> TestResult {
        for (i, handle) in self.handles.iter().enumerate().skip(1) {
            let j = rng.gen_range(0..i);
            link_out_of_band(handle, &self.nodes[j]).await?;
        }
        self.check_invariant().await?;
        Ok(())
    }

    /// `bridges` random bridges, ten at a time, each by a random node
    /// between two distinct random neighbours of it; every one must
    /// succeed, and the invariant must hold after each batch.
    ///
    /// # Errors
    /// The first failed bridge or invariant violation.
    pub async fn bridge_randomly(&self, rng: &mut impl Rng, bridges: usize) -> TestResult {
        let n = self.nodes.len();
        let mut done = 0;
        while done < bridges {
            let mut batch = Vec::new();
            while batch.len() < BATCH.min(bridges - done) {
                let b = rng.gen_range(0..n);
                let neighbours: Vec<PeerId> =
                    self.nodes[b].neighbours().await?.into_iter().collect();
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
                    .map(|(b, from, to)| self.handles[*b].connect(*from, *to)),
            )
            .await;
            for ((b, from, to), r) in batch.iter().zip(results) {
                if let Err(e) = r {
                    return Err(format!(
                        "bridge by {b} of {} -> {} failed: {e}",
                        self.index[from], self.index[to]
                    )
                    .into());
                }
            }
            done += batch.len();
            self.check_invariant().await?;
        }
        Ok(())
    }

    /// The whole scenario: a random tree, then `bridges` random bridges,
    /// then the invariant, with at least one arc per join and per bridge.
    ///
    /// # Errors
    /// The first failed join, bridge or check.
    pub async fn grow(
        &self,
        rng: &mut impl Rng,
        bridges: usize,
    ) -> Result<Grown, Box<dyn std::error::Error>> {
        let start = Instant::now();
        self.join_random_tree(rng).await?;
        self.bridge_randomly(rng, bridges).await?;
        let took = start.elapsed();
        let arcs = self.check_invariant().await?;
        let least = self.nodes.len().saturating_sub(1) + bridges;
        if (arcs as usize) < least {
            return Err(
                format!("{arcs} arcs: fewer than the {least} joins and bridges made").into(),
            );
        }
        let connection_ends = self.living_connection_ends().await?;
        Ok(Grown {
            took,
            arcs,
            connection_ends,
        })
    }

    /// Wait until every arc's two ends agree (bounded by [`GUARD`]) and
    /// every connection's state fits its arcs; returns the number of arcs.
    ///
    /// # Errors
    /// The violations still there at the guard time.
    pub async fn check_invariant(&self) -> Result<u32, String> {
        let deadline = Instant::now() + GUARD;
        loop {
            let (arcs, problems) = self.violations().await?;
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

    /// The arcs counted from the outviews, and what breaks the invariant now.
    async fn violations(&self) -> Result<(u32, Vec<String>), String> {
        let (ids, index) = (&self.ids, &self.index);
        let mut outviews = Vec::new();
        let mut inviews = Vec::new();
        for h in &self.handles {
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
        for (i, node) in self.nodes.iter().enumerate() {
            for info in node.connections().await.map_err(|e| e.to_string())? {
                let carries = info.arcs.iter().any(|(_, c)| c.out + c.incoming > 0);
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
        Ok((arcs, problems))
    }

    /// Living connections, both ends counted.
    ///
    /// # Errors
    /// If a node has shut down.
    pub async fn living_connection_ends(&self) -> Result<usize, overlay_core::NodeError> {
        let mut ends = 0;
        for node in &self.nodes {
            ends += node
                .connections()
                .await?
                .iter()
                .filter(|i| i.state == ConnState::Living)
                .count();
        }
        Ok(ends)
    }

    /// Shut every node down.
    pub async fn shutdown(&self) {
        for n in &self.nodes {
            n.shutdown().await;
        }
    }
}
