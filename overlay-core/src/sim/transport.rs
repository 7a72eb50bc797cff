//! The simulated transport: interprets every node's [`TransportCommand`]s
//! and schedules the [`TransportEvent`]s a real WebRTC stack would give.
//!
//! - `Open { Initiator }` emits an offer (`sim-offer <node> <conn>`) and a
//!   candidate; the acceptor, given `Open { Acceptor }` and the offer, emits
//!   an answer (`sim-answer <node> <conn>`) and a candidate.
//! - When the answer reaches the initiator, and the pair can reach each
//!   other, both ends get `Opened` after a connect delay (unless the
//!   handshake is lost: then nothing, as a stuck ICE check).
//! - `Send` delivers the frame whole, reliably and in order, after the
//!   transmit time and latency (loss adds retransmission delay), and gives
//!   the send credit back as `Sent` once transmitted.
//! - `Close` gives the remote `Closed { Remote }` after the frames in flight
//!   (a connection closed before it connected tells the remote nothing).
//! - Each endpoint has a certificate fingerprint of its own (derived from
//!   its node and connection); `Opened` carries both ends' as the
//!   connection's [`ChannelBinding`]. Between two nodes whose connections
//!   are *intercepted* ([`crate::sim::Sim::intercept`]), a relay sits in
//!   the middle as a bridge that terminated DTLS on each side would: each
//!   end sees a relay certificate as its remote's, and frames pass through
//!   unchanged.
//! - A crash gives every remote `Closed { Failed }` after `crash_detect`;
//!   a partition holds frames until it heals, or closes both ends with
//!   `Closed { TimedOut }` after `consent_timeout`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use crate::id::ConnId;
use crate::signal::Signal;
use crate::transport::{
    ChannelBinding, CloseReason, Fingerprint, Role, TransportCommand, TransportEvent,
};

use super::network::{Network, NodeId};
use super::queue::{Item, Queue};

/// What a fault hook does with one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Deliver it as sent.
    Deliver,
    /// Lose it for good (breaks the reliable channel: a fault).
    Drop,
    /// Deliver these bytes instead.
    Replace(Bytes),
}

/// A fault-injection hook: sees every frame `(from, to, bytes)` as it is
/// sent and decides what the wire does with it.
pub type FaultHook = Box<dyn FnMut(NodeId, NodeId, &Bytes) -> Fault>;

/// Counters of the simulated transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// Connections the engines opened (`Open` commands).
    pub opens: u64,
    /// Handshakes whose ends both opened.
    pub connected: u64,
    /// Handshakes lost (never connecting).
    pub handshakes_lost: u64,
    /// Frames put on the wire.
    pub frames: u64,
    /// Bytes put on the wire.
    pub bytes: u64,
    /// Frames that could not be sent (remote gone, closed, not open).
    pub frames_dropped: u64,
    /// Frames held by a partition at some point.
    pub frames_held: u64,
    /// Frames a fault hook dropped or replaced.
    pub frames_faulted: u64,
    /// Signals for the transport it could not parse.
    pub bad_signals: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Handshake in progress.
    Connecting,
    /// Both ends were scheduled to open.
    Opening,
    /// Open: carries frames.
    Open,
}

#[derive(Debug)]
enum Held {
    Frame(Bytes),
    Close,
}

#[derive(Debug)]
struct Endpoint {
    role: Role,
    state: State,
    remote: Option<(NodeId, ConnId)>,
    /// When the engine opened it (virtual time).
    opened_at: Duration,
    /// When this end's wire is free again (bandwidth).
    tx_free_at: Duration,
    /// Arrival time of the last thing sent toward the remote (keeps order).
    last_arrival: Duration,
    /// The remote is gone (its close is on its way): sends are lost.
    remote_gone: bool,
    /// Frames and closes toward this end, held by a partition.
    held: VecDeque<Held>,
}

/// What the invariant checker sees of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndpointView {
    pub(crate) open: bool,
    pub(crate) remote: Option<(NodeId, ConnId)>,
    pub(crate) opened_at: Duration,
}

#[derive(Default)]
struct NodeNet {
    alive: bool,
    endpoints: BTreeMap<ConnId, Endpoint>,
}

/// Every node's connections, as the wire sees them.
#[derive(Default)]
pub(crate) struct SimTransport {
    nodes: Vec<NodeNet>,
    fault: Option<FaultHook>,
    /// Node pairs (lower first) whose new connections a relay intercepts.
    intercepted: BTreeSet<(NodeId, NodeId)>,
    pub(crate) stats: TransportStats,
}

