//! The global invariant checker.
//!
//! Once the network is quiet (nothing in flight, only engine timers left),
//! over every living node:
//!
//! 1. **Arc agreement**: for every protocol and pair, A's outview count of
//!    B equals B's inview count of A.
//! 2. **Arcs ride living connections**: an arc exists only on a living
//!    connection (not pending, not dying); both ends hold that connection,
//!    established, each naming the other, over one transport connection
//!    that is open and paired end to end. A living connection carries at
//!    least one arc (with none left it is dying).
//! 3. **Pending entries respect their timeout**: no pending connection is
//!    older than the pending timeout.
//! 4. **One connection per pair**: a node holds at most one established
//!    connection to a peer.
//! 5. **No leak**: every transport endpoint of a node belongs to a
//!    connection of its engine; no dying connection (or any engine
//!    deadline) is past its time; no operation, bridge wait or early
//!    signal is left with no timer that could ever end it.
//!
//! The local checks cover what one node can check alone (4, the deadlines, the
//! per-neighbour limits), at any time: the simulator runs it after every
//! step when [`super::SimConfig::with_check_every_step`] is set.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::connection::{ConnState, ConnectionInfo};
use crate::engine::Engine;
use crate::id::{ConnId, PeerId, ProtocolId};

use super::driver::Sim;
use super::network::NodeId;
use super::transport::EndpointView;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// The check ran while the network was not quiet.
    NotQuiet,
    /// `from`'s outview count of `to` differs from `to`'s inview count of `from`.
    ArcMismatch {
        /// The protocol.
        protocol: ProtocolId,
        /// The arc's tail.
        from: NodeId,
        /// The arc's head.
        to: NodeId,
        /// `from`'s outview count of `to`.
        out: u32,
        /// `to`'s inview count of `from`.
        inn: u32,
    },
    /// Arcs on a connection that is not living.
    ArcOffLiving {
        /// The node.
        node: NodeId,
        /// Its connection.
        conn: ConnId,
        /// The connection's state.
        state: ConnState,
    },
    /// A living connection with no arc (it should be dying).
    LivingWithoutArcs {
        /// The node.
        node: NodeId,
        /// Its connection.
        conn: ConnId,
    },
    /// An established connection whose transport connection is missing,
    /// not open, or not paired with the remote's.
    NoTransport {
        /// The node.
        node: NodeId,
        /// Its connection.
        conn: ConnId,
    },
    /// `node` holds an established connection to `peer`, which holds none
    /// back (or not over the same transport connection).
    OneSided {
        /// The node.
        node: NodeId,
        /// The remote.
        peer: NodeId,
    },
    /// An established connection to a peer that is no node of the simulation
    /// or has crashed.
    UnknownPeer {
        /// The node.
        node: NodeId,
        /// Its connection.
        conn: ConnId,
    },
    /// A pending connection older than the pending timeout.
    PendingOverdue {
        /// The node.
        node: NodeId,
        /// Its connection.
        conn: ConnId,
        /// How far past its timeout.
        overdue: Duration,
    },
    /// Two established connections of one node to the same peer.
    DuplicateConnection {
        /// The node.
        node: NodeId,
        /// The remote.
        peer: PeerId,
    },
    /// Transport endpoints of a node that no engine connection owns.
    TransportLeak {
        /// The node.
        node: NodeId,
        /// Endpoints the transport holds.
        endpoints: usize,
        /// Of them, owned by an engine connection.
        owned: usize,
    },
    /// A connection (dying, or pending) past its deadline.
    DeadlinePassed {
        /// The node.
        node: NodeId,
        /// Its connection.
        conn: ConnId,
        /// Its state.
        state: ConnState,
        /// How far past.
        overdue: Duration,
    },
    /// Work that nothing can end: operations, bridge waits or early signals
    /// while the engine has no timer left.
    Leaked {
        /// The node.
        node: NodeId,
        /// Operations in flight.
        ops: usize,
        /// Bridge waits.
        bridge_waits: usize,
        /// Early signals.
        early_signals: usize,
    },
    /// A per-node limit exceeded (arcs per pair, protocols per connection,
    /// pending handshakes, reassembly or reply queue memory).
    OverLimit {
        /// The node.
        node: NodeId,
        /// Which limit.
        limit: &'static str,
        /// The value seen.
        value: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NotQuiet => {
                f.write_str("the network is not quiet: run it until quiet before checking")
            }
            Violation::ArcMismatch {
                protocol,
                from,
                to,
                out,
                inn,
            } => {
                write!(
                    f,
                    "{protocol}: {from} has {out} arc(s) to {to}, which has {inn} from {from}"
                )
            }
            Violation::ArcOffLiving { node, conn, state } => {
                write!(f, "{node}/{conn}: arcs on a {state:?} connection")
            }
            Violation::LivingWithoutArcs { node, conn } => {
                write!(f, "{node}/{conn}: living with no arc (should be dying)")
            }
            Violation::NoTransport { node, conn } => write!(
                f,
                "{node}/{conn}: established but its transport connection is not open and paired"
            ),
            Violation::OneSided { node, peer } => write!(
                f,
                "{node} holds a connection to {peer}, which does not hold it back"
            ),
            Violation::UnknownPeer { node, conn } => write!(
                f,
                "{node}/{conn}: connected to a peer that is not a living node"
            ),
            Violation::PendingOverdue {
                node,
                conn,
                overdue,
            } => write!(f, "{node}/{conn}: pending {overdue:?} past its timeout"),
            Violation::DuplicateConnection { node, peer } => write!(
                f,
                "{node} holds two established connections to {}",
                peer.short()
            ),
            Violation::TransportLeak {
                node,
                endpoints,
                owned,
            } => write!(
                f,
                "{node}: {endpoints} transport endpoints, only {owned} owned by the engine (leak)"
            ),
            Violation::DeadlinePassed {
                node,
                conn,
                state,
                overdue,
            } => write!(f, "{node}/{conn}: {state:?} {overdue:?} past its deadline"),
            Violation::Leaked {
                node,
                ops,
                bridge_waits,
                early_signals,
            } => write!(
                f,
                "{node}: {ops} operations, {bridge_waits} bridge waits, {early_signals} early signals and no timer to end them"
            ),
            Violation::OverLimit { node, limit, value } => {
                write!(f, "{node}: {limit} at {value}, past its limit")
            }
        }
    }
}

