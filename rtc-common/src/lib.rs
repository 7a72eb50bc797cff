//! What the WebRTC backends of n2n-overlay (`transport-str0m`,
//! `transport-webrtcrs`) share: their configuration, and the tolerant
//! reading of browser-shaped signals, written once.
//!
//! # Layout
//! - [`RtcConfig`]: socket, STUN and timeout settings common to the backends.
//! - [`signals`]: tolerant reading of remote [`Signal`](overlay_core::Signal)s
//!   ([`signals::read_signal`]) and the bounded buffer for candidates that
//!   arrive before the session description ([`signals::EarlyCandidates`]).
//! - [`addrs`]: local interface addresses for host candidates and the
//!   resolution of configured STUN and TURN servers.
//! - [`TurnServer`]: a TURN relay with its long-term credentials (never
//!   printed: its `Debug` redacts the credential).
//! - [`paths`]: which candidate pair each open connection uses (host,
//!   server-reflexive, relay), reported by both backends.
//!
//! ```
//! use overlay_core::Signal;
//! use rtc_common::signals::{read_signal, RemoteSignal};
//!
//! // What a browser may send: a leading `a=`, a null sdpMLineIndex.
//! let s: Signal = Signal::Candidate {
//!     candidate: "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
//!     sdp_mid: None,
//!     sdp_m_line_index: None,
//! };
//! assert_eq!(
//!     read_signal(&s),
//!     Ok(RemoteSignal::Candidate("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"))
//! );
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod addrs;
pub mod paths;
pub mod signals;

/// Configuration common to the WebRTC backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RtcConfig {
    /// Address to bind the UDP socket to. `127.0.0.1` (the default) for
    /// tests on one machine; `0.0.0.0` offers one host candidate per local
    /// interface.
    pub bind_ip: IpAddr,
    /// UDP port to bind; 0 (the default) picks a free one.
    pub port: u16,
    /// STUN servers (`host:port`) asked for server-reflexive candidates.
    pub stun_servers: Vec<String>,
    /// TURN servers (UDP) asked for relay candidates, the last resort when
    /// no direct path gets through the NATs between two peers.
    pub turn_servers: Vec<TurnServer>,
    /// Socket receive buffer, bytes. The OS default (208 KiB on Linux) drops
    /// packets on loopback under load; 4 MiB by default.
    pub recv_buffer_bytes: usize,
    /// Socket send buffer, bytes.
    pub send_buffer_bytes: usize,
    /// A connection that has not opened this long after `Open` is reported
    /// closed ([`overlay_core::CloseReason::Failed`]). 30 s by default.
    pub handshake_timeout: Duration,
    /// How long a STUN server may take to answer before it is given up
    /// (server-reflexive gathering then ends without it). 3 s by default.
    pub stun_timeout: Duration,
    /// An open connection that hears nothing from its remote this long is
    /// reported [`overlay_core::CloseReason::TimedOut`]: how fast a crashed
    /// or unplugged neighbour is noticed. 4 s by default (browsers mark a
    /// silent peer disconnected after ~5 s). Keep it at least 3 ×
    /// [`RtcConfig::keepalive_interval`], or a few lost keep-alives end a
    /// healthy connection.
    pub silence_timeout: Duration,
    /// How often an idle connection proves it is alive: an end sends a
    /// STUN binding request (ICE consent, ~100 bytes) per interval and the
    /// other answers. On webrtc-rs both ends check every interval (2.5
    /// datagrams per second sent by each end at the default of 1 s); on
    /// str0m the initiator checks every interval and the acceptor every
    /// half [`RtcConfig::silence_timeout`] (each end sends 1.5 datagrams
    /// per second at the defaults; str0m's own default interval is 3 s).
    /// See the backends' `vanished_peer` and `keepalive_traffic` tests, and
    /// `benches/HUB.md` for what it costs a hub. Graceful closes do not
    /// wait for it: they are reported at once.
    pub keepalive_interval: Duration,
}

impl Default for RtcConfig {
    fn default() -> Self {
        RtcConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            recv_buffer_bytes: 4 * 1024 * 1024,
            send_buffer_bytes: 4 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(30),
            stun_timeout: Duration::from_secs(3),
            silence_timeout: Duration::from_secs(4),
            keepalive_interval: Duration::from_secs(1),
        }
    }
}

impl RtcConfig {
    /// Loopback only, the configuration tests use.
    pub fn loopback() -> Self {
        Self::default()
    }

    /// Bind to `ip` (use `0.0.0.0` for every interface).
    #[must_use]
    pub fn with_bind_ip(mut self, ip: IpAddr) -> Self {
        self.bind_ip = ip;
        self
    }

    /// Bind to `port` (0 picks a free one).
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Add a STUN server (`host:port`).
    #[must_use]
    pub fn with_stun_server(mut self, server: impl Into<String>) -> Self {
        self.stun_servers.push(server.into());
        self
    }

    /// Add a TURN server.
    #[must_use]
    pub fn with_turn_server(mut self, server: TurnServer) -> Self {
        self.turn_servers.push(server);
        self
    }

    /// Set the socket receive buffer size, bytes.
    #[must_use]
    pub fn with_recv_buffer_bytes(mut self, bytes: usize) -> Self {
        self.recv_buffer_bytes = bytes;
        self
    }

    /// Set how long a connection may take to open.
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Set how long an open connection may hear nothing before it is
    /// reported timed out ([`RtcConfig::silence_timeout`]).
    #[must_use]
    pub fn with_silence_timeout(mut self, timeout: Duration) -> Self {
        self.silence_timeout = timeout;
        self
    }

    /// Set the keep-alive interval ([`RtcConfig::keepalive_interval`]).
    #[must_use]
    pub fn with_keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }
}

/// A TURN server (RFC 8656) and the long-term credentials to allocate a
/// relay on it. Only UDP between the peer and the server is supported.
///
/// `Debug` prints the URL and the username, never the credential:
///
/// ```
/// use rtc_common::TurnServer;
///
/// let t = TurnServer::new("turn:198.51.100.1:3478", "alice", "s3cret");
/// assert!(!format!("{t:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnServer {
    /// `turn:HOST:PORT` (`HOST:PORT` alone is read the same way; a
    /// `?transport=udp` suffix is accepted).
    pub url: String,
    /// The long-term credential's username.
    pub username: String,
    /// The long-term credential's password.
    pub credential: String,
}

impl TurnServer {
    /// A TURN server at `url` with a username and credential.
    pub fn new(
        url: impl Into<String>,
        username: impl Into<String>,
        credential: impl Into<String>,
    ) -> Self {
        TurnServer {
            url: url.into(),
            username: username.into(),
            credential: credential.into(),
        }
    }
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("credential", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_turn_credentials() {
        let c = RtcConfig::default().with_turn_server(TurnServer::new(
            "turn:10.0.0.1:3478",
            "user",
            "hunter2-credential",
        ));
        let text = format!("{c:?} {c:#?}");
        assert!(!text.contains("hunter2-credential"), "{text}");
        assert!(text.contains("turn:10.0.0.1:3478"), "{text}");
    }

    #[test]
    fn config_reads_partial_json_with_defaults() -> Result<(), serde_json::Error> {
        let c: RtcConfig = serde_json::from_str(r#"{"stun_servers":["127.0.0.1:3478"]}"#)?;
        assert_eq!(c.stun_servers, vec!["127.0.0.1:3478".to_string()]);
        assert_eq!(c.bind_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(c.recv_buffer_bytes, 4 * 1024 * 1024);
        Ok(())
    }
}