/// The certificate fingerprint of endpoint `(node, conn)`; `relay` gives
/// the certificate a man in the middle shows that endpoint instead.
fn certificate(node: NodeId, conn: ConnId, relay: bool) -> Fingerprint {
    let mut f = [0u8; 32];
    f[..4].copy_from_slice(&node.0.to_be_bytes());
    f[4..12].copy_from_slice(&conn.0.to_be_bytes());
    f[12..20].copy_from_slice(b"sim-cert");
    if relay {
        f[31] = 0xee;
    }
    Fingerprint(f)
}

/// Delay between a command and the local event it produces (signal
/// generation, say): small but not zero, like a real stack.
const LOCAL_DELAY: Duration = Duration::from_micros(100);

fn token(kind: &str, node: NodeId, conn: ConnId) -> String {
    format!("sim-{kind} {} {}", node.0, conn.0)
}

fn parse_token(kind: &str, sdp: &str) -> Option<(NodeId, ConnId)> {
    let mut it = sdp.split(' ');
    if it.next()? != format!("sim-{kind}") {
        return None;
    }
    let node = it.next()?.parse().ok()?;
    let conn = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((NodeId(node), ConnId(conn)))
}

impl SimTransport {
    pub(crate) fn add_node(&mut self) {
        self.nodes.push(NodeNet {
            alive: true,
            endpoints: BTreeMap::new(),
        });
    }

    pub(crate) fn set_fault_hook(&mut self, hook: Option<FaultHook>) {
        self.fault = hook;
    }

    /// From now on, connections between `a` and `b` that connect are
    /// intercepted by a relay (see the module docs).
    pub(crate) fn intercept(&mut self, a: NodeId, b: NodeId) {
        self.intercepted.insert((a.min(b), a.max(b)));
    }

    fn binding(&self, node: NodeId, conn: ConnId, remote: (NodeId, ConnId)) -> ChannelBinding {
        let relayed = self
            .intercepted
            .contains(&(node.min(remote.0), node.max(remote.0)));
        ChannelBinding {
            local: certificate(node, conn, false),
            remote: if relayed {
                certificate(node, conn, true)
            } else {
                certificate(remote.0, remote.1, false)
            },
        }
    }

    pub(crate) fn is_alive(&self, node: NodeId) -> bool {
        self.nodes.get(node.idx()).is_some_and(|n| n.alive)
    }

    fn ep(&self, node: NodeId, conn: ConnId) -> Option<&Endpoint> {
        self.nodes.get(node.idx())?.endpoints.get(&conn)
    }

    fn ep_mut(&mut self, node: NodeId, conn: ConnId) -> Option<&mut Endpoint> {
        self.nodes.get_mut(node.idx())?.endpoints.get_mut(&conn)
    }

    /// The remote of `(node, conn)` if it is alive and paired back with it.
    fn paired_remote(&self, node: NodeId, conn: ConnId) -> Option<(NodeId, ConnId)> {
        let (rn, rc) = self.ep(node, conn)?.remote?;
        let back = self
            .nodes
            .get(rn.idx())
            .filter(|n| n.alive)?
            .endpoints
            .get(&rc)?
            .remote;
        (back == Some((node, conn))).then_some((rn, rc))
    }

    pub(crate) fn view(&self, node: NodeId, conn: ConnId) -> Option<EndpointView> {
        self.ep(node, conn).map(|e| EndpointView {
            open: e.state == State::Open,
            remote: e.remote,
            opened_at: e.opened_at,
        })
    }

    /// The connection of `node` whose remote end is on `peer`, if any.
    pub(crate) fn conn_to(&self, node: NodeId, peer: NodeId) -> Option<ConnId> {
        let n = self.nodes.get(node.idx())?;
        n.endpoints
            .iter()
            .rev()
            .find(|(_, e)| e.remote.is_some_and(|(r, _)| r == peer))
            .map(|(c, _)| *c)
    }

    /// Connections the transport holds for `node`.
    pub(crate) fn endpoint_count(&self, node: NodeId) -> usize {
        self.nodes.get(node.idx()).map_or(0, |n| n.endpoints.len())
    }

    fn local(q: &mut Queue, node: NodeId, event: TransportEvent) {
        q.after(
            LOCAL_DELAY,
            Item::Transport {
                node,
                event,
                forced: false,
            },
        );
    }