/// The invariants do not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invariant violation(s), first: {}", .violations.len(), .violations.first().map(ToString::to_string).unwrap_or_default())]
pub struct InvariantError {
    /// Every violation found (deterministic order).
    pub violations: Vec<Violation>,
}

/// What a successful check saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Living nodes checked.
    pub nodes: usize,
    /// Established connections (counted once per pair).
    pub connections: usize,
    /// Arcs, all protocols, counted once (at their tail).
    pub arcs: u64,
    /// Pending connections (within their timeout).
    pub pending: usize,
    /// Dying connections.
    pub dying: usize,
}

/// What the checker sees of one node.
#[derive(Debug, Clone)]
pub(crate) struct NodeSnapshot {
    pub(crate) alive: bool,
    pub(crate) peer: PeerId,
    pub(crate) conns: Vec<ConnectionInfo>,
    /// Transport endpoints the node holds.
    pub(crate) endpoints: usize,
    pub(crate) timer: Option<Instant>,
    pub(crate) ops: usize,
    pub(crate) bridge_waits: usize,
    pub(crate) early_signals: usize,
    pub(crate) reassembly: usize,
}

/// What the checker sees of a whole simulation.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) quiet: bool,
    pub(crate) now: Instant,
    pub(crate) elapsed: Duration,
    pub(crate) config: Config,
    pub(crate) nodes: Vec<NodeSnapshot>,
    pub(crate) views: BTreeMap<(NodeId, ConnId), EndpointView>,
}

