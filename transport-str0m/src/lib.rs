//! n2n-overlay transport on [str0m](https://docs.rs/str0m) 0.25, a sans-IO
//! WebRTC library: every connection of a node is a WebRTC data channel,
//! and all of them share **one UDP socket** and are driven by **one task**,
//! the one that polls the transport.
//!
//! # Use
//! Bind a [`Str0mTransport`] inside a tokio runtime and hand it to the
//! engine's driver (anything that runs [`overlay_core::Transport`]). The
//! example drives two transports by hand: `a` offers, `b` answers, the
//! signals are carried in-process, and a frame crosses once both are open.
//!
//! ```
//! use std::future::poll_fn;
//! use std::time::Instant;
//! use overlay_core::{ConnId, Role, Transport, TransportCommand as Cmd, TransportEvent as Ev};
//! use rtc_common::RtcConfig;
//! use transport_str0m::Str0mTransport;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut a = Str0mTransport::bind(&RtcConfig::loopback())?;
//! let mut b = Str0mTransport::bind(&RtcConfig::loopback())?;
//! let c = ConnId(1);
//! a.handle_command(Instant::now(), Cmd::Open { conn: c, role: Role::Initiator })?;
//! b.handle_command(Instant::now(), Cmd::Open { conn: c, role: Role::Acceptor })?;
//! let mut open = 0;
//! while open < 2 {
//!     // Poll both; whichever has an event goes first.
//!     let (from_a, ev) = poll_fn(|cx| {
//!         if let std::task::Poll::Ready(e) = a.poll_event(cx) { return std::task::Poll::Ready((true, e)); }
//!         b.poll_event(cx).map(|e| (false, e))
//!     }).await;
//!     let (other, _me) = if from_a { (&mut b, ()) } else { (&mut a, ()) };
//!     match ev {
//!         Ev::Signal { conn, signal } => other.handle_command(Instant::now(), Cmd::Signal { conn, signal })?,
//!         Ev::Opened { .. } => open += 1,
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! a.handle_command(Instant::now(), Cmd::Send { conn: c, frame: "hello".into() })?;
//! loop {
//!     let ev = poll_fn(|cx| {
//!         let _ = a.poll_event(cx); // a must run too: it sends
//!         b.poll_event(cx)
//!     }).await;
//!     if let Ev::Frame { frame, .. } = ev {
//!         assert_eq!(&frame[..], b"hello");
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Run loop and design
//! - **One socket.** [`Str0mTransport::bind`] opens one UDP socket (receive
//!   buffer [`RtcConfig::recv_buffer_bytes`](rtc_common::RtcConfig), 4 MiB by
//!   default: the OS default of 208 KiB drops packets on loopback under
//!   load). Each received datagram goes to the connection whose
//!   `Rtc::accepts` takes it (a map from remote address to connection
//!   serves established connections first).
//! - **Sans-IO.** [`Transport::poll_event`](overlay_core::Transport::poll_event)
//!   reads the socket, feeds str0m, drains its output (datagrams are sent at
//!   once) and keeps one tokio `Sleep` for the earliest str0m timeout of
//!   all connections. No task is spawned: dropping the transport drops the
//!   socket and every connection; nothing keeps running.
//! - **Prepared once** ([`NodeRtcConfig`], [`install_crypto`]): per
//!   process, the crypto provider and str0m's DTLS configuration (building
//!   it self-tests the provider with key exchanges in three curves: that
//!   was ~0.9 ms of every `Rtc`); per node, one DTLS certificate and a
//!   str0m configuration without audio/video codecs. Building a
//!   connection's `Rtc` then takes ~0.012 ms instead of ~0.9 ms
//!   (`cargo run --release -p n2n-benches --example str0m_setup`).
//! - **Candidates.** Host candidates for the bound address (for `0.0.0.0`,
//!   one per local interface), carried in the offer/answer SDP; then
//!   server-reflexive candidates from the configured STUN servers (each
//!   asked from the node's socket) and relay candidates from the configured
//!   TURN servers, trickled as
//!   [`Signal::candidate`](overlay_core::Signal::candidate) with the mid of
//!   the offer's data section and index 0, then
//!   [`Signal::EndOfCandidates`](overlay_core::Signal).
//!   Remote candidates are taken trickled, before the offer (buffered, at
//!   most 64), with `a=`, with a null `sdpMLineIndex`; mDNS `.local`
//!   candidates are skipped (a native peer cannot resolve them).
//! - **One reliable, ordered data channel** per connection, created by the
//!   initiator in its offer (so the SDP is what browsers offer and accept).
//! - **Flow control.** Frames wait in a per-connection queue (bounded by the
//!   engine's send window) until str0m's SCTP buffer takes them; each time
//!   it does, [`TransportEvent::Sent`](overlay_core::TransportEvent::Sent)
//!   returns the credit. Nothing is dropped.
//! - **Closes** are reported within seconds: a remote close (DTLS
//!   close_notify, SCTP shutdown, the channel closed) at once; a vanished
//!   peer once it has been silent for
//!   [`RtcConfig::silence_timeout`](rtc_common::RtcConfig) (4 s by default;
//!   ICE keep-alives every [`RtcConfig::keepalive_interval`](rtc_common::RtcConfig),
//!   1 s, about 2 datagrams per second each way on an idle connection: str0m's own ICE
//!   would take ~15 s, as it trusts a pair for 15 s after the remote's last check); a failed
//!   socket at once for every connection; a handshake that does not
//!   finish after [`RtcConfig::handshake_timeout`](rtc_common::RtcConfig).
//!   A local `Close` sends DTLS close_notify, so the remote sees it at once;
//!   so does a connection that ends here for any other reason (a command
//!   refused with [`Str0mError`], a str0m failure), so its remote never
//!   waits for the silence timeout. Dropping the transport is a crash: no
//!   goodbye (the transport contract; a node closes its connections first).
//! - **Frames** of 1 to 64 KiB ([`overlay_core::config::MAX_FRAME_SIZE`]).
//!   An empty frame is refused ([`Str0mError::FrameSize`]): str0m 0.25
//!   sends no chunk for one yet advances the SCTP stream sequence, so the
//!   receiver would wait for it forever; an empty message from another
//!   stack (PPID 56/57, as browsers send) is received as an empty frame.
//! - **RTT**: [`Transport::rtt`](overlay_core::Transport::rtt) is the
//!   round trip of this end's latest answered ICE check on the selected
//!   pair (STUN transaction ids matched by the transport), refreshed by
//!   every keep-alive ([`RtcConfig::keepalive_interval`](rtc_common::RtcConfig)).
//!   No statistics timer: an idle connection wakes only to send its
//!   keep-alive.
//!
//! # Limits
//! - **TURN** (`turn.rs`): str0m has no TURN client; this crate runs the
//!   sans-IO client of the `rtc-turn` crate (webrtc-rs's) on the node's one
//!   socket: one allocation per configured server (long-term credentials;
//!   UDP to the server only, no TCP or TLS), refreshed by the client; the
//!   relayed address is a relay candidate of every connection. What str0m
//!   sends from it is wrapped (a permission per peer address, at most 1024
//!   per allocation, then Send indications or ChannelData); what the server
//!   relays is unwrapped and handed to str0m as from the peer.
//!   [`Str0mTransport::paths`] tells which pair each connection selected.
//! - **One connection per pair of sockets.** DTLS records carry no
//!   connection id, and str0m routes every packet from a remote socket its
//!   connection already talks to to that connection: two connections of one
//!   node to the same remote socket cannot share the socket. The overlay
//!   keeps one connection per pair of peers, so this only shows if two
//!   handshakes between the same two nodes run at once: the second fails
//!   ([`CloseReason::Failed`](overlay_core::CloseReason), at its handshake
//!   timeout, or at once if it reaches DTLS) and the first is unharmed.
//! - With `0.0.0.0`, the local address a datagram arrived on is guessed
//!   from the interface subnets (no `IP_PKTINFO`); bind a specific address
//!   on multi-homed hosts where that guess would be wrong.
//!
//! # Panics
//! None from network input: malformed datagrams are counted
//! ([`Stats::malformed`]) and bad signals give [`Str0mError`].
//!
//! # Layout
//! - `transport.rs`: [`Str0mTransport`], the socket, routing and timers.
//! - `conn.rs`: one connection: its `Rtc`, handshake phase and send queue.
//! - `prepared.rs`: [`NodeRtcConfig`], what a node prepares once.
//! - `stun.rs`: server-reflexive gathering.
//! - `turn.rs`: relay candidates through TURN servers.
//! - `error.rs`: [`BindError`], [`Str0mError`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod conn;
mod error;
mod prepared;
mod stun;
mod transport;
mod turn;

