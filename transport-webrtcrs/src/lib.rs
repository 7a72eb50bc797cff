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
//! never block the driver and keep nothing alive. `Close`, or dropping the
//! transport, drops the task's inputs and the connection's pump and event
//! stream; the task then closes the `PeerConnection` (the remote sees an
//! SCTP ABORT at once), waits for the driver to stop and ends.
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
//! Out of the box, webrtc 0.21 takes ~605 ms to open a data channel on
//! loopback (ICE is done after ~1 ms). The cause is in the driver loop
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
//! Measured (release build, 2 cores shared with other work, both ends in
//! one process, `cargo run --release -p transport-webrtcrs --example
//! setup_bench`; from `Open` on both sides to `Opened` on both sides, 20 runs,
//! medians of three runs of the bench):
//!
//! | setup | median |
//! |---|---|
//! | this transport | 1.6-2.4 ms (p90 up to ~28 ms: a pair that turns valid just after a 25 ms check tick) |
//! | this transport, driver workaround off | ~430 ms |
//! | raw webrtc-rs pair, library defaults | ~806 ms (the stall, plus 200 ms: `add_ice_candidate` does not wake the driver) |
//! | libwebrtc M106, for reference (design notes) | 8.2-9.0 ms |
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
//! let mut transport = WebRtcTransport::new(RtcConfig::loopback())?;
//! // The engine opens a connection; the transport answers with signals
//! // (an offer, then candidates) on `poll_event`.
//! transport.handle_command(Instant::now(), TransportCommand::Open { conn: ConnId(1), role: Role::Initiator })?;
//! let event = std::future::poll_fn(|cx| transport.poll_event(cx)).await;
//! assert_eq!(event.conn(), ConnId(1));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod conn;
mod runtime;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::{
    CloseReason, ConnId, Role, Signal, Transport, TransportCommand, TransportEvent,
};
use rtc_common::signals::{read_signal, RemoteSignal, SignalError};
pub use rtc_common::RtcConfig;
use tokio::sync::mpsc;
use webrtc::peer_connection::RTCSessionDescription;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, SelectAll, StreamExt};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use crate::conn::{ChannelItem, ConnShared, ConnStart, Counters, RemoteInput, Tagged, TaskOut};

/// Capacity of the channel from the connection tasks to [`Transport::poll_event`].
const EVENT_CHANNEL: usize = 1024;

/// Settings of this backend beyond the shared [`RtcConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Bytes a data channel may hold unacknowledged before `send` waits
    /// (`PeerConnectionBuilder::with_data_channel_send_buffer_limit`).
    /// 1 MiB by default: unbounded sends ran at 3.8 MB/s here, 1 MiB at ~100 MB/s.
    pub send_buffer_limit: usize,
    /// Work around the driver's 600 ms setup stall (see the crate docs).
    /// `true` by default; `false` only to measure the stall.
    pub fix_setup_stall: bool,
    /// Bytes of frames the engine may have queued in a connection's pump
    /// ([`Transport::send_window`]); 256 KiB by default.
    pub send_window: usize,
    /// How long the offering (ICE-controlling) side waits before it
    /// nominates a pair whose remote candidate is peer-reflexive. The
    /// library's default is 1 s; with trickle ICE the remote's first check
    /// often arrives before its candidate does, which makes the pair
    /// peer-reflexive, so the default costs a second of setup. 0 by default
    /// (as libwebrtc).
    pub prflx_acceptance_min_wait: Duration,
    /// ICE check pacing while connecting. The library checks (and the
    /// offering side nominates a pair that became valid) only on this tick,
    /// 200 ms by default; a pair that turns valid just after a tick waits
    /// for the next one. 25 ms by default (RFC 8445 suggests 50 ms pacing for
    /// the checks of one agent; on a LAN or loopback setup takes a few
    /// checks, so the extra traffic is brief). The number of
    /// checks per pair is scaled so a pair is still tried for ~1.4 s.
    pub ice_check_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            send_buffer_limit: 1024 * 1024,
            fix_setup_stall: true,
            send_window: 256 * 1024,
            prflx_acceptance_min_wait: Duration::ZERO,
            ice_check_interval: Duration::from_millis(25),
        }
    }
}

impl Options {
    /// Turn the setup-stall workaround on or off (off only to measure it).
    pub fn with_fix_setup_stall(mut self, on: bool) -> Self {
        self.fix_setup_stall = on;
        self
    }

}

/// Everything a connection task needs to know.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) rtc: RtcConfig,
    pub(crate) send_buffer_limit: usize,
    pub(crate) fix_stall: bool,
    pub(crate) prflx_acceptance_min_wait: Duration,
    pub(crate) ice_check_interval: Duration,
}