    /// Apply one command of `node`'s engine.
    pub(crate) fn handle_command(
        &mut self,
        net: &mut Network,
        q: &mut Queue,
        node: NodeId,
        cmd: TransportCommand,
    ) {
        if !self.is_alive(node) {
            return;
        }
        let now = q.now();
        match cmd {
            TransportCommand::Open { conn, role } => {
                self.stats.opens += 1;
                let ep = Endpoint {
                    role,
                    state: State::Connecting,
                    remote: None,
                    opened_at: now,
                    tx_free_at: now,
                    last_arrival: now,
                    remote_gone: false,
                    held: VecDeque::new(),
                };
                if let Some(n) = self.nodes.get_mut(node.idx()) {
                    n.endpoints.insert(conn, ep);
                }
                if role == Role::Initiator {
                    Self::local(
                        q,
                        node,
                        TransportEvent::Signal {
                            conn,
                            signal: Signal::Offer {
                                sdp: token("offer", node, conn),
                            },
                        },
                    );
                    Self::local(
                        q,
                        node,
                        TransportEvent::Signal {
                            conn,
                            signal: Signal::candidate(format!(
                                "candidate:sim {} {}",
                                node.0, conn.0
                            )),
                        },
                    );
                }
                if let Some(d) = net.config.handshake_failure_report {
                    q.after(d, Item::HandshakeDeadline { node, conn });
                }
            }
            TransportCommand::Signal { conn, signal } => self.on_signal(net, q, node, conn, signal),
            TransportCommand::Send { conn, frame } => self.send(net, q, node, conn, frame),
            TransportCommand::Close { conn } => self.close(net, q, node, conn),
        }
    }

    fn fail(q: &mut Queue, node: NodeId, conn: ConnId, why: &str) {
        Self::local(
            q,
            node,
            TransportEvent::Closed {
                conn,
                reason: CloseReason::Failed(why.into()),
            },
        );
    }

    fn on_signal(
        &mut self,
        net: &mut Network,
        q: &mut Queue,
        node: NodeId,
        conn: ConnId,
        signal: Signal,
    ) {
        let Some(ep) = self.ep_mut(node, conn) else {
            return;
        };
        match (ep.role, signal) {
            (Role::Acceptor, Signal::Offer { sdp }) if ep.remote.is_none() => {
                let Some(remote) = parse_token("offer", &sdp) else {
                    self.stats.bad_signals += 1;
                    return Self::fail(q, node, conn, "malformed offer");
                };
                ep.remote = Some(remote);
                Self::local(
                    q,
                    node,
                    TransportEvent::Signal {
                        conn,
                        signal: Signal::Answer {
                            sdp: token("answer", node, conn),
                        },
                    },
                );
                Self::local(
                    q,
                    node,
                    TransportEvent::Signal {
                        conn,
                        signal: Signal::candidate(format!("candidate:sim {} {}", node.0, conn.0)),
                    },
                );
            }
            (Role::Initiator, Signal::Answer { sdp }) if ep.remote.is_none() => {
                let Some(remote) = parse_token("answer", &sdp) else {
                    self.stats.bad_signals += 1;
                    return Self::fail(q, node, conn, "malformed answer");
                };
                ep.remote = Some(remote);
                self.try_connect(net, q, node, conn);
            }
            (_, Signal::Candidate { .. } | Signal::EndOfCandidates) => {}
            (_, _) => {
                self.stats.bad_signals += 1;
                Self::fail(
                    q,
                    node,
                    conn,
                    "unexpected signal for this connection's role",
                );
            }
        }
    }

    /// The initiator has the answer: ICE checks, DTLS, SCTP.
    fn try_connect(&mut self, net: &mut Network, q: &mut Queue, node: NodeId, conn: ConnId) {
        let Some((rn, rc)) = self.paired_remote(node, conn) else {
            // The acceptor is gone or answered someone else: checks never succeed.
            self.stats.handshakes_lost += 1;
            return;
        };
        let remote_connecting = self
            .ep(rn, rc)
            .is_some_and(|e| e.state == State::Connecting);
        if !remote_connecting || !net.reachable(node, rn) || !net.handshake_survives() {
            self.stats.handshakes_lost += 1;
            return;
        }
        let delay = net.connect_delay();
        for ((n, c), remote) in [((node, conn), (rn, rc)), ((rn, rc), (node, conn))] {
            if let Some(e) = self.ep_mut(n, c) {
                e.state = State::Opening;
            }
            let binding = Some(self.binding(n, c, remote));
            q.after(
                delay,
                Item::Transport {
                    node: n,
                    event: TransportEvent::Opened { conn: c, binding },
                    forced: false,
                },
            );
        }
        self.stats.connected += 1;
    }