pub use error::{BindError, Str0mError};
pub use prepared::{install_crypto, NodeRtcConfig, ICE_RETRANSMITS};
pub use transport::Str0mTransport;

/// Counters of one transport (since it was bound).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams read from the socket.
    pub datagrams_in: u64,
    /// Datagrams written to the socket.
    pub datagrams_out: u64,
    /// Datagrams not written: the socket's send buffer was full.
    pub send_would_block: u64,
    /// Datagrams not written: another send error (unreachable address...).
    pub send_errors: u64,
    /// Per-datagram receive errors (ICMP feedback), not fatal.
    pub recv_errors: u64,
    /// Datagrams that are not STUN, DTLS, RTP or RTCP.
    pub malformed: u64,
    /// Datagrams no connection accepted (late packets of a closed one...).
    pub unrouted: u64,
    /// Datagrams a connection's str0m rejected (malformed or forged
    /// records), dropped; the connection goes on.
    pub rejected_input: u64,
    /// Frames handed to str0m.
    pub frames_out: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames received on an unknown data channel, dropped.
    pub dropped_frames: u64,
    /// Remote mDNS candidates skipped.
    pub skipped_candidates: u64,
    /// Connections failed because another one already used their remote socket.
    pub pair_collisions: u64,
    /// Datagrams str0m sent from a relay candidate that the TURN relay did
    /// not take yet (the permission for the peer was still pending; ICE
    /// retransmits).
    pub relay_dropped: u64,
    /// Datagrams relayed from peers by a TURN server.
    pub relayed_in: u64,
    /// Timeouts fed to connections: each wake-up str0m or the transport's
    /// own deadlines (handshake, silence) asked for. An idle open
    /// connection wakes only to send its keep-alive check.
    pub timeouts: u64,
}