fn node_snapshot(sim: &Sim, node: NodeId) -> NodeSnapshot {
    let e: &Engine = sim.engine(node);
    NodeSnapshot {
        alive: sim.is_alive(node),
        peer: sim.peer(node),
        conns: e.connections(),
        endpoints: sim.transport.endpoint_count(node),
        timer: e.poll_timeout(),
        ops: e.operations_in_flight(),
        bridge_waits: e.bridge_waits(),
        early_signals: e.early_signals(),
        reassembly: e.reassembly_memory(),
    }
}

pub(crate) fn snapshot(sim: &Sim) -> Snapshot {
    let mut views = BTreeMap::new();
    let mut nodes = Vec::with_capacity(sim.len());
    for node in sim.node_ids() {
        let n = node_snapshot(sim, node);
        for c in &n.conns {
            if let Some(v) = sim.transport.view(node, c.conn) {
                views.insert((node, c.conn), v);
            }
        }
        nodes.push(n);
    }
    Snapshot {
        quiet: sim.is_quiet(),
        now: sim.now(),
        elapsed: sim.elapsed(),
        config: sim.config().engine.clone(),
        nodes,
        views,
    }
}

pub(crate) fn check(sim: &Sim) -> Result<Report, InvariantError> {
    check_snapshot(&snapshot(sim))
}

/// The invariants one node can check alone, at any time (not only when
/// the network is quiet): one connection per pair, no deadline past, the
/// per-node limits.
pub(crate) fn local(sim: &Sim, node: NodeId) -> Vec<Violation> {
    let n = node_snapshot(sim, node);
    let mut v = Vec::new();
    local_checks(node, &n, sim.now(), &sim.config().engine, &mut v);
    v
}

fn local_checks(
    node: NodeId,
    n: &NodeSnapshot,
    now: Instant,
    config: &Config,
    v: &mut Vec<Violation>,
) {
    let mut seen: BTreeMap<PeerId, ConnId> = BTreeMap::new();
    let mut pending = 0u64;
    for c in &n.conns {
        if c.state.is_pending() {
            pending += 1;
        }
        if c.state.is_established() {
            if let Some(p) = c.peer {
                if seen.insert(p, c.conn).is_some() {
                    v.push(Violation::DuplicateConnection { node, peer: p });
                }
            }
        }
        if let Some(d) = c.deadline {
            if now > d && !c.state.is_pending() {
                v.push(Violation::DeadlinePassed {
                    node,
                    conn: c.conn,
                    state: c.state,
                    overdue: now - d,
                });
            }
        }
        if c.arcs.len() > config.max_protocols_per_connection() {
            v.push(Violation::OverLimit {
                node,
                limit: "protocols per connection",
                value: c.arcs.len() as u64,
            });
        }
        for (_, a) in &c.arcs {
            let most = a.out.max(a.incoming);
            if most > config.max_arcs_per_pair() {
                v.push(Violation::OverLimit {
                    node,
                    limit: "arcs per pair",
                    value: u64::from(most),
                });
            }
        }
        // One frame may land past the limit (the check is before queuing).
        let reply_bound = config.max_reply_queue() + 2 * config.max_frame_size() + 128;
        if c.control_memory > reply_bound {
            v.push(Violation::OverLimit {
                node,
                limit: "reply queue memory",
                value: c.control_memory as u64,
            });
        }
    }
    if pending > config.max_pending() as u64 {
        v.push(Violation::OverLimit {
            node,
            limit: "pending handshakes",
            value: pending,
        });
    }
    if n.reassembly > config.max_reassembly_memory() {
        v.push(Violation::OverLimit {
            node,
            limit: "reassembly memory",
            value: n.reassembly as u64,
        });
    }
}