/// Why a command was refused. Each names the connection it is about; the
/// connection is dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// [`WebRtcTransport::new`] was called outside a tokio runtime.
    #[error("the webrtc-rs transport needs a tokio runtime: create it inside one")]
    NoRuntime,
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
}

struct ConnHandle {
    generation: u64,
    role: Role,
    /// A remote description was accepted.
    described: bool,
    inputs: mpsc::UnboundedSender<RemoteInput>,
    /// Unbounded, but holds at most the engine's send window of bytes.
    frames: mpsc::UnboundedSender<Bytes>,
    /// Taken by the frame pump when the channel opens.
    frames_rx: Option<mpsc::UnboundedReceiver<Bytes>>,
    /// The data channel, once the connection task handed it over.
    channel: Option<Arc<dyn DataChannel>>,
    /// Shared with the connection task.
    shared: Arc<ConnShared>,
    /// The open event went to the engine (with the channel binding).
    bound: bool,
    /// Frames that arrived after the channel opened, before the binding.
    held: VecDeque<Bytes>,
}

impl ConnHandle {
    fn is_open(&self) -> bool {
        self.shared.is_open()
    }
}

/// The webrtc-rs backend: see the [crate docs](crate).
pub struct WebRtcTransport {
    settings: Arc<Settings>,
    send_window: usize,
    runtime: tokio::runtime::Handle,
    conns: HashMap<ConnId, ConnHandle>,
    events_tx: mpsc::Sender<Tagged>,
    events_rx: mpsc::Receiver<Tagged>,
    /// Every connection's data channel events.
    channels: SelectAll<futures::stream::BoxStream<'static, ChannelItem>>,
    /// Every open connection's frame pump.
    pumps: FuturesUnordered<BoxFuture<'static, ()>>,
    sent_tx: mpsc::UnboundedSender<(ConnId, u64, usize)>,
    sent_rx: mpsc::UnboundedReceiver<(ConnId, u64, usize)>,
    next_generation: u64,
    counters: Arc<Counters>,
    /// Events due before anything else (an open event and the frames that
    /// waited for it).
    ready: VecDeque<TransportEvent>,
}

/// Frames kept per connection while its open event waits for the DTLS
/// certificates (the remote's `HELLO`, and a few more at most).
const HELD_FRAMES: usize = 64;

