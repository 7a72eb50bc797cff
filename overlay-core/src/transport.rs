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
//!    [`TransportEvent::Opened`] exactly once, with the connection's
//!    [`ChannelBinding`]: the certificate fingerprints of both ends as the
//!    transport's security layer (DTLS) enforced them: the local one, and
//!    the remote one that the remote's SDP announced *and* its certificate
//!    matched. A transport that cannot tell says so with `binding: None`;
//!    the engine then refuses the connection unless configured with
//!    [`crate::Config::insecure_allow_unbound_connections`].
//! 4. `Send { conn, frame }`: deliver `frame` to the remote, whole,
//!    reliably and in order, where it comes out as [`TransportEvent::Frame`].
//!    Flow control is by credit: a transport takes at most
//!    [`Transport::send_window`] bytes of frames not yet reported by
//!    [`TransportEvent::Sent`]; report each frame once it has left your own
//!    queue (handed to the wire or the library). The engine never exceeds the
//!    window, so a transport never drops a frame for lack of room.
//!    **Frame sizes.** Every frame of 1 to [`MAX_FRAME_SIZE`] bytes
//!    (64 KiB, what every WebRTC stack carries) must be carried. A frame
//!    the transport cannot carry is refused with `Err` before anything of
//!    it is queued (see *Errors* below), never lost silently: an **empty**
//!    frame (the engine never sends one; str0m 0.25 cannot send one
//!    without wedging its data channel) and one **larger than
//!    [`MAX_FRAME_SIZE`]** (webrtc-rs stops sending after one, str0m fails
//!    the connection) are refused by every transport of this workspace.
//!    A transport that receives an empty frame from a foreign stack hands it
//!    on as an empty [`TransportEvent::Frame`] (the engine counts it as a
//!    bad frame).
//! 5. When the connection ends for any reason other than a local `Close`
//!    (remote close, failure, ICE timeout, dead socket, a handshake that
//!    cannot complete), emit [`TransportEvent::Closed`] once, with a reason,
//!    within seconds: [`CloseReason::Remote`] only when the remote closed
//!    on purpose, [`CloseReason::TimedOut`] when it went silent (a crash),
//!    [`CloseReason::Failed`] for a local or protocol failure. After
//!    `Close { conn }`, free everything the connection holds, tell the
//!    remote (it sees [`CloseReason::Remote`] at once, not after a timeout)
//!    and emit nothing more for it.
//! 6. **Dropping the transport is a crash**, as a killed process is: no
//!    goodbye is sent, and each remote reports [`CloseReason::TimedOut`]
//!    (or [`CloseReason::Failed`]), never a graceful close. A node that
//!    shuts down closes its connections with `Close` first. Reference
//!    transports detect a silent remote within 5 s by default.
//! 7. Resources are bounded by the open connections: once a connection is
//!    closed (either way), [`Transport::connection_count`] no longer counts
//!    it.
//!
//! # Errors
//! A command for a connection the transport does not know is not an error
//! worth an `Err`: ignore it (the engine may race a close).
//! `handle_command` returns `Err` only for the connection named by the
//! command (a malformed remote SDP, an unexpected signal, a frame it cannot
//! carry). An `Err` **ends that connection**: the transport frees it, tells
//! the remote at once (as for `Close`: the remote must not wait for a
//! timeout) and emits nothing more for it; the driver reports it closed
//! with [`CloseReason::Failed`] (the engine sends no `Close` after that).
//!
//! The in-memory transport ([`crate::memory`]) is the reference
//! implementation; the conformance suite (`testkit` feature) is what every
//! transport must pass.

use std::fmt;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use crate::config::MAX_FRAME_SIZE;
use crate::id::ConnId;
use crate::signal::Signal;