pub(crate) fn check_snapshot(snap: &Snapshot) -> Result<Report, InvariantError> {
    let mut v = Vec::new();
    if !snap.quiet {
        v.push(Violation::NotQuiet);
    }
    let now = snap.elapsed;
    let pending_timeout = snap.config.pending_timeout();
    let node_of = |peer: &PeerId| {
        snap.nodes
            .iter()
            .position(|n| n.peer == *peer)
            .map(|i| NodeId(i as u32))
    };
    let mut report = Report::default();
    // Each living node's established connections, by remote peer.
    let mut tables: Vec<Option<BTreeMap<PeerId, ConnectionInfo>>> =
        Vec::with_capacity(snap.nodes.len());
    for (i, n) in snap.nodes.iter().enumerate() {
        let node = NodeId(i as u32);
        if !n.alive {
            tables.push(None);
            continue;
        }
        report.nodes += 1;
        local_checks(node, n, snap.now, &snap.config, &mut v);
        let owned = n
            .conns
            .iter()
            .filter(|c| snap.views.contains_key(&(node, c.conn)))
            .count();
        if n.endpoints > owned {
            v.push(Violation::TransportLeak {
                node,
                endpoints: n.endpoints,
                owned,
            });
        }
        if n.timer.is_none() && (n.ops > 0 || n.bridge_waits > 0 || n.early_signals > 0) {
            v.push(Violation::Leaked {
                node,
                ops: n.ops,
                bridge_waits: n.bridge_waits,
                early_signals: n.early_signals,
            });
        }
        let mut table = BTreeMap::new();
        for c in &n.conns {
            let arcs: u32 = c.arcs.iter().map(|(_, a)| a.out + a.incoming).sum();
            match c.state {
                ConnState::Handshaking | ConnState::Opened => {
                    report.pending += 1;
                    match snap.views.get(&(node, c.conn)) {
                        Some(ep) => {
                            let deadline = ep.opened_at + pending_timeout;
                            if now > deadline {
                                v.push(Violation::PendingOverdue {
                                    node,
                                    conn: c.conn,
                                    overdue: now - deadline,
                                });
                            }
                        }
                        None => v.push(Violation::NoTransport { node, conn: c.conn }),
                    }
                    if arcs > 0 {
                        v.push(Violation::ArcOffLiving {
                            node,
                            conn: c.conn,
                            state: c.state,
                        });
                    }
                }
                ConnState::Dying | ConnState::Living => {
                    if c.state == ConnState::Dying {
                        report.dying += 1;
                        if arcs > 0 {
                            v.push(Violation::ArcOffLiving {
                                node,
                                conn: c.conn,
                                state: c.state,
                            });
                        }
                    } else if arcs == 0 {
                        v.push(Violation::LivingWithoutArcs { node, conn: c.conn });
                    }
                    match c.peer {
                        Some(p) => {
                            table.insert(p, c.clone());
                        }
                        None => v.push(Violation::UnknownPeer { node, conn: c.conn }),
                    }
                }
            }
        }
        tables.push(Some(table));
    }
    for (i, n) in snap.nodes.iter().enumerate() {
        let node = NodeId(i as u32);
        let Some(Some(table)) = tables.get(node.idx()) else {
            continue;
        };
        let me = n.peer;
        for (peer, c) in table {
            let Some(other) = node_of(peer).filter(|o| snap.nodes[o.idx()].alive) else {
                v.push(Violation::UnknownPeer { node, conn: c.conn });
                continue;
            };
            let Some(back) = tables
                .get(other.idx())
                .and_then(|t| t.as_ref())
                .and_then(|t| t.get(&me))
            else {
                v.push(Violation::OneSided { node, peer: other });
                continue;
            };
            let ep = snap.views.get(&(node, c.conn));
            let paired = ep.is_some_and(|e| e.open && e.remote == Some((other, back.conn)));
            if !paired {
                v.push(Violation::NoTransport { node, conn: c.conn });
            }
            if node < other {
                report.connections += 1;
            }
            // Arcs node -> other, per protocol, against other's inview.
            let mut protocols: Vec<ProtocolId> = c.arcs.iter().map(|(p, _)| *p).collect();
            protocols.extend(back.arcs.iter().map(|(p, _)| *p));
            protocols.sort();
            protocols.dedup();
            for p in protocols {
                let out = c
                    .arcs
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map_or(0, |(_, a)| a.out);
                let inn = back
                    .arcs
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map_or(0, |(_, a)| a.incoming);
                report.arcs += u64::from(out);
                if out != inn {
                    v.push(Violation::ArcMismatch {
                        protocol: p,
                        from: node,
                        to: other,
                        out,
                        inn,
                    });
                }
            }
        }
    }
    if v.is_empty() {
        Ok(report)
    } else {
        Err(InvariantError { violations: v })
    }
}

