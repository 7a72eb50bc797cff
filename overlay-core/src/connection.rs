//! One connection's state: the entry of the pending / living / dying tables.

use std::time::Instant;

use crate::arcs::{ArcCounts, ArcTable};
use crate::id::{ConnId, HandshakeId, OpId, PeerId, ProtocolId};
use crate::outbox::Outbox;
use crate::transport::Role;
use crate::wire::Reassembler;

/// Which table a connection is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// Pending: the handshake is in progress.
    Handshaking,
    /// Pending: the transport is open, identities are being exchanged.
    Opened,
    /// Living: carries arcs.
    Living,
    /// Dying: no arc left; closes at its deadline unless an arc revives it.
    Dying,
}

impl ConnState {
    /// Whether the connection is in the pending table.
    pub fn is_pending(self) -> bool {
        matches!(self, ConnState::Handshaking | ConnState::Opened)
    }

    /// Whether the connection is established (living or dying).
    pub fn is_established(self) -> bool {
        matches!(self, ConnState::Living | ConnState::Dying)
    }
}

/// How a handshake's signals travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Through the application (or a signaling server).
    OutOfBand,
    /// Through a neighbour acting as bridge.
    Bridge(PeerId),
}

/// Who waits for an arc request's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiter {
    /// An operation of this node's application.
    Local(OpId),
    /// A bridge that sent `ConnectTo` with this request id.
    Remote {
        bridge: PeerId,
        req: crate::id::RequestId,
    },
}

/// Arcs asked for before the connection was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArcRequest {
    pub(crate) protocol: ProtocolId,
    pub(crate) count: u32,
    pub(crate) waiter: Waiter,
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnStats {
    /// Frames handed to the transport.
    pub frames_sent: u64,
    /// Bytes handed to the transport.
    pub bytes_sent: u64,
    /// Frames received.
    pub frames_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Application messages delivered.
    pub messages_received: u64,
    /// Malformed or unexpected frames dropped.
    pub bad_frames: u32,
}

pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) peer: Option<PeerId>,
    pub(crate) handshake: HandshakeId,
    pub(crate) role: Role,
    pub(crate) via: Via,
    pub(crate) state: ConnState,
    /// The protocol named in out-of-band envelopes of this handshake.
    pub(crate) envelope_protocol: ProtocolId,
    /// Pending: when the handshake gives up. Dying: when the connection closes.
    pub(crate) deadline: Instant,
    pub(crate) arcs: ArcTable,
    pub(crate) wants: Vec<ArcRequest>,
    /// Our `Hello` is queued or sent: later arc requests need an `ArcAdd`.
    pub(crate) hello_sent: bool,
    /// The two ends' DTLS certificates, as the transport reported at open.
    pub(crate) binding: Option<crate::transport::ChannelBinding>,
    /// Signals this end produced for the handshake (the next sequence number).
    /// Signals the transport produced that wait to leave together, signed
    /// once as a bundle (at the next timeout, the same instant).
    pub(crate) unsigned: Vec<crate::signal::Signal>,
    pub(crate) signals_sent: u32,
    /// Sequence numbers of the remote's signals already taken.
    pub(crate) seen: crate::engine::SeqSet,
    /// A handshake running beside an established connection with the same
    /// peer: it replaces that connection once its `Hello` checks out.
    pub(crate) replaces: bool,
    /// The remote's `Hello`, arrived before the transport's open event.
    pub(crate) early_hello: Option<Box<crate::engine::EarlyHello>>,
    pub(crate) outbox: Outbox,
    pub(crate) reassembler: Reassembler,
    pub(crate) stats: ConnStats,
    /// Bad frames not yet forgiven (one is forgiven per
    /// [`crate::Config::bad_frame_decay`]).
    pub(crate) bad_score: u32,
    /// When `bad_score` was last decayed.
    pub(crate) bad_since: Instant,
}

impl Conn {
    /// A new handshaking connection whose pending timeout is `deadline`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: ConnId,
        peer: Option<PeerId>,
        handshake: HandshakeId,
        role: Role,
        via: Via,
        envelope_protocol: ProtocolId,
        now: Instant,
        deadline: Instant,
        max_message_size: usize,
    ) -> Conn {
        Conn {
            id,
            peer,
            handshake,
            role,
            via,
            state: ConnState::Handshaking,
            envelope_protocol,
            deadline,
            arcs: ArcTable::default(),
            wants: Vec::new(),
            hello_sent: false,
            binding: None,
            unsigned: Vec::new(),
            signals_sent: 0,
            seen: crate::engine::SeqSet::default(),
            replaces: false,
            early_hello: None,
            outbox: Outbox::default(),
            reassembler: Reassembler::new(max_message_size),
            stats: ConnStats::default(),
            bad_score: 0,
            bad_since: now,
        }
    }

    pub(crate) fn arcs_of(&self, p: &ProtocolId) -> ArcCounts {
        self.arcs.get(p)
    }
}

/// A connection as the queries show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The engine's id for it.
    pub conn: ConnId,
    /// The remote, if known yet.
    pub peer: Option<PeerId>,
    /// Pending, living or dying.
    pub state: ConnState,
    /// Which side offered.
    pub role: Role,
    /// How its handshake's signals travelled.
    pub via: Via,
    /// Arcs riding it, per protocol.
    pub arcs: Vec<(ProtocolId, ArcCounts)>,
    /// Application bytes queued, waiting for the transport.
    pub queued_bytes: usize,
    /// Memory held by control frames queued toward the remote (bytes plus
    /// bookkeeping), bounded by [`crate::Config::max_reply_queue`] for what
    /// the remote can cause.
    pub control_memory: usize,
    /// Counters.
    pub stats: ConnStats,
    /// Round-trip time, if the transport measures it.
    pub rtt: Option<std::time::Duration>,
    /// Pending: when the handshake gives up; dying: when the connection
    /// closes; living: `None`.
    pub deadline: Option<Instant>,
}