/// A DTLS certificate fingerprint: the SHA-256 digest of the certificate
/// in DER, as an SDP's `a=fingerprint:sha-256 AB:CD:...` line shows it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Parse the value of an SDP fingerprint attribute: `sha-256` (any
    /// case), a space, and 32 colon-separated hex pairs (any case).
    /// `None` for another hash function or a malformed value.
    pub fn parse_sdp_value(value: &str) -> Option<Fingerprint> {
        let (func, hex) = value.trim().split_once(' ')?;
        if !func.eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let mut out = [0u8; 32];
        let mut n = 0;
        for pair in hex.trim().split(':') {
            if n == 32 || pair.len() != 2 {
                return None;
            }
            out[n] = u8::from_str_radix(pair, 16).ok()?;
            n += 1;
        }
        (n == 32).then_some(Fingerprint(out))
    }

    /// The first `a=fingerprint:sha-256 ...` line of an SDP (session level
    /// or any media section), parsed; `None` if it has none.
    pub fn from_sdp(sdp: &str) -> Option<Fingerprint> {
        sdp.lines()
            .filter_map(|l| l.trim().strip_prefix("a=fingerprint:"))
            .find_map(Fingerprint::parse_sdp_value)
    }

    /// The SDP form: `sha-256 AB:CD:...`.
    pub fn to_sdp_value(&self) -> String {
        let mut s = String::with_capacity(7 + 96);
        s.push_str("sha-256 ");
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint(")?;
        for b in &self.0[..6] {
            write!(f, "{b:02X}")?;
        }
        write!(f, "..)")
    }
}

/// The certificate fingerprints of one connection's two ends, as the
/// transport's DTLS enforced them. The `HELLO` signatures cover both
/// (`docs/WIRE.md`), so a relay that terminates DTLS on each side (a man in
/// the middle) is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelBinding {
    /// This end's certificate.
    pub local: Fingerprint,
    /// The remote's certificate: the one its SDP announced and DTLS checked.
    pub remote: Fingerprint,
}

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
        /// Both ends' certificate fingerprints, or `None` if this transport
        /// cannot tell them (see [`ChannelBinding`]).
        binding: Option<ChannelBinding>,
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
            | TransportEvent::Opened { conn, .. }
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

    /// Finish what the commands given since the last call left to do. The
    /// driver calls this after each batch of commands: a backend may defer
    /// work from [`Transport::handle_command`] (str0m writes every frame of
    /// a batch before draining its output once), and then does it here or
    /// in the next [`Transport::poll_event`], whichever comes first.
    /// Default: nothing.
    fn flush(&mut self) {}

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

    /// Connections the transport holds now (handshaking and open), if it
    /// counts them. The conformance suite checks that it drops back to zero
    /// once every connection is closed (resources freed).
    fn connection_count(&self) -> Option<usize> {
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
    fn flush(&mut self) {
        (**self).flush();
    }
    fn send_window(&self) -> usize {
        (**self).send_window()
    }
    fn rtt(&self, conn: ConnId) -> Option<Duration> {
        (**self).rtt(conn)
    }
    fn connection_count(&self) -> Option<usize> {
        (**self).connection_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_from_sdp() {
        let value = "sha-256 0A:1b:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
        let fp = Fingerprint::parse_sdp_value(value).map(|f| f.0[..3].to_vec());
        assert_eq!(fp, Some(vec![0x0a, 0x1b, 0x2c]));
        let sdp = format!(
            "v=0\r\na=fingerprint:sha-1 00:11\r\nm=application 9\r\na=fingerprint:{value}\r\n"
        );
        let f = Fingerprint::from_sdp(&sdp);
        assert_eq!(f, Fingerprint::parse_sdp_value(value));
        assert_eq!(
            f.map(|f| f.to_sdp_value().to_lowercase()),
            Some(value.to_lowercase())
        );
        assert_eq!(Fingerprint::parse_sdp_value("sha-1 00:11"), None);
        assert_eq!(Fingerprint::parse_sdp_value("sha-256 00:11"), None);
        assert_eq!(Fingerprint::from_sdp("v=0\r\n"), None);
    }
}
