//! What the engine reports: per-protocol [`Event`]s and engine [`Output`]s.

use std::fmt;

use bytes::Bytes;

use crate::id::{HandshakeId, OpId, PeerId, ProtocolId};
use crate::signal::SignalEnvelope;

/// Direction of an arc seen from this peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// This peer -> remote (outview).
    Out,
    /// Remote -> this peer (inview).
    In,
}

/// Why an arc closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArcCloseReason {
    /// Removed by its owner (`disconnect`).
    Removed,
    /// The connection was closed gracefully by the remote (`close_*`).
    ConnectionClosed,
    /// The connection crashed: transport failure (`crash_*`).
    ConnectionLost(String),
    /// The remote stopped answering.
    TimedOut,
    /// The remote broke the wire protocol and was disconnected.
    ProtocolViolation,
    /// This node is shutting down.
    Shutdown,
}

impl fmt::Display for ArcCloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArcCloseReason::Removed => f.write_str("removed"),
            ArcCloseReason::ConnectionClosed => f.write_str("connection closed by the remote"),
            ArcCloseReason::ConnectionLost(why) => write!(f, "connection lost: {why}"),
            ArcCloseReason::TimedOut => f.write_str("remote stopped answering"),
            ArcCloseReason::ProtocolViolation => f.write_str("remote broke the wire protocol"),
            ArcCloseReason::Shutdown => f.write_str("node shut down"),
        }
    }
}

/// Why a connect did not open its arc(s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The handshake did not complete within the pending timeout.
    #[error("the handshake did not complete in time; is the remote reachable (ICE/network)?")]
    Timeout,
    /// A bridge could not forward the handshake's signals.
    #[error("bridge {bridge:?} could not forward the handshake: {why}")]
    BridgeFailed {
        /// The bridge.
        bridge: PeerId,
        /// What it said.
        why: BridgeFailure,
    },
    /// The transport failed to open the connection.
    #[error("the transport failed: {0}")]
    Transport(String),
    /// The connection was lost before the arc opened.
    #[error("the connection was lost before the arc opened")]
    ConnectionLost,
    /// The remote broke the handshake protocol.
    #[error("the remote broke the handshake protocol (framing)")]
    ProtocolViolation,
    /// The remote's `HELLO` did not match the handshake, the expected peer
    /// or this connection's DTLS certificates: someone sits in the middle
    /// (a bridge or a network relay terminating DTLS on each side), or the
    /// peer is not who it claims. The connection was closed.
    #[error("the connection was tampered with: the remote's identity proof does not match this connection (a relay in the middle, or a forged identity); nothing was opened")]
    Tampered,
    /// The transport could not bind the connection to its DTLS
    /// certificates, and unbound connections are not allowed.
    #[error("the transport cannot bind connections to their DTLS certificates: use a WebRTC transport, or set Config::insecure_allow_unbound_connections (insecure) for a trusted setting")]
    NoChannelBinding,
    /// The peer asked to connect refused or failed (remote-reported).
    #[error("the peer asked to connect failed: {0}")]
    Remote(BridgeFailure),
    /// The node shut down.
    #[error("the node shut down")]
    Shutdown,
    /// A resource limit of this node refused the request (arcs per pair,
    /// protocols per connection, requests waiting on one handshake...).
    /// See `docs/LIMITS.md`; retry later or raise the limit in [`crate::Config`].
    #[error("refused by a resource limit: {0}")]
    LimitReached(Limit),
}

/// The resource limit that refused a request ([`ConnectFailure::LimitReached`]);
/// each is a setting of [`crate::Config`], listed in `docs/LIMITS.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Limit {
    /// Arcs per peer pair and protocol, or protocols per connection
    /// (`Config::with_max_arcs_per_pair`, `with_max_protocols_per_connection`).
    #[error("arcs per pair or protocols per connection")]
    ArcsOrProtocols,
    /// Arcs per peer pair and protocol (`Config::with_max_arcs_per_pair`).
    #[error("arcs per pair")]
    ArcsPerPair,
    /// Requests coalesced on one pending handshake (`Config::with_max_coalesced`).
    #[error("requests waiting on one handshake")]
    Coalesced,
    /// Pending handshakes opened on behalf of one neighbour
    /// (`Config::with_max_pending_per_neighbour`).
    #[error("pending handshakes per neighbour")]
    PendingPerNeighbour,
}