    fn send(&mut self, net: &mut Network, q: &mut Queue, node: NodeId, conn: ConnId, frame: Bytes) {
        let now = q.now();
        let len = frame.len();
        let remote = self.paired_remote(node, conn);
        let Some(ep) = self.ep_mut(node, conn) else {
            return;
        };
        let usable = ep.state == State::Open && !ep.remote_gone;
        let tx_done = ep.tx_free_at.max(now) + net.transmit_time(len);
        ep.tx_free_at = tx_done;
        // The credit comes back once the frame left, whatever becomes of it.
        q.push(
            tx_done,
            Item::Transport {
                node,
                event: TransportEvent::Sent { conn, bytes: len },
                forced: false,
            },
        );
        let Some((rn, rc)) = remote.filter(|_| usable) else {
            self.stats.frames_dropped += 1;
            return;
        };
        let frame = match self
            .fault
            .as_mut()
            .map_or(Fault::Deliver, |hook| hook(node, rn, &frame))
        {
            Fault::Deliver => frame,
            Fault::Drop => {
                self.stats.frames_faulted += 1;
                return;
            }
            Fault::Replace(b) => {
                self.stats.frames_faulted += 1;
                b
            }
        };
        self.stats.frames += 1;
        self.stats.bytes += len as u64;
        if !net.reachable(node, rn) {
            self.stats.frames_held += 1;
            if let Some(r) = self.ep_mut(rn, rc) {
                r.held.push_back(Held::Frame(frame));
            }
            return;
        }
        let delay = net.frame_delay();
        let Some(ep) = self.ep_mut(node, conn) else {
            return;
        };
        let at = (tx_done + delay).max(ep.last_arrival);
        ep.last_arrival = at;
        q.push(
            at,
            Item::Transport {
                node: rn,
                event: TransportEvent::Frame { conn: rc, frame },
                forced: false,
            },
        );
    }

    fn close(&mut self, net: &mut Network, q: &mut Queue, node: NodeId, conn: ConnId) {
        let remote = self.paired_remote(node, conn);
        let Some(ep) = self
            .nodes
            .get_mut(node.idx())
            .and_then(|n| n.endpoints.remove(&conn))
        else {
            return;
        };
        let Some((rn, rc)) = remote else { return };
        if ep.state == State::Connecting {
            // Closed before connectivity: nothing reaches the remote, whose
            // checks just never succeed (it hears of it, if at all, through
            // `handshake_failure_report` or its pending timeout).
            return;
        }
        let reachable = net.reachable(node, rn);
        let at = (q.now() + net.latency()).max(ep.last_arrival);
        let consent = net.config.consent_timeout;
        let epoch = net.epoch;
        let Some(r) = self.ep_mut(rn, rc) else { return };
        r.remote_gone = true;
        if reachable {
            q.push(
                at,
                Item::Transport {
                    node: rn,
                    event: TransportEvent::Closed {
                        conn: rc,
                        reason: CloseReason::Remote,
                    },
                    forced: false,
                },
            );
        } else {
            r.held.push_back(Held::Close);
            q.after(
                consent,
                Item::Consent {
                    node: rn,
                    conn: rc,
                    epoch,
                },
            );
        }
    }

    /// A transport event is due for `node`: whether it still reaches the
    /// engine (the transport emits nothing after a close), with the
    /// transport's own bookkeeping.
    pub(crate) fn deliverable(
        &mut self,
        net: &Network,
        q: &mut Queue,
        node: NodeId,
        event: &TransportEvent,
    ) -> bool {
        if !self.is_alive(node) {
            return false;
        }
        let conn = event.conn();
        let Some(ep) = self.ep_mut(node, conn) else {
            return false;
        };
        match event {
            TransportEvent::Opened { .. } => {
                if ep.state != State::Opening {
                    return false;
                }
                ep.state = State::Open;
                let remote = ep.remote;
                if let Some((rn, _)) = remote {
                    if !net.reachable(node, rn) {
                        q.after(
                            net.config.consent_timeout,
                            Item::Consent {
                                node,
                                conn,
                                epoch: net.epoch,
                            },
                        );
                    }
                }
            }
            TransportEvent::Closed { .. } => {
                if let Some(n) = self.nodes.get_mut(node.idx()) {
                    n.endpoints.remove(&conn);
                }
            }
            _ => {}
        }
        true
    }