#[cfg(test)]
mod tests {
    //! Each violation kind the checker cannot be shown with a correct
    //! engine is forced on a snapshot of a real, healthy simulation.
    use super::*;
    use crate::sim::SimConfig;

    fn healthy() -> Snapshot {
        let mut sim = Sim::new(SimConfig::new(300));
        let (a, b) = (sim.add_node(), sim.add_node());
        let p = ProtocolId::new("inv").unwrap_or_else(|e| panic!("{e}"));
        let op = sim.join(a, b, p).unwrap_or_else(|e| panic!("{e}"));
        assert!(sim
            .run_until_complete(op, Duration::from_secs(60))
            .is_some());
        assert!(sim.run_until_quiet(Duration::from_secs(60)));
        let snap = snapshot(&sim);
        assert_eq!(
            check_snapshot(&snap).err(),
            None,
            "the healthy run must pass"
        );
        snap
    }

    fn violations(snap: &Snapshot) -> Vec<Violation> {
        check_snapshot(snap)
            .err()
            .map(|e| e.violations)
            .unwrap_or_default()
    }

    #[test]
    fn two_established_connections_for_one_pair_fire() {
        let mut snap = healthy();
        let mut twin = snap.nodes[0].conns[0].clone();
        twin.conn = ConnId(99);
        snap.nodes[0].conns.push(twin);
        let v = violations(&snap);
        assert!(
            v.iter().any(
                |x| matches!(x, Violation::DuplicateConnection { node, .. } if *node == NodeId(0))
            ),
            "{v:?}"
        );
    }

    #[test]
    fn a_transport_endpoint_without_engine_connection_fires() {
        let mut snap = healthy();
        snap.nodes[1].endpoints += 1;
        let v = violations(&snap);
        assert!(
            v.contains(&Violation::TransportLeak {
                node: NodeId(1),
                endpoints: 2,
                owned: 1
            }),
            "{v:?}"
        );
    }

    #[test]
    fn a_dying_connection_past_its_timeout_fires() {
        let mut snap = healthy();
        let c = &mut snap.nodes[0].conns[0];
        c.state = ConnState::Dying;
        c.arcs.clear();
        c.deadline = Some(snap.now - Duration::from_secs(1));
        let v = violations(&snap);
        assert!(
            v.iter().any(|x| matches!(
                x,
                Violation::DeadlinePassed {
                    state: ConnState::Dying,
                    ..
                }
            )),
            "{v:?}"
        );
    }

    #[test]
    fn leaked_operations_waits_and_early_signals_fire() {
        let mut snap = healthy();
        snap.nodes[0].timer = None;
        snap.nodes[0].ops = 1;
        snap.nodes[0].bridge_waits = 2;
        snap.nodes[0].early_signals = 3;
        let v = violations(&snap);
        assert!(
            v.contains(&Violation::Leaked {
                node: NodeId(0),
                ops: 1,
                bridge_waits: 2,
                early_signals: 3
            }),
            "{v:?}"
        );
    }

    #[test]
    fn limits_exceeded_fire() {
        let mut snap = healthy();
        snap.nodes[1].reassembly = snap.config.max_reassembly_memory() + 1;
        let v = violations(&snap);
        assert!(
            v.iter().any(|x| matches!(
                x,
                Violation::OverLimit {
                    limit: "reassembly memory",
                    ..
                }
            )),
            "{v:?}"
        );
    }
}
