//! Errors of the webrtc-rs transport.

use overlay_core::{ConnId, Role};
use rtc_common::signals::SignalError;

/// Why a transport could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// [`WebRtcTransport::bind`](crate::WebRtcTransport::bind) was called
    /// outside a tokio runtime.
    #[error("the webrtc-rs transport needs a tokio runtime: create it inside one")]
    NoRuntime,
    /// The node's DTLS certificate could not be made
    /// ([`Options::certificate_per_node`](crate::Options::certificate_per_node)).
    #[error("the webrtc-rs transport could not make its DTLS certificate: {reason}; check the crypto provider features of the `rtc` crate, or set `Options::certificate_per_node` to false")]
    Certificate {
        /// What the crypto provider said.
        reason: String,
    },
}

/// Why a command was refused. Each names the connection it is about; the
/// connection is dropped (the remote is told at once).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Open` for a connection that is already open.
    #[error("connection {0} is already open")]
    AlreadyOpen(ConnId),
    /// A remote signal that cannot be used.
    #[error("connection {conn}: {source}")]
    Signal {
        /// The connection.
        conn: ConnId,
        /// What is wrong with it.
        #[source]
        source: SignalError,
    },
    /// A signal this side of the handshake does not take (an offer for the
    /// initiator, an answer for the acceptor, a second description).
    #[error("connection {conn}: unexpected {kind} for the {role:?} side")]
    UnexpectedSignal {
        /// The connection.
        conn: ConnId,
        /// The signal kind.
        kind: &'static str,
        /// This side's role.
        role: Role,
    },
    /// A session description that does not parse.
    #[error("connection {conn}: bad {kind} SDP: {why}")]
    BadSdp {
        /// The connection.
        conn: ConnId,
        /// `offer` or `answer`.
        kind: &'static str,
        /// The parser's complaint.
        why: String,
    },
    /// A frame the transport contract refuses: empty, or larger than
    /// [`overlay_core::config::MAX_FRAME_SIZE`] (webrtc-rs stops sending on a
    /// connection after a message over 64 KiB). Refused before it reaches
    /// the library; the connection is closed (the remote is told at once).
    #[error("connection {conn}: cannot send a frame of {len} bytes: frames are 1 to 65536 bytes (the engine splits larger messages)")]
    FrameSize {
        /// The connection.
        conn: ConnId,
        /// The frame's length.
        len: usize,
    },
    /// A candidate line that does not parse.
    #[error("connection {conn}: bad candidate {line:?}: {why}")]
    BadCandidate {
        /// The connection.
        conn: ConnId,
        /// The line (at most 120 characters of it).
        line: String,
        /// The parser's complaint.
        why: String,
    },
}
