//! n2n-overlay transport on webrtc-rs (the `webrtc` crate, 0.21, tokio).
//!
//! [`WebRtcTransport`] implements [`overlay_core::Transport`]: one
//! webrtc-rs `PeerConnection` per connection, each with one reliable ordered
//! data channel, trickle ICE both ways, host candidates for the configured
//! bind address and server-reflexive ones from the configured STUN servers
//! ([`rtc_common::RtcConfig`], shared with the str0m backend).
//!
//! # How it runs
//! webrtc-rs is async: every `PeerConnection` has a driver task (spawned by
//! the library) that owns its UDP socket and timers. This crate adds, per
//! connection, one *connection task* that owns the `PeerConnection`,
//! applies the remote's signals and turns library callbacks into
//! [`TransportEvent`]s, and hands the connection's data channel over to the
//! transport. The data path takes no extra task hop: the transport polls
//! every data channel's events ([`Transport::poll_event`] turns them into
//! `Opened`, `Frame` and `Closed`), and drives each open channel's *frame
//! pump*, a future that hands queued frames to `DataChannel::send`, from
//! the same `poll_event`, in the engine's own task.
//! [`Transport::handle_command`] only checks a command and queues it. The
//! transport must be created inside a tokio runtime (multi-thread or
//! current-thread), which runs the connection tasks.
//!
//! The library's callbacks (run on its driver task) hold only a `Weak` to
//! the connection task's state and `try_send` into a bounded channel: they
//! never block the driver and keep nothing alive. `Close` (or a command
//! refused with an [`Error`], which ends its connection) drops the task's
//! inputs and the connection's pump and event stream; the task then closes
//! the `PeerConnection` (the remote sees an SCTP ABORT at once), waits for
//! the driver to stop and ends. Dropping the transport is a crash (the
//! transport contract): each task stops its driver (aborted, through the
//! custom runtime) without closing, so the remote reports the connection
//! timed out; nothing keeps running either way.
//!
//! Frames are 1 to 64 KiB ([`overlay_core::config::MAX_FRAME_SIZE`]):
//! webrtc-rs stops all sending on a connection after a message over
//! 64 KiB, with no close event and no credit back, so a larger (or empty)
//! frame is refused with [`Error::FrameSize`] before it reaches the
//! library, and its connection closed. [`Transport::rtt`] is the nominated
//! ICE pair's round-trip time from the library's statistics, read every
//! 2 s.
//!
//! Sockets: webrtc-rs binds one UDP socket per connection (on
//! [`RtcConfig::bind_ip`]; `0.0.0.0` means every interface but loopback,
//! so tests bind `127.0.0.1`). A fixed [`RtcConfig::port`] therefore serves
//! one connection at a time; leave it 0. mDNS is off (no multicast socket):
//! host candidates carry plain addresses.
//!
//! Remote signals are read tolerantly ([`rtc_common::signals`]): candidates
//! before the description are buffered, `sdpMLineIndex: null`, a leading
//! `a=` and end-of-candidates are accepted. A signal that cannot be used (no
//! SDP, SDP that does not parse, an offer sent to the offering side, a
//! candidate line that does not parse) makes `handle_command` return an
//! [`Error`] and drops that connection.
//!
//! Close detection: the remote's close arrives as an SCTP ABORT and is
//! reported as [`CloseReason::Remote`] at once; a remote that goes silent is
//! reported [`CloseReason::TimedOut`] once ICE has heard nothing from it
//! for [`RtcConfig::silence_timeout`] (4 s by default; keep-alives every
//! [`RtcConfig::keepalive_interval`]); a connection not open after
//! [`RtcConfig::handshake_timeout`] is reported failed.
//!
//! Flow control: each connection's data channel gets a send-buffer limit
//! ([`Options::send_buffer_limit`], 1 MiB). The frame pump hands frames to
//! `DataChannel::send`, which waits while the library holds more than that
//! (unacknowledged by SCTP), and reports [`TransportEvent::Sent`] when the
//! library took them. The engine keeps at most
//! [`Transport::send_window`] bytes in the pump's queue, so no frame is
//! ever dropped for lack of room. Each UDP socket gets
//! [`RtcConfig::recv_buffer_bytes`] of receive buffer (4 MiB): without it
//! loopback bulk transfers lose packets and SCTP stalls.
//!
//! # The 600 ms setup stall, and how it is avoided
//! Out of the box, webrtc 0.21 takes about 600 ms to open a data channel
//! on loopback although ICE is done within a millisecond (figures in
//! `benches/README.md`). The cause is in the driver loop
//! (`PeerConnectionDriver::event_loop`, `src/peer_connection/driver.rs`).
//! Each pass of the loop runs, in this order:
//! 1. `poll_writes`: drain `core.poll_write()` onto the socket;
//! 2. `poll_events`: drain `core.poll_event()`. This is where the sans-IO
//!    core (`rtc`) *pumps its internal events* through its handler pipeline,
//!    and handlers react to them by queueing output: on "ICE connected" the
//!    DTLS handler starts its handshake (ClientHello), on "DTLS handshake
//!    complete" the SCTP handler sends INIT, on "SCTP established" the data
//!    channel handler sends DATA_CHANNEL_OPEN;
//! 3. `poll_reads`, then `poll_timeout`, then a `select!` on the sockets,
//!    the application's events and a timer for the core's next deadline.
//!
//! The output queued in step 2 comes *after* step 1 of the same pass, and
//! the core's `poll_timeout` does not report "output pending" as a due
//! deadline, so the driver goes to sleep with it queued. The next pass only
//! comes with the next timer, the ICE check interval of 200 ms (nothing
//! else arrives: the remote is waiting for exactly that output). This
//! happens three times during setup: 3 × 200 ms.
//!
//! The library lets us replace its [`Runtime`](webrtc::runtime::Runtime)
//! (`PeerConnectionBuilder::with_runtime`), and its driver's only timer is
//! `Runtime::sleep`. Our runtime (tokio underneath) wraps the driver task it
//! is asked to spawn so that it knows, on each poll, when the driver itself
//! is running; a `sleep` made by the driver is then:
//! - after any ordinary sleep has ended (deadline, packet, application
//!   event, however it ended), a sleep that is due *at once*: the driver
//!   makes exactly one more pass, whose step 1 sends what the previous
//!   pass's step 2 queued;
//! - otherwise (after such a flush pass) the ordinary timer, which can also
//!   be woken by a nudge.
//!
//! So every wake-up of the driver costs one extra pass, never more: no busy
//! loop, and an idle connection sleeps as long as the library asks (ICE
//! keepalives; the idle driver wakes twice per keepalive instead of once).
//! The nudge covers a second, smaller gap: `add_ice_candidate` changes the
//! ICE agent's schedule without waking the driver, so after each trickled
//! remote candidate the connection task wakes the driver's timer.
//! Sleeps made outside the driver (the data channel's back-pressure
//! backstop, `close()`'s wait) are plain tokio sleeps.
//! [`Options::fix_setup_stall`] turns the workaround off, for measurement.
//!
//! Two ICE settings of the library also cost setup time once that stall is
//! gone, and are changed through its `SettingEngine`:
//! - with trickle ICE the remote's first check often arrives before its
//!   candidate; the pair is then peer-reflexive, and the offering side
//!   waits 1 s (`prflx_acceptance_min_wait`) before nominating it: 0 here
//!   ([`Options::prflx_acceptance_min_wait`]), as in libwebrtc;
//! - the offering side nominates a pair only on its check tick (200 ms): a
//!   pair that turns valid just after a tick waited up to 200 ms. The tick
//!   is 25 ms here ([`Options::ice_check_interval`]), with as many more
//!   checks per pair so a pair is still tried for ~1.4 s.
//!
//! What the workaround and these settings save, measured against the
//! library's defaults and libwebrtc, is in `benches/README.md` ("webrtc-rs
//! backend measurements").
//!
//! # Early packets
//! When this backend makes the offer, a fast remote (libwebrtc, Chromium,
//! libdatachannel, str0m) sends datagrams the library is not ready for,
//! and webrtc 0.21's sans-IO core drops them; each loss costs one of the
//! remote's retransmission timers (libwebrtc resends a DTLS ClientHello
//! after 50 ms, libdatachannel after up to 1 s, str0m an ICE check after
//! 250 ms):
//! - an ICE check that arrives before the answer is applied (the agent has
//!   no remote credentials yet: `rtc-ice`, `Agent::handle_inbound`);
//! - a DTLS record that arrives before the agent selected a pair (the
//!   remote started DTLS once its own check succeeded; `rtc`,
//!   `IceHandler::handle_read` drops every non-STUN datagram until then).
//!
//! The custom runtime's `wrap_udp_socket` puts a small filter in front of
//! each connection's socket (`early.rs`): such datagrams are kept (at most
//! 16 per connection) and returned by the socket's next receive once the
//! connection task has applied the remote description, or once the
//! library reports ICE connected (its handler callback runs in the
//! driver's pass that selected the pair, after the DTLS handler saw the
//! selection). Of DTLS datagrams only the newest copy is kept: before it
//! hears from us the remote can only resend its first flight (a datagram
//! of the same length as a held one), and answering each copy would make
//! the library answer twice. Nothing else is
//! touched: other datagrams, and everything after setup, pass straight
//! through.
//!
//! One more wait is the nomination: as the offering (controlling) side
//! the library nominates a pair that just turned valid only on its next
//! check tick ([`Options::ice_check_interval`]), unless the remote's check
//! arrives on a pair that is already valid, which nominates at once. On
//! loopback and LANs the remote's check usually came *before* ours
//! succeeded, so the filter gives the library a copy of the remote's last
//! check right after the first success response (once per connection, and
//! only when we are the controlling side, as the check's ICE-CONTROLLED
//! attribute says): the library answers it a second time (the remote
//! ignores a response to a transaction it finished) and nominates without
//! waiting for the tick. (Done for a controlling remote too, the second
//! answer made libdatachannel's agent stop before it nominated, in about
//! half the setups.)
//! [`Options::hold_early_packets`] turns all of this off (for
//! measurement); [`Stats`] counts what was held, released and replayed.
//!
//! # Candidates in the description, and who checks first
//! The offer (or answer) goes out once the library has gathered its
//! first local candidate, with the candidates gathered so far in it
//! ([`Options::candidates_in_description`], waiting at most
//! [`Options::description_wait`]); those are not trickled again. The
//! remote can check as soon as the description arrives, instead of one
//! signaling hop later. And the offering side applies the answer only
//! once the remote's first check has arrived (held, see above), at most
//! [`Options::remote_check_wait`] after the answer: libdatachannel's ICE
//! agent (libjuice) postpones its own first check by 50 ms each time a
//! check of ours reaches it first, which made setup ~80 ms; with the
//! remote's check in hand the library also nominates at once.
//! The measurements are in `docs/INTEROP-SETUP.md`.
//!
//! # Example
//! ```
//! use std::time::Instant;
//! use overlay_core::{ConnId, Role, Transport, TransportCommand};
//! use rtc_common::RtcConfig;
//! use transport_webrtcrs::WebRtcTransport;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut transport = WebRtcTransport::bind(&RtcConfig::loopback())?;
//! // The engine opens a connection; the transport answers with signals
//! // (an offer, then candidates) on `poll_event`.
//! transport.handle_command(Instant::now(), TransportCommand::Open { conn: ConnId(1), role: Role::Initiator })?;
//! let event = std::future::poll_fn(|cx| transport.poll_event(cx)).await;
//! assert_eq!(event.conn(), ConnId(1));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `transport.rs`: [`WebRtcTransport`], its connection table and the
//!   polling of data-channel events and frame pumps.
//! - `conn.rs`: one connection's task (the `PeerConnection`, signals,
//!   library callbacks), its data-channel stream and frame pump.
//! - `runtime.rs`: the custom webrtc-rs runtime (setup-stall workaround,
//!   socket buffers, abortable drivers).
//! - `early.rs`: the socket filter that holds early datagrams.
//! - `config.rs`: [`Options`].
//! - `error.rs`: [`BindError`], [`Error`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Names the docs above link to.
#[cfg(doc)]
use overlay_core::{CloseReason, Transport, TransportEvent};

