//! Engine configuration.

use std::time::Duration;

/// Limits and timeouts of an [`crate::Engine`]. `Config::default()` holds
/// the defaults the spec names (10 s pending, 60 s dying).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// A handshake that has not opened a connection by then is dropped and
    /// its arcs fail with [`crate::ConnectFailure::Timeout`]. Default 10 s.
    pub pending_timeout: Duration,
    /// A connection with no arc left stays open this long (so a new arc
    /// revives it without a handshake), then closes. Default 60 s.
    pub dying_timeout: Duration,
    /// How long a bridge waits for the peer it asked to report the outcome
    /// of a connect. Default: `pending_timeout` + 5 s.
    pub bridge_timeout: Duration,
    /// Largest frame, in bytes, sent or accepted on a connection (header
    /// included). Default 64 KiB, what every WebRTC stack accepts.
    pub max_frame_size: usize,
    /// Largest application message, in bytes; larger ones are split into
    /// frames and reassembled. Default 1 MiB.
    pub max_message_size: usize,
    /// Bytes of application messages one connection may queue before `send`
    /// reports [`crate::SendError::Full`] (or an async sender waits). Never
    /// below `max_message_size`. Default 4 MiB.
    pub send_queue_limit: usize,
    /// Malformed frames tolerated from one connection before it is closed.
    /// Default 8.
    pub max_bad_frames: u32,
    /// Handshakes at once (pending connections). Offers beyond it are
    /// dropped and counted. Default 1024.
    pub max_pending: usize,
    /// Signals kept for handshakes not known yet (out-of-order delivery),
    /// across all such handshakes. Default 256.
    pub max_early_signals: usize,
    /// **Insecure.** Accept connections whose transport cannot bind them to
    /// their DTLS certificates (it reports no fingerprints); their `HELLO`
    /// then proves an identity but not that no relay sits in the middle.
    /// Default `false`: such connections fail with
    /// [`crate::ConnectFailure::NoChannelBinding`]. Only for transports
    /// without DTLS in a setting you trust (tests, a local pipe).
    pub insecure_allow_unbound_connections: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pending_timeout: Duration::from_secs(10),
            dying_timeout: Duration::from_secs(60),
            bridge_timeout: Duration::from_secs(15),
            max_frame_size: 64 * 1024,
            max_message_size: 1024 * 1024,
            send_queue_limit: 4 * 1024 * 1024,
            max_bad_frames: 8,
            max_pending: 1024,
            max_early_signals: 256,
            insecure_allow_unbound_connections: false,
        }
    }
}

impl Config {
    /// Set the pending timeout (and the bridge timeout to it + 5 s).
    pub fn with_pending_timeout(mut self, t: Duration) -> Self {
        self.pending_timeout = t;
        self.bridge_timeout = t + Duration::from_secs(5);
        self
    }

    /// Set the dying timeout.
    pub fn with_dying_timeout(mut self, t: Duration) -> Self {
        self.dying_timeout = t;
        self
    }

    /// Set the largest application message.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self.send_queue_limit = self.send_queue_limit.max(bytes);
        self
    }

    /// Set the per-connection send queue limit (at least one message).
    pub fn with_send_queue_limit(mut self, bytes: usize) -> Self {
        self.send_queue_limit = bytes.max(self.max_message_size);
        self
    }

    /// Set the frame size limit (at least 1 KiB).
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes.max(1024);
        self
    }
}
