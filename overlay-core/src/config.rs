//! Engine configuration.
//!
//! Every field is read through a getter and set through a `with_*` method
//! that keeps it in its valid range (and consistent with the others), so a
//! [`Config`] can never hold a value that breaks the engine (a frame limit
//! too small to carry a header, a queue smaller than one message...).
//! `docs/LIMITS.md` lists every limit, the attack it stops, and what the
//! node does when it is hit.

use std::time::Duration;

/// Smallest accepted frame limit: room for every control frame header.
pub const MIN_FRAME_SIZE: usize = 1024;
/// Largest accepted frame limit: 64 KiB, what every WebRTC stack carries
/// (webrtc-rs stops sending on a connection after a larger message).
pub const MAX_FRAME_SIZE: usize = 64 * 1024;
/// Largest accepted message limit: the wire carries lengths as `u32`, and a
/// message is buffered whole.
pub const MAX_MESSAGE_SIZE: usize = 1 << 30;

/// Limits and timeouts of an [`crate::Engine`]. `Config::default()` holds
/// the defaults the spec names (10 s pending, 60 s dying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) pending_timeout: Duration,
    pub(crate) dying_timeout: Duration,
    pub(crate) bridge_timeout: Duration,
    pub(crate) max_frame_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) send_queue_limit: usize,
    pub(crate) max_bad_frames: u32,
    pub(crate) bad_frame_decay: Duration,
    pub(crate) max_pending: usize,
    pub(crate) max_pending_per_neighbour: usize,
    pub(crate) max_early_signals: usize,
    pub(crate) max_arcs_per_pair: u32,
    pub(crate) max_protocols_per_connection: usize,
    pub(crate) max_coalesced: usize,
    pub(crate) max_reassembly_memory: usize,
    pub(crate) max_reply_queue: usize,
    pub(crate) insecure_allow_unbound_connections: bool,
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
            bad_frame_decay: Duration::from_secs(10),
            max_pending: 1024,
            max_pending_per_neighbour: 32,
            max_early_signals: 256,
            max_arcs_per_pair: 1024,
            max_protocols_per_connection: 64,
            max_coalesced: 64,
            max_reassembly_memory: 32 * 1024 * 1024,
            max_reply_queue: 1024 * 1024,
            insecure_allow_unbound_connections: false,
        }
    }
}

impl Config {
    /// A handshake that has not opened a connection by then is dropped and
    /// its arcs fail with [`crate::ConnectFailure::Timeout`]. Default 10 s.
    pub fn pending_timeout(&self) -> Duration {
        self.pending_timeout
    }

    /// A connection with no arc left stays open this long (so a new arc
    /// revives it without a handshake), then closes. Default 60 s.
    pub fn dying_timeout(&self) -> Duration {
        self.dying_timeout
    }

    /// How long a bridge waits for the peer it asked to report the outcome
    /// of a connect. Default: `pending_timeout` + 5 s.
    pub fn bridge_timeout(&self) -> Duration {
        self.bridge_timeout
    }

    /// Largest frame, in bytes, sent or accepted on a connection (header
    /// included). Default 64 KiB, what every WebRTC stack accepts.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Largest application message, in bytes; larger ones are split into
    /// frames and reassembled. Default 1 MiB.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Bytes of application messages one connection may queue before `send`
    /// reports [`crate::SendError::Full`] (or an async sender waits). Never
    /// below `max_message_size`. Default 4 MiB.
    pub fn send_queue_limit(&self) -> usize {
        self.send_queue_limit
    }

    /// Malformed or unexpected frames tolerated from one connection before
    /// it is closed as a protocol violator. Default 8.
    pub fn max_bad_frames(&self) -> u32 {
        self.max_bad_frames
    }

    /// One bad frame is forgiven per this interval, so a peer that errs
    /// now and then is never cut. Default 10 s.
    pub fn bad_frame_decay(&self) -> Duration {
        self.bad_frame_decay
    }

    /// Handshakes at once (pending connections). Offers beyond it are
    /// dropped and counted. Default 1024.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// Pending handshakes one neighbour may have opened (its `CONNECT_TO`
    /// requests and the offers it relays), so that it cannot fill the
    /// table of [`Config::max_pending`] and lock honest peers out. Beyond
    /// it, its requests are refused as busy. Default 32.
    pub fn max_pending_per_neighbour(&self) -> usize {
        self.max_pending_per_neighbour
    }

    /// Signals kept for handshakes not known yet (out-of-order delivery),
    /// across all such handshakes. Default 256.
    pub fn max_early_signals(&self) -> usize {
        self.max_early_signals
    }

    /// Arcs of one protocol in one direction over one connection. A
    /// neighbour announcing more is a protocol violator; a request for
    /// more is refused. Default 1024.
    pub fn max_arcs_per_pair(&self) -> u32 {
        self.max_arcs_per_pair
    }

    /// Protocols with arcs over one connection. Default 64.
    pub fn max_protocols_per_connection(&self) -> usize {
        self.max_protocols_per_connection
    }

    /// Arc requests that may wait on one handshake in progress (coalesced
    /// into it). Beyond it, requests are refused as busy. Default 64.
    pub fn max_coalesced(&self) -> usize {
        self.max_coalesced
    }

    /// Bytes of split messages being reassembled, across every connection
    /// of the node. A message that would go past it is dropped (counted),
    /// not delivered. Default 32 MiB.
    pub fn max_reassembly_memory(&self) -> usize {
        self.max_reassembly_memory
    }

    /// Memory (frame bytes plus per-frame bookkeeping) of control frames
    /// queued toward one neighbour. Past it, the neighbour's requests that
    /// need an answer are refused (counted, not a violation) until it
    /// reads. Default 1 MiB.
    pub fn max_reply_queue(&self) -> usize {
        self.max_reply_queue
    }