mod config;
mod conn;
mod early;
mod error;
mod runtime;
mod transport;

pub use config::Options;
pub use error::{BindError, Error};
pub use rtc_common::RtcConfig;
pub use transport::{TaskProbe, WebRtcTransport};

/// Counters of a [`WebRtcTransport`], for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Connections the transport holds.
    pub connections: usize,
    /// Connection tasks still running (including those of
    /// connections already closed and winding down).
    pub live_tasks: usize,
    /// Library callbacks dropped because a connection task was behind.
    pub dropped_callbacks: u64,
    /// Remote candidates the library would not take (ignored).
    pub rejected_candidates: u64,
    /// Extra driver passes made by the stall workaround (finished connections).
    pub driver_flushes: u64,
    /// Driver wake-ups after remote candidates (finished connections).
    pub driver_nudges: u64,
    /// Datagrams that came before the library could use them (an ICE
    /// check before the remote description, a DTLS record before ICE
    /// selected a pair) and were held ([`Options::hold_early_packets`]).
    pub early_held: u64,
    /// Held datagrams handed to the library once it could use them.
    pub early_released: u64,
    /// Held DTLS records replaced by the remote's resend of the same
    /// flight (only the newest copy goes to the library).
    pub early_superseded: u64,
    /// Early datagrams not held because their connection already held
    /// the most it may (the library dropped them).
    pub early_overflow: u64,
    /// Remote ICE checks given to the library a second time, right after
    /// a check of ours succeeded, so that the offering side nominates the
    /// pair at once instead of on its next check tick
    /// ([`Options::hold_early_packets`] turns this on too).
    pub checks_replayed: u64,
}
