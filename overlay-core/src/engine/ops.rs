//! Operations the application starts: connects (direct, bridged, batched,
//! out-of-band) and the signals it carries for out-of-band handshakes.

use std::collections::BTreeMap;
use std::time::Instant;

use super::handshake::Accepted;
use super::timers::TimerKey;
use super::Engine;
use crate::connection::{ArcRequest, Via, Waiter};
use crate::error::ConnectError;
use crate::event::{Completion, ConnectFailure, Output};
use crate::id::{HandshakeId, OpId, PeerId, ProtocolId, RequestId};
use crate::signal::{Signal, SignalEnvelope, SignedSignal};
use crate::transport::Role;
use crate::wire::Frame;

/// An operation of this node's application.
#[derive(Debug)]
pub(super) struct LocalOp {
    parts_left: usize,
    failure: Option<ConnectFailure>,
    remote: Option<PeerId>,
}

/// A `ConnectTo` this node (as a bridge) sent and waits an answer for.
#[derive(Debug)]
pub(super) struct BridgeWait {
    pub(super) op: OpId,
    pub(super) from: PeerId,
    pub(super) deadline: Instant,
}

/// A signal that arrived before its handshake's offer.
#[derive(Debug)]
pub(super) struct EarlySignal {
    pub(super) expires: Instant,
    pub(super) handshake: HandshakeId,
    pub(super) origin: PeerId,
    pub(super) via: Via,
    pub(super) seq: u32,
    pub(super) signal: Signal,
}

/// An out-of-band signal the engine would not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The envelope claims to come from this node.
    #[error("the signal claims to come from this node itself: check the routing of signals")]
    FromSelf,
    /// Refused: the reason (wrong peer for the handshake, glare, too many
    /// handshakes...). Logged and counted.
    #[error("signal dropped: {0}")]
    Dropped(DropReason),
}

/// Why a signal was dropped (each is logged and counted; see
/// `docs/WIRE.md`, "What the receiver checks, in order").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The signal claims to come from this node.
    #[error("the signal claims to come from this node")]
    FromSelf,
    /// A sequence number past 255, or a bundle longer than 16 signals.
    #[error("sequence number out of range (or bundle too long)")]
    SequenceOutOfRange,
    /// Signed for another destination.
    #[error("signal addressed to another peer")]
    Misaddressed,
    /// The origin's signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A sequence number already taken in this handshake.
    #[error("replayed signal")]
    Replayed,
    /// A signal of a handshake already over.
    #[error("replayed signal of an earlier handshake")]
    ReplayedHandshake,
    /// This source holds its share of the early-signal buffer already.
    #[error("too many early signals from this source")]
    EarlySignalShare,
    /// Glare: this node's own handshake with the origin wins.
    #[error("glare: our own handshake wins")]
    GlareOursWins,
    /// Glare: the origin's handshake wins; ours was abandoned.
    #[error("glare: their handshake wins")]
    GlareTheirsWins,
    /// Too many handshakes relayed by this neighbour are pending (the
    /// origin was told: `REFUSE`).
    #[error("too many handshakes relayed by this neighbour")]
    BusyNeighbour,
    /// Too many handshakes are pending (the origin was told, if bridged).
    #[error("too many handshakes at once")]
    Busy,
    /// The signal came by another path than its handshake.
    #[error("signal came by another path than its handshake")]
    WrongPath,
    /// The signal's origin is not the peer of its handshake.
    #[error("signal from a peer that is not in this handshake")]
    NotInHandshake,
    /// An offer for a handshake this node started.
    #[error("an offer for our own handshake")]
    OfferForOwnHandshake,
    /// The handshake's connection is open already (late trickle).
    #[error("connection already open")]
    AlreadyOpen,
    /// The handshake's table entry is gone.
    #[error("stale table entry")]
    Stale,
}

