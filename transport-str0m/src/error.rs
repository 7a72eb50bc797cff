//! Errors of the str0m transport.

use rtc_common::addrs::StunServerError;
use rtc_common::signals::SignalError;

/// Why a node's transport could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The UDP socket could not be created, configured or bound.
    #[error("UDP socket: {0}")]
    Socket(#[from] std::io::Error),
    /// A configured STUN server is unusable.
    #[error(transparent)]
    Stun(#[from] StunServerError),
    /// str0m could not make a DTLS certificate.
    #[error("the crypto provider could not generate a DTLS certificate")]
    Certificate,
    /// No address to offer as a host candidate.
    #[error("no usable local address for host candidates (bound to {0})")]
    NoHostAddress(std::net::SocketAddr),
}

/// Why a command failed for one connection. The driver reports that
/// connection closed; the transport has already freed it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Str0mError {
    /// `Open` for a connection id already in use.
    #[error("connection {0} is already open")]
    AlreadyOpen(overlay_core::ConnId),
    /// The remote signal cannot be read.
    #[error("bad remote signal: {0}")]
    Signal(#[from] SignalError),
    /// The remote sent a signal that does not fit the handshake's state
    /// (an answer to an acceptor, a second offer...).
    #[error("unexpected {kind} for a connection that is {state}")]
    Unexpected {
        /// The signal's kind.
        kind: &'static str,
        /// Where the handshake is.
        state: &'static str,
    },
    /// The remote SDP does not parse.
    #[error("bad remote SDP: {0}")]
    Sdp(#[from] str0m::error::SdpError),
    /// A frame the transport contract refuses: empty, or larger than
    /// [`overlay_core::config::MAX_FRAME_SIZE`]. The connection is closed
    /// (the remote is told at once).
    #[error("cannot send a frame of {0} bytes: frames are 1 to 65536 bytes (the engine splits larger messages)")]
    FrameSize(usize),
    /// A remote candidate line does not parse.
    #[error("bad remote candidate {line:?}: {why}")]
    Candidate {
        /// The candidate line.
        line: String,
        /// The parser's complaint.
        why: String,
    },
    /// str0m refused an operation (an offer it cannot answer, ...).
    #[error("str0m refused the session description: {0}")]
    Rtc(#[from] str0m::RtcError),
    /// str0m made no offer for a new connection (a bug in str0m or in this
    /// crate: report it).
    #[error("str0m made no offer")]
    NoOffer,
}