    /// **Insecure.** Accept connections whose transport cannot bind them to
    /// their DTLS certificates (it reports no fingerprints); their `HELLO`
    /// then proves an identity but not that no relay sits in the middle.
    /// Default `false`: such connections fail with
    /// [`crate::ConnectFailure::NoChannelBinding`]. Only for transports
    /// without DTLS in a setting you trust (tests, a local pipe).
    pub fn insecure_allow_unbound_connections(&self) -> bool {
        self.insecure_allow_unbound_connections
    }

    /// **Insecure.** See [`Config::insecure_allow_unbound_connections`].
    #[must_use]
    pub fn with_insecure_allow_unbound_connections(mut self, allow: bool) -> Self {
        self.insecure_allow_unbound_connections = allow;
        self
    }

    /// Set the pending timeout (at least 1 ms), and the bridge timeout to
    /// it + 5 s.
    #[must_use]
    pub fn with_pending_timeout(mut self, t: Duration) -> Self {
        self.pending_timeout = t.max(Duration::from_millis(1));
        self.bridge_timeout = self.pending_timeout + Duration::from_secs(5);
        self
    }

    /// Set the bridge timeout (never below the pending timeout).
    #[must_use]
    pub fn with_bridge_timeout(mut self, t: Duration) -> Self {
        self.bridge_timeout = t.max(self.pending_timeout);
        self
    }

    /// Set the dying timeout.
    #[must_use]
    pub fn with_dying_timeout(mut self, t: Duration) -> Self {
        self.dying_timeout = t;
        self
    }

    /// Set the largest application message (1 byte to 1 GiB); the send
    /// queue limit grows to hold one.
    #[must_use]
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.clamp(1, MAX_MESSAGE_SIZE);
        self.send_queue_limit = self.send_queue_limit.max(self.max_message_size);
        self
    }

    /// Set the per-connection send queue limit (at least one message).
    #[must_use]
    pub fn with_send_queue_limit(mut self, bytes: usize) -> Self {
        self.send_queue_limit = bytes.max(self.max_message_size);
        self
    }

    /// Set the frame size limit (1 KiB to 64 KiB).
    #[must_use]
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes.clamp(MIN_FRAME_SIZE, MAX_FRAME_SIZE);
        self
    }

    /// Set the bad frames tolerated (at least 1).
    #[must_use]
    pub fn with_max_bad_frames(mut self, n: u32) -> Self {
        self.max_bad_frames = n.max(1);
        self
    }

    /// Set the interval after which one bad frame is forgiven (at least 1 ms).
    #[must_use]
    pub fn with_bad_frame_decay(mut self, t: Duration) -> Self {
        self.bad_frame_decay = t.max(Duration::from_millis(1));
        self
    }

    /// Set the pending handshake table size (at least 1); the per-neighbour
    /// share never exceeds it.
    #[must_use]
    pub fn with_max_pending(mut self, n: usize) -> Self {
        self.max_pending = n.max(1);
        self.max_pending_per_neighbour = self.max_pending_per_neighbour.min(self.max_pending);
        self
    }

    /// Set the pending handshakes one neighbour may open (1 to `max_pending`).
    #[must_use]
    pub fn with_max_pending_per_neighbour(mut self, n: usize) -> Self {
        self.max_pending_per_neighbour = n.clamp(1, self.max_pending);
        self
    }

    /// Set how many early signals are kept.
    #[must_use]
    pub fn with_max_early_signals(mut self, n: usize) -> Self {
        self.max_early_signals = n;
        self
    }

    /// Set the arcs per protocol, direction and connection (at least 1).
    #[must_use]
    pub fn with_max_arcs_per_pair(mut self, n: u32) -> Self {
        self.max_arcs_per_pair = n.max(1);
        self
    }

    /// Set the protocols per connection (at least 1).
    #[must_use]
    pub fn with_max_protocols_per_connection(mut self, n: usize) -> Self {
        self.max_protocols_per_connection = n.max(1);
        self
    }

    /// Set the requests that may wait on one handshake (at least 1).
    #[must_use]
    pub fn with_max_coalesced(mut self, n: usize) -> Self {
        self.max_coalesced = n.max(1);
        self
    }

    /// Set the node-wide reassembly memory (at least one message).
    #[must_use]
    pub fn with_max_reassembly_memory(mut self, bytes: usize) -> Self {
        self.max_reassembly_memory = bytes.max(self.max_message_size);
        self
    }

    /// Set the reply queue memory per neighbour (at least 4 KiB).
    #[must_use]
    pub fn with_max_reply_queue(mut self, bytes: usize) -> Self {
        self.max_reply_queue = bytes.max(4096);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_keep_fields_in_range() {
        let c = Config::default()
            .with_max_frame_size(10)
            .with_max_message_size(0)
            .with_max_bad_frames(0)
            .with_pending_timeout(Duration::ZERO)
            .with_max_pending(0)
            .with_max_pending_per_neighbour(5);
        assert_eq!(c.max_frame_size(), MIN_FRAME_SIZE);
        assert_eq!(c.max_message_size(), 1);
        assert_eq!(c.max_bad_frames(), 1);
        assert!(c.pending_timeout() > Duration::ZERO);
        assert!(c.bridge_timeout() >= c.pending_timeout());
        assert_eq!(c.max_pending(), 1);
        assert_eq!(c.max_pending_per_neighbour(), 1);
        let c = Config::default().with_max_message_size(usize::MAX);
        assert_eq!(c.max_message_size(), MAX_MESSAGE_SIZE);
        assert!(c.send_queue_limit() >= c.max_message_size());
    }
}