impl Engine {
    /// Open arcs of `protocol` from every peer of `from` to every peer of
    /// `to`. This node's own id in a list stands for itself:
    ///
    /// - `connect(p, [me], [q])`: one more arc `me -> q` (needs a connection to `q`);
    /// - `connect(p, [a], [me])`: asks neighbour `a` for one more arc `a -> me`;
    /// - `connect(p, [a], [c])`: bridge: asks `a` to open an arc to `c`,
    ///   relaying the handshake's signals if `a` and `c` have no connection.
    ///
    /// A pair named k times opens k arcs over one connection.
    /// The result comes as [`Output::Completed`] with the returned id.
    ///
    /// # Errors
    /// At once, and nothing is started: [`ConnectError::SelfConnection`]
    /// if a pair joins a peer to itself, [`ConnectError::NotNeighbour`] if a
    /// peer the operation needs has no connection with this node,
    /// [`ConnectError::Empty`] for an empty list.
    pub fn connect(
        &mut self,
        now: Instant,
        protocol: ProtocolId,
        from: &[PeerId],
        to: &[PeerId],
    ) -> Result<OpId, ConnectError> {
        if from.is_empty() || to.is_empty() {
            return Err(ConnectError::Empty);
        }
        let mut pairs: BTreeMap<(PeerId, PeerId), u32> = BTreeMap::new();
        for f in from {
            for t in to {
                if f == t {
                    return Err(ConnectError::SelfConnection(*f));
                }
                *pairs.entry((*f, *t)).or_default() += 1;
            }
        }
        let me = self.local;
        for (f, t) in pairs.keys() {
            if *f == me {
                let known = self.conns.by_peer(t).is_some();
                if !known {
                    return Err(ConnectError::NotNeighbour(*t));
                }
            } else {
                for p in [f, t] {
                    if *p != me && self.established(p).is_none() {
                        return Err(ConnectError::NotNeighbour(*p));
                    }
                }
            }
        }
        let op = self.new_op(pairs.len());
        for ((f, t), count) in pairs {
            if f == me {
                self.open_arcs(now, protocol, t, count, Waiter::Local(op), None);
            } else if let Some(fid) = self.established(&f) {
                let req = RequestId(self.next_req);
                self.next_req += 1;
                let deadline = now + self.config.bridge_timeout;
                self.bridge_waits.insert(
                    req,
                    BridgeWait {
                        op,
                        from: f,
                        deadline,
                    },
                );
                self.timers.set(TimerKey::BridgeWait(req), deadline);
                self.send_control(
                    fid,
                    Frame::ConnectTo {
                        req,
                        protocol,
                        to: t,
                        count,
                    },
                );
            }
        }
        Ok(op)
    }

    /// Start an out-of-band handshake for `count` arcs of `protocol` from
    /// this node to whoever answers. Its signals come out as
    /// [`Output::Signal`]; the application carries them to the remote, and
    /// the remote's back through [`Engine::handle_signal`].
    ///
    /// # Errors
    /// [`ConnectError::Busy`] when too many handshakes are in progress.
    pub fn connect_out_of_band(
        &mut self,
        now: Instant,
        protocol: ProtocolId,
        count: u32,
    ) -> Result<(OpId, HandshakeId), ConnectError> {
        if self.pending_count() >= self.config.max_pending {
            return Err(ConnectError::Busy(self.pending_count()));
        }
        let op = self.new_op(1);
        let h = self.random_handshake();
        self.stats.handshakes_started += 1;
        let id = self.new_conn(now, None, h, Role::Initiator, Via::OutOfBand, protocol);
        if let Some(c) = self.conns.get_mut(&id) {
            c.wants.push(ArcRequest {
                protocol,
                count: count.max(1),
                waiter: Waiter::Local(op),
            });
        }
        Ok((op, h))
    }

    /// A signal of an out-of-band handshake, carried by the application. An
    /// offer for a new handshake starts an acceptor connection; its answer
    /// and candidates come out as [`Output::Signal`].
    ///
    /// # Errors
    /// [`SignalError`] when the signal is refused (it is also counted).
    pub fn handle_signal(
        &mut self,
        now: Instant,
        envelope: SignalEnvelope,
    ) -> Result<(), SignalError> {
        if envelope.from == self.local {
            self.stats.dropped_signals += 1;
            return Err(SignalError::FromSelf);
        }
        let SignalEnvelope {
            handshake,
            from,
            to,
            protocol,
            seq,
            signature,
            signal,
            more,
        } = envelope;
        let signed = SignedSignal {
            seq,
            signature,
            signal,
            more,
        };
        let r =
            self.accept_remote_signal(now, handshake, from, to, Via::OutOfBand, protocol, signed);
        match r {
            Accepted::Delivered | Accepted::Buffered => Ok(()),
            Accepted::Dropped(why) => Err(SignalError::Dropped(why)),
        }
    }

    fn new_op(&mut self, parts: usize) -> OpId {
        let op = OpId(self.next_op);
        self.next_op += 1;
        self.ops.insert(
            op,
            LocalOp {
                parts_left: parts,
                failure: None,
                remote: None,
            },
        );
        op
    }

    /// One part of `op` ended.
    pub(super) fn part_done(
        &mut self,
        op: OpId,
        result: Result<(), ConnectFailure>,
        remote: Option<PeerId>,
    ) {
        let Some(o) = self.ops.get_mut(&op) else {
            return;
        };
        o.parts_left = o.parts_left.saturating_sub(1);
        if let Err(e) = result {
            o.failure.get_or_insert(e);
        }
        if o.remote.is_none() {
            o.remote = remote;
        }
        if o.parts_left == 0 {
            if let Some(o) = self.ops.remove(&op) {
                let result = o.failure.map_or(Ok(()), Err);
                self.outputs.push_back(Output::Completed(Completion {
                    op,
                    result,
                    remote: o.remote,
                }));
            }
        }
    }
}
