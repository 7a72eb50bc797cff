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

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::connection::{ConnState, ConnectionInfo};
use crate::id::{ConnId, PeerId, ProtocolId};

use super::driver::Sim;
use super::network::NodeId;

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

pub(crate) fn check(sim: &Sim) -> Result<Report, InvariantError> {
    let mut v = Vec::new();
    if !sim.is_quiet() {
        v.push(Violation::NotQuiet);
    }
    let now = sim.elapsed();
    let pending_timeout = sim.config().engine.pending_timeout();
    let mut report = Report::default();
    // Each living node's established connections, by remote peer.
    let mut tables: Vec<Option<BTreeMap<PeerId, ConnectionInfo>>> = Vec::with_capacity(sim.len());
    for node in sim.node_ids() {
        if !sim.is_alive(node) {
            tables.push(None);
            continue;
        }
        report.nodes += 1;
        let mut table = BTreeMap::new();
        for c in sim.engine(node).connections() {
            let arcs: u32 = c.arcs.iter().map(|(_, a)| a.out + a.inn).sum();
            match c.state {
                ConnState::Handshaking | ConnState::Opened => {
                    report.pending += 1;
                    match sim.transport.view(node, c.conn) {
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
                            table.insert(p, c);
                        }
                        None => v.push(Violation::UnknownPeer { node, conn: c.conn }),
                    }
                }
            }
        }
        tables.push(Some(table));
    }
    for node in sim.node_ids() {
        let Some(Some(table)) = tables.get(node.idx()) else {
            continue;
        };
        let me = sim.peer(node);
        for (peer, c) in table {
            let Some(other) = sim.node_of(peer).filter(|o| sim.is_alive(*o)) else {
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
            let ep = sim.transport.view(node, c.conn);
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
                    .map_or(0, |(_, a)| a.inn);
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