impl std::fmt::Debug for WebRtcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcTransport")
            .field("rtc", &self.settings.rtc)
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl WebRtcTransport {
    /// A transport with `config` and default [`Options`].
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn new(config: RtcConfig) -> Result<Self, Error> {
        Self::with_options(config, Options::default())
    }

    /// A transport with `config` and `options`.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn with_options(config: RtcConfig, options: Options) -> Result<Self, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (events_tx, events_rx) = mpsc::channel(EVENT_CHANNEL);
        let (sent_tx, sent_rx) = mpsc::unbounded_channel();
        Ok(WebRtcTransport {
            settings: Arc::new(Settings {
                rtc: config,
                send_buffer_limit: options.send_buffer_limit,
                fix_stall: options.fix_setup_stall,
                prflx_acceptance_min_wait: options.prflx_acceptance_min_wait,
                ice_check_interval: options.ice_check_interval.max(Duration::from_millis(5)),
            }),
            send_window: options.send_window,
            runtime,
            conns: HashMap::new(),
            events_tx,
            events_rx,
            channels: SelectAll::new(),
            pumps: FuturesUnordered::new(),
            ready: VecDeque::new(),
            sent_tx,
            sent_rx,
            next_generation: 1,
            counters: Arc::new(Counters::default()),
        })
    }

    /// Counters, for tests and diagnostics.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            connections: self.conns.len(),
            live_tasks: c.live_tasks.load(Ordering::Relaxed),
            dropped_callbacks: c.dropped_callbacks.load(Ordering::Relaxed),
            rejected_candidates: c.rejected_candidates.load(Ordering::Relaxed),
            driver_flushes: c.flushes.load(Ordering::Relaxed),
            driver_nudges: c.nudges.load(Ordering::Relaxed),
        }
    }

    /// The candidate pair each connected connection selected (host,
    /// server-reflexive, relay): a handle that stays valid after the
    /// transport moves into its node.
    pub fn paths(&self) -> rtc_common::paths::Paths {
        self.counters.paths.clone()
    }

    /// A handle on the counters that outlives the transport: after the
    /// transport is dropped, `live_tasks` shows whether anything still runs.
    pub fn task_probe(&self) -> TaskProbe {
        TaskProbe(Arc::clone(&self.counters))
    }

    fn open(&mut self, conn: ConnId, role: Role) -> Result<(), Error> {
        if self.conns.contains_key(&conn) {
            return Err(Error::AlreadyOpen(conn));
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let (inputs, inputs_rx) = mpsc::unbounded_channel();
        let (frames, frames_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(ConnShared::default());
        self.runtime.spawn(conn::run(ConnStart {
            conn,
            generation,
            role,
            settings: Arc::clone(&self.settings),
            events: self.events_tx.clone(),
            signals: inputs_rx,
            shared: Arc::clone(&shared),
            counters: Arc::clone(&self.counters),
        }));
        let handle = ConnHandle {
            generation,
            role,
            described: false,
            inputs,
            frames,
            frames_rx: Some(frames_rx),
            channel: None,
            shared,
            bound: false,
            held: VecDeque::new(),
        };
        self.conns.insert(conn, handle);
        Ok(())
    }

    /// The handle of `conn` if it is still generation `generation`.
    fn current(&mut self, conn: ConnId, generation: u64) -> Option<&mut ConnHandle> {
        self.conns
            .get_mut(&conn)
            .filter(|h| h.generation == generation)
    }

    /// A data channel event, as an event for the engine (if any).
    fn on_channel_event(
        &mut self,
        conn: ConnId,
        generation: u64,
        event: Option<DataChannelEvent>,
    ) -> Option<TransportEvent> {
        let handle = self.current(conn, generation)?;
        match event {
            Some(DataChannelEvent::OnOpen) => {
                if handle.is_open() {
                    return None;
                }
                handle.shared.set_open();
                // The open event carries the DTLS certificates, which the
                // connection task reads from the library: ask for them.
                let _ = handle.inputs.send(RemoteInput::Bind);
                if let (Some(dc), Some(frames)) = (handle.channel.clone(), handle.frames_rx.take())
                {
                    self.pumps.push(Box::pin(conn::pump_frames(
                        conn,
                        generation,
                        dc,
                        frames,
                        self.sent_tx.clone(),
                    )));
                }
                None
            }
            Some(DataChannelEvent::OnMessage(msg)) => {
                tracing::trace!(%conn, generation, len = msg.data.len(), "frame in");
                if !handle.is_open() {
                    return None;
                }
                if !handle.bound {
                    if handle.held.len() < HELD_FRAMES {
                        handle.held.push_back(msg.data.freeze());
                    } else {
                        tracing::debug!(%conn, "frame before the open event, past the hold limit: dropped");
                    }
                    return None;
                }
                Some(TransportEvent::Frame {
                    conn,
                    frame: msg.data.freeze(),
                })
            }
            Some(DataChannelEvent::OnClosing | DataChannelEvent::OnClose) | None => {
                // If the connection task ended the connection, its reason.
                let reason = handle.shared.take_reason().unwrap_or_else(|| {
                    if handle.is_open() {
                        CloseReason::Remote
                    } else {
                        CloseReason::Failed("data channel closed before it opened".into())
                    }
                });
                // Dropping the handle ends the connection task, which closes
                // the connection.
                self.conns.remove(&conn);
                Some(TransportEvent::Closed { conn, reason })
            }
            Some(_) => None,
        }
    }

    fn signal(&mut self, conn: ConnId, signal: &Signal) -> Result<(), Error> {
        let Some(handle) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        let input = check_signal(conn, handle, signal)?;
        if matches!(input, RemoteInput::Offer(_) | RemoteInput::Answer(_)) {
            handle.described = true;
        }
        // Fails only if the task already ended; its Closed event is on the way.
        let _ = handle.inputs.send(input);
        Ok(())
    }
}

/// Check a remote signal for `handle`'s side and parse it.
fn check_signal(conn: ConnId, handle: &ConnHandle, signal: &Signal) -> Result<RemoteInput, Error> {
    let unexpected = |kind| Error::UnexpectedSignal {
        conn,
        kind,
        role: handle.role,
    };
    let bad_sdp = |kind, err: webrtc::error::Error| Error::BadSdp {
        conn,
        kind,
        why: err.to_string(),
    };
    match read_signal(signal).map_err(|source| Error::Signal { conn, source })? {
        RemoteSignal::Offer(sdp) => {
            if handle.role != Role::Acceptor || handle.described {
                return Err(unexpected("offer"));
            }
            RTCSessionDescription::offer(sdp.to_owned())
                .map(RemoteInput::Offer)
                .map_err(|e| bad_sdp("offer", e))
        }
        RemoteSignal::Answer(sdp) => {
            if handle.role != Role::Initiator || handle.described {
                return Err(unexpected("answer"));
            }
            RTCSessionDescription::answer(sdp.to_owned())
                .map(RemoteInput::Answer)
                .map_err(|e| bad_sdp("answer", e))
        }
        RemoteSignal::Candidate(line) => {
            let body = line.strip_prefix("candidate:").unwrap_or(line);
            match rtc::ice::candidate::unmarshal_candidate(body) {
                Ok(_) => Ok(RemoteInput::Candidate(line.to_owned())),
                Err(err) => Err(Error::BadCandidate {
                    conn,
                    line: line.chars().take(120).collect(),
                    why: err.to_string(),
                }),
            }
        }
        RemoteSignal::EndOfCandidates => Ok(RemoteInput::EndOfCandidates),
    }
}

impl Transport for WebRtcTransport {
    type Error = Error;

    fn handle_command(&mut self, _now: Instant, cmd: TransportCommand) -> Result<(), Error> {
        match cmd {
            TransportCommand::Open { conn, role } => self.open(conn, role),
            TransportCommand::Signal { conn, signal } => {
                let result = self.signal(conn, &signal);
                if result.is_err() {
                    // The engine reports the connection failed; free it now.
                    self.conns.remove(&conn);
                }
                result
            }
            TransportCommand::Send { conn, frame } => {
                let Some(handle) = self.conns.get(&conn) else {
                    return Ok(());
                };
                if frame.is_empty() || frame.len() > overlay_core::config::MAX_FRAME_SIZE {
                    // Dropping the handle ends the connection task, which
                    // closes the connection (the remote sees it at once).
                    self.conns.remove(&conn);
                    return Err(Error::FrameSize {
                        conn,
                        len: frame.len(),
                    });
                }
                let _ = handle.frames.send(frame);
                Ok(())
            }
            TransportCommand::Close { conn } => {
                // Dropping the handle ends the connection's tasks.
                self.conns.remove(&conn);
                Ok(())
            }
            other => {
                tracing::debug!(conn = %other.conn(), "ignoring an unknown transport command");
                Ok(())
            }
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Poll::Ready(event);
            }
            // Frame pumps run here, in the engine's task: a frame reaches the
            // library without a task hop. (Ready(None) = no pumps.)
            while let Poll::Ready(Some(())) = self.pumps.poll_next_unpin(cx) {}

            if let Poll::Ready(Some((conn, generation, bytes))) = self.sent_rx.poll_recv(cx) {
                if self.current(conn, generation).is_some() {
                    return Poll::Ready(TransportEvent::Sent { conn, bytes });
                }
                continue;
            }

            if let Poll::Ready(Some((conn, generation, event))) = self.channels.poll_next_unpin(cx)
            {
                if let Some(event) = self.on_channel_event(conn, generation, event) {
                    return Poll::Ready(event);
                }
                continue;
            }

            if let Poll::Ready(Some((conn, generation, out))) = self.events_rx.poll_recv(cx) {
                let Some(handle) = self.current(conn, generation) else {
                    continue;
                };
                match out {
                    TaskOut::Channel(dc) => {
                        handle.channel = Some(Arc::clone(&dc));
                        self.channels
                            .push(conn::channel_events(conn, generation, dc));
                        continue;
                    }
                    TaskOut::Bound(binding) => {
                        if handle.bound {
                            continue;
                        }
                        handle.bound = true;
                        let held = std::mem::take(&mut handle.held);
                        self.ready
                            .push_back(TransportEvent::Opened { conn, binding });
                        for frame in held {
                            self.ready.push_back(TransportEvent::Frame { conn, frame });
                        }
                        continue;
                    }
                    TaskOut::Event(event) => {
                        if matches!(event, TransportEvent::Closed { .. }) {
                            self.conns.remove(&conn);
                        }
                        return Poll::Ready(event);
                    }
                }
            }
            return Poll::Pending;
        }
    }

    fn send_window(&self) -> usize {
        self.send_window
    }

    fn connection_count(&self) -> Option<usize> {
        Some(self.conns.len())
    }
}

impl Drop for WebRtcTransport {
    /// Dropping the transport is a crash (the transport contract): each
    /// connection's driver is stopped without a word to the remote, which
    /// reports its connection timed out. `Close` is the graceful way.
    fn drop(&mut self) {
        for handle in self.conns.values() {
            handle.shared.set_crashed();
        }
    }
}

/// Counts the tasks of a [`WebRtcTransport`], even after it is dropped.
#[derive(Debug, Clone)]
pub struct TaskProbe(Arc<Counters>);

impl TaskProbe {
    /// Connection tasks still running.
    pub fn live_tasks(&self) -> usize {
        self.0.live_tasks.load(Ordering::Relaxed)
    }
}
