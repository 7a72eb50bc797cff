//! Errors the engine's commands return at once.

use crate::event::ConnectFailure;
use crate::id::{PeerId, ProtocolId};

/// A connect that cannot start (reported at once, nothing was started) or
/// that failed later (through [`crate::Node`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connect would join a peer to itself (`connect(p, p)`, or a
    /// bridge with `from == to`).
    #[error("connect would join {0:?} to itself: pick two different peers")]
    SelfConnection(PeerId),
    /// This peer has no connection to a peer the operation needs (a bridge
    /// can only join its own neighbours; a direct arc needs a connection).
    #[error("{0:?} is not a neighbour of this peer: connect to it first (bridge or signaling)")]
    NotNeighbour(PeerId),
    /// `from` or `to` was an empty list.
    #[error("connect needs at least one peer on each side")]
    Empty,
    /// Too many handshakes at once; retry later.
    #[error("too many handshakes in progress ({0}); retry when some complete")]
    Busy(usize),
    /// The connect started but did not open its arcs.
    #[error("connect failed: {0}")]
    Failed(#[from] ConnectFailure),
    /// The node is gone.
    #[error("the node has shut down")]
    NodeGone,
}

/// A message that could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No connection to that peer with an arc of this protocol.
    #[error("{peer:?} is not a neighbour for protocol {protocol}: open an arc first")]
    NotNeighbour {
        /// The peer.
        peer: PeerId,
        /// The protocol.
        protocol: ProtocolId,
    },
    /// The message exceeds `Config::max_message_size`.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes: split it or raise Config::max_message_size")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The connection's send queue is full: wait for `Output::Writable`
    /// (the async `send` does that for you).
    #[error("send queue to {0:?} is full: wait until it drains")]
    Full(PeerId),
    /// The node is gone.
    #[error("the node has shut down")]
    NodeGone,
}

/// A disconnect, pin or unpin that could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArcError {
    /// There is no outgoing arc of this protocol to that peer.
    #[error("no arc of protocol {protocol} to {peer:?}")]
    NoArc {
        /// The peer.
        peer: PeerId,
        /// The protocol.
        protocol: ProtocolId,
    },
    /// Every arc to that peer is pinned: unpin one first.
    #[error("every arc of protocol {protocol} to {peer:?} is pinned: unpin one first")]
    Pinned {
        /// The peer.
        peer: PeerId,
        /// The protocol.
        protocol: ProtocolId,
    },
    /// No pinned arc to unpin.
    #[error("no pinned arc of protocol {protocol} to {peer:?}")]
    NotPinned {
        /// The peer.
        peer: PeerId,
        /// The protocol.
        protocol: ProtocolId,
    },
    /// The node is gone.
    #[error("the node has shut down")]
    NodeGone,
}