    /// `node` crashed: its connections vanish, its neighbours notice later.
    pub(crate) fn crash(&mut self, net: &Network, q: &mut Queue, node: NodeId) {
        let conns: Vec<ConnId> = self
            .nodes
            .get(node.idx())
            .map(|n| n.endpoints.keys().copied().collect())
            .unwrap_or_default();
        let mut remotes = Vec::new();
        for c in conns {
            if let Some(r) = self.paired_remote(node, c) {
                remotes.push(r);
            }
        }
        if let Some(n) = self.nodes.get_mut(node.idx()) {
            n.alive = false;
            n.endpoints.clear();
        }
        for (rn, rc) in remotes {
            if let Some(r) = self.ep_mut(rn, rc) {
                r.remote_gone = true;
                let reason = CloseReason::Failed("remote crashed".into());
                q.after(
                    net.config.crash_detect,
                    Item::Transport {
                        node: rn,
                        event: TransportEvent::Closed { conn: rc, reason },
                        forced: false,
                    },
                );
            }
        }
    }

    /// The network was just split: connections across it start their
    /// consent countdown.
    pub(crate) fn partitioned(&mut self, net: &Network, q: &mut Queue) {
        let mut cut = Vec::new();
        for (i, n) in self.nodes.iter().enumerate().filter(|(_, n)| n.alive) {
            let node = NodeId(i as u32);
            for (c, e) in &n.endpoints {
                if let Some((rn, _)) = e.remote {
                    if e.state != State::Connecting && !net.reachable(node, rn) {
                        cut.push((node, *c));
                    }
                }
            }
        }
        for (node, conn) in cut {
            q.after(
                net.config.consent_timeout,
                Item::Consent {
                    node,
                    conn,
                    epoch: net.epoch,
                },
            );
        }
    }

    /// The network is whole again: what the partition held goes on.
    pub(crate) fn healed(&mut self, net: &mut Network, q: &mut Queue) {
        let now = q.now();
        let mut flush = Vec::new();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            for (c, e) in n.endpoints.iter_mut() {
                if !e.held.is_empty() {
                    flush.push((NodeId(i as u32), *c, std::mem::take(&mut e.held), e.remote));
                }
            }
        }
        for (node, conn, held, remote) in flush {
            let mut at = now + net.latency();
            if let Some(last) = remote
                .and_then(|(rn, rc)| self.ep(rn, rc))
                .map(|e| e.last_arrival)
            {
                at = at.max(last);
            }
            for h in held {
                let event = match h {
                    Held::Frame(frame) => TransportEvent::Frame { conn, frame },
                    Held::Close => TransportEvent::Closed {
                        conn,
                        reason: CloseReason::Remote,
                    },
                };
                q.push(
                    at,
                    Item::Transport {
                        node,
                        event,
                        forced: false,
                    },
                );
            }
            if let Some(e) = remote.and_then(|(rn, rc)| self.ep_mut(rn, rc)) {
                e.last_arrival = e.last_arrival.max(at);
            }
        }
    }

    /// A consent check fired: whether `(node, conn)` must now be reported
    /// `TimedOut` (it is removed from the transport if so).
    pub(crate) fn consent_expired(
        &mut self,
        net: &Network,
        node: NodeId,
        conn: ConnId,
        epoch: u64,
    ) -> bool {
        if epoch != net.epoch || !self.is_alive(node) {
            return false;
        }
        let Some(e) = self.ep(node, conn) else {
            return false;
        };
        let cut = e.remote.is_some_and(|(rn, _)| !net.reachable(node, rn));
        if cut {
            if let Some(n) = self.nodes.get_mut(node.idx()) {
                n.endpoints.remove(&conn);
            }
        }
        cut
    }

    /// A handshake's failure deadline: whether to report it failed.
    pub(crate) fn handshake_expired(&mut self, node: NodeId, conn: ConnId) -> bool {
        let stuck = self
            .ep(node, conn)
            .is_some_and(|e| e.state == State::Connecting);
        if stuck {
            if let Some(n) = self.nodes.get_mut(node.idx()) {
                n.endpoints.remove(&conn);
            }
        }
        stuck
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = token("offer", NodeId(3), ConnId(17));
        assert_eq!(parse_token("offer", &t), Some((NodeId(3), ConnId(17))));
        assert_eq!(parse_token("answer", &t), None);
        assert_eq!(parse_token("offer", "sim-offer 1"), None);
        assert_eq!(parse_token("offer", "sim-offer 1 2 3"), None);
        assert_eq!(parse_token("offer", "v=0\r\n"), None);
    }
}
