//! The [`Transport`] trait: what a backend (WebRTC or other) implements.
//!
//! # Contract
//! The engine drives a transport with [`TransportCommand`]s and reads
//! [`TransportEvent`]s back. One transport serves all of a node's
//! connections; each connection is named by a [`ConnId`] chosen by the
//! engine.
//!
//! 1. `Open { conn, role: Initiator }`: start a connection; emit the
//!    signals the remote needs (an offer, then candidates) as
//!    [`TransportEvent::Signal`].
//! 2. `Open { conn, role: Acceptor }`: prepare a connection that will be
//!    driven by the remote's signals (the offer, then candidates), and emit
//!    the answer and candidates.
//!    Signals for a connection may arrive in any order a real network gives
//!    (candidates before the offer): buffer what cannot be applied yet.
//! 3. When the connection can carry messages both ways, emit
//!    [`TransportEvent::Opened`] exactly once.
//! 4. `Send { conn, frame }`: deliver `frame` to the remote, whole,
//!    reliably and in order, where it comes out as [`TransportEvent::Frame`].
//!    Flow control is by credit: a transport takes at most
//!    [`Transport::send_window`] bytes of frames not yet reported by
//!    [`TransportEvent::Sent`]; report each frame once it has left your own
//!    queue (handed to the wire or the library). The engine never exceeds the
//!    window, so a transport never drops a frame for lack of room.
//! 5. When the connection ends for any reason other than a local `Close`
//!    (remote close, failure, ICE timeout, dead socket, a handshake that
//!    cannot complete), emit [`TransportEvent::Closed`] once, with a reason,
//!    within seconds. After `Close { conn }`, free everything the connection
//!    holds and emit nothing more for it.
//!
//! A command for a connection the transport does not know is not an error
//! worth an `Err`: ignore it (the engine may race a close).
//! `handle_command` returns `Err` only for the connection named by the
//! command (a malformed remote SDP, say); the driver then reports that
//! connection closed with [`CloseReason::Failed`].
//!
//! The in-memory transport ([`crate::memory`]) is the reference
//! implementation; the conformance suite (`testkit` feature) is what every
//! transport must pass.

use std::fmt;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::id::ConnId;
use crate::signal::Signal;

/// Which side of the handshake a connection is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Makes the offer.
    Initiator,
    /// Answers the offer.
    Acceptor,
}

/// A command from the engine to the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportCommand {
    /// Start a connection in the given role.
    Open {
        /// The connection.
        conn: ConnId,
        /// Offer or answer.
        role: Role,
    },
    /// Apply a signal that came from the remote end.
    Signal {
        /// The connection.
        conn: ConnId,
        /// The remote's signal.
        signal: Signal,
    },
    /// Send one frame (at most the engine's frame limit).
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Bytes,
    },
    /// Close the connection and free its resources; no event follows.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

impl TransportCommand {
    /// The connection this command is about.
    pub fn conn(&self) -> ConnId {
        match self {
            TransportCommand::Open { conn, .. }
            | TransportCommand::Signal { conn, .. }
            | TransportCommand::Send { conn, .. }
            | TransportCommand::Close { conn } => *conn,
        }
    }
}

/// Why a transport connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The remote closed it gracefully.
    Remote,
    /// The remote stopped answering (ICE consent or keepalive timeout).
    TimedOut,
    /// The connection failed: handshake error, ICE failure, dead socket...
    Failed(String),
}

impl CloseReason {
    /// Whether the close was graceful (the remote meant it) rather than a crash.
    pub fn is_graceful(&self) -> bool {
        matches!(self, CloseReason::Remote)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Remote => f.write_str("closed by the remote"),
            CloseReason::TimedOut => f.write_str("remote stopped answering"),
            CloseReason::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// An event from the transport to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportEvent {
    /// A signal to deliver to the remote end of `conn`.
    Signal {
        /// The connection.
        conn: ConnId,
        /// The local signal.
        signal: Signal,
    },
    /// The connection carries frames both ways now.
    Opened {
        /// The connection.
        conn: ConnId,
    },
    /// A frame from the remote end.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The frame, whole.
        frame: Bytes,
    },
    /// `bytes` of frames handed over by `Send` left the transport's queue:
    /// that much send credit returns to the engine.
    Sent {
        /// The connection.
        conn: ConnId,
        /// Bytes of frames (the sum of their lengths).
        bytes: usize,
    },
    /// The connection ended (not after a local `Close`).
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

impl TransportEvent {
    /// The connection this event is about.
    pub fn conn(&self) -> ConnId {
        match self {
            TransportEvent::Signal { conn, .. }
            | TransportEvent::Opened { conn }
            | TransportEvent::Frame { conn, .. }
            | TransportEvent::Sent { conn, .. }
            | TransportEvent::Closed { conn, .. } => *conn,
        }
    }
}

/// A connection backend. See the [module docs](self) for the contract.
///
/// It suits a sans-IO backend (str0m: `poll_event` reads the socket and
/// timers) and an async one (webrtc-rs: tasks push events into a channel
/// that `poll_event` drains) alike.
pub trait Transport: Send + 'static {
    /// Errors `handle_command` reports for one connection.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Apply one command. Never blocks.
    ///
    /// # Errors
    /// Only for the connection the command names (bad remote signal, the
    /// backend refused to create the connection...). The driver reports that
    /// connection closed.
    fn handle_command(&mut self, now: Instant, cmd: TransportCommand) -> Result<(), Self::Error>;

    /// The next event. Backends that own sockets and timers drive them here;
    /// the driver polls this whenever it wakes.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent>;

    /// Bytes of frames a connection may have in the transport's queue
    /// (sent but not yet reported by [`TransportEvent::Sent`]).
    fn send_window(&self) -> usize {
        256 * 1024
    }

    /// The round-trip time of `conn`, if the backend measures it (ICE/SCTP);
    /// shown in [`crate::ConnectionInfo::rtt`].
    fn rtt(&self, _conn: ConnId) -> Option<Duration> {
        None
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    type Error = T::Error;
    fn handle_command(&mut self, now: Instant, cmd: TransportCommand) -> Result<(), Self::Error> {
        (**self).handle_command(now, cmd)
    }
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        (**self).poll_event(cx)
    }
    fn send_window(&self) -> usize {
        (**self).send_window()
    }
    fn rtt(&self, conn: ConnId) -> Option<Duration> {
        (**self).rtt(conn)
    }
}