/// Why a bridge or a remote peer failed a connect, as carried on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeFailure {
    /// The target is not a neighbour of the bridge (or of the asked peer).
    #[error("target is not a neighbour")]
    NotNeighbour,
    /// The asked connection would connect a peer to itself.
    #[error("self connection")]
    SelfConnection,
    /// The handshake timed out.
    #[error("timed out")]
    Timeout,
    /// The connection was lost.
    #[error("connection lost")]
    ConnectionLost,
    /// The transport failed.
    #[error("transport failure")]
    Transport,
    /// Too many handshakes at once on the asked peer.
    #[error("too many handshakes at once")]
    Busy,
    /// The connection was tampered with (see [`ConnectFailure::Tampered`]).
    #[error("connection tampered with")]
    Tampered,
    /// Anything else (unknown code from a newer peer).
    #[error("other failure")]
    Other,
}

impl BridgeFailure {
    pub(crate) fn code(self) -> u8 {
        match self {
            BridgeFailure::NotNeighbour => 1,
            BridgeFailure::SelfConnection => 2,
            BridgeFailure::Timeout => 3,
            BridgeFailure::ConnectionLost => 4,
            BridgeFailure::Transport => 5,
            BridgeFailure::Busy => 6,
            BridgeFailure::Tampered => 7,
            BridgeFailure::Other => 255,
        }
    }

    pub(crate) fn from_code(code: u8) -> Self {
        match code {
            1 => BridgeFailure::NotNeighbour,
            2 => BridgeFailure::SelfConnection,
            3 => BridgeFailure::Timeout,
            4 => BridgeFailure::ConnectionLost,
            5 => BridgeFailure::Transport,
            6 => BridgeFailure::Busy,
            7 => BridgeFailure::Tampered,
            _ => BridgeFailure::Other,
        }
    }
}

impl From<&ConnectFailure> for BridgeFailure {
    fn from(f: &ConnectFailure) -> Self {
        match f {
            ConnectFailure::Timeout => BridgeFailure::Timeout,
            ConnectFailure::BridgeFailed { why, .. } | ConnectFailure::Remote(why) => *why,
            ConnectFailure::Transport(_) => BridgeFailure::Transport,
            ConnectFailure::ConnectionLost | ConnectFailure::Shutdown => {
                BridgeFailure::ConnectionLost
            }
            ConnectFailure::LimitReached(_) => BridgeFailure::Busy,
            ConnectFailure::Tampered => BridgeFailure::Tampered,
            ConnectFailure::ProtocolViolation | ConnectFailure::NoChannelBinding => {
                BridgeFailure::Other
            }
        }
    }
}

/// An event for one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An arc opened (or one more copy of it).
    ArcOpened {
        /// The remote end.
        peer: PeerId,
        /// Out: this peer -> `peer`; In: `peer` -> this peer.
        direction: Direction,
        /// How many copies of this arc exist now.
        count: u32,
    },
    /// One or more copies of an arc closed (one event per change of
    /// count, however many copies went at once).
    ArcClosed {
        /// The remote end.
        peer: PeerId,
        /// Which view it left.
        direction: Direction,
        /// Why.
        reason: ArcCloseReason,
        /// How many copies are left.
        count: u32,
    },
    /// An arc this peer was to own could not be opened.
    ConnectFailed {
        /// The intended remote, if known.
        peer: Option<PeerId>,
        /// Why.
        reason: ConnectFailure,
    },
    /// A message from a peer.
    Message {
        /// The sender.
        peer: PeerId,
        /// The payload, whole.
        payload: Bytes,
    },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The operation.
    pub op: OpId,
    /// `Ok` when every arc it asked for is open.
    pub result: Result<(), ConnectFailure>,
    /// For an out-of-band connect: the peer at the other end.
    pub remote: Option<PeerId>,
}

/// Something the engine tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// An event for one protocol's application.
    Event {
        /// The protocol.
        protocol: ProtocolId,
        /// The event.
        event: Event,
    },
    /// An operation started by `connect*` ended.
    Completed(Completion),
    /// A signal of an out-of-band handshake: carry it to the remote peer
    /// (application channel, signaling server), which feeds it to
    /// [`crate::Engine::handle_signal`].
    Signal(SignalEnvelope),
    /// An out-of-band handshake ended (opened or failed); its signal route
    /// can be dropped.
    HandshakeEnded {
        /// The handshake.
        handshake: HandshakeId,
    },
    /// The send queue toward `peer` has room again after a
    /// [`crate::SendError::Full`].
    Writable {
        /// The peer.
        peer: PeerId,
    },
}
