//! [`WebRtcTransport`]: the connection table, the data-channel event and
//! frame-pump polling, and the [`Transport`] implementation.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, SelectAll, StreamExt};
use overlay_core::{
    CloseReason, ConnId, Role, Signal, Transport, TransportCommand, TransportEvent,
};
use rtc_common::signals::{read_signal, RemoteSignal};
use rtc_common::RtcConfig;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::RTCSessionDescription;

use crate::config::{NodeCrypto, Options, Settings};
use crate::conn::{
    self, ChannelItem, ConnShared, ConnStart, Counters, RemoteInput, Tagged, TaskOut,
};
use crate::error::{BindError, Error};
use crate::Stats;

/// Capacity of the channel from the connection tasks to [`Transport::poll_event`].
const EVENT_CHANNEL: usize = 1024;

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
    /// A transport with `config` and default [`Options`], as
    /// `Str0mTransport::bind` makes one for the str0m backend. Each
    /// connection binds its own UDP socket on [`RtcConfig::bind_ip`] when it
    /// opens.
    ///
    /// # Errors
    /// [`BindError::NoRuntime`] outside a tokio runtime;
    /// [`BindError::Certificate`] if the node's DTLS certificate cannot be
    /// made.
    pub fn bind(config: &RtcConfig) -> Result<Self, BindError> {
        Self::bind_with_options(config, Options::default())
    }

    /// [`WebRtcTransport::bind`] with this backend's [`Options`] (the
    /// str0m backend's counterpart: `Str0mTransport::bind_prepared`).
    ///
    /// # Errors
    /// [`BindError::NoRuntime`] outside a tokio runtime;
    /// [`BindError::Certificate`] if the node's DTLS certificate cannot be
    /// made.
    pub fn bind_with_options(config: &RtcConfig, options: Options) -> Result<Self, BindError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BindError::NoRuntime)?;
        let node_crypto = if options.certificate_per_node {
            Some(NodeCrypto::generate()?)
        } else {
            None
        };
        let (events_tx, events_rx) = mpsc::channel(EVENT_CHANNEL);
        let (sent_tx, sent_rx) = mpsc::unbounded_channel();
        Ok(WebRtcTransport {
            settings: Arc::new(Settings {
                rtc: config.clone(),
                send_buffer_limit: options.send_buffer_limit,
                fix_stall: options.fix_setup_stall,
                prflx_acceptance_min_wait: options.prflx_acceptance_min_wait,
                ice_check_interval: options.ice_check_interval.max(Duration::from_millis(5)),
                hold_early_packets: options.hold_early_packets,
                description_wait: options
                    .candidates_in_description
                    .then_some(options.description_wait),
                remote_check_wait: options.remote_check_wait,
                node_crypto,
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
            early_held: c.early_held.load(Ordering::Relaxed),
            early_released: c.early_released.load(Ordering::Relaxed),
            early_overflow: c.early_overflow.load(Ordering::Relaxed),
            early_superseded: c.early_superseded.load(Ordering::Relaxed),
            checks_replayed: c.checks_replayed.load(Ordering::Relaxed),
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
                .map(|d| RemoteInput::Offer(Box::new(d)))
                .map_err(|e| bad_sdp("offer", e))
        }
        RemoteSignal::Answer(sdp) => {
            if handle.role != Role::Initiator || handle.described {
                return Err(unexpected("answer"));
            }
            RTCSessionDescription::answer(sdp.to_owned())
                .map(|d| RemoteInput::Answer(Box::new(d)))
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

    fn rtt(&self, conn: ConnId) -> Option<Duration> {
        self.conns.get(&conn).and_then(|h| h.shared.rtt())
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
