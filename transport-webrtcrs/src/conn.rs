//! One connection: a tokio task that owns the webrtc-rs `PeerConnection`,
//! applies the remote's signals and turns library callbacks into
//! [`TransportEvent`]s. Its data channel is handed to the transport, which
//! polls the channel's events and drives its sends itself (see
//! [`channel_events`] and [`pump_frames`]): frames take no extra task hop.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt};
use overlay_core::{
    ChannelBinding, CloseReason, ConnId, Fingerprint, Role, Signal, TransportEvent,
};
use rtc_common::signals::EarlyCandidates;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceCandidateType, RTCIceConnectionState, RTCIceGatheringState,
    RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
    SettingEngineBuilder, StatsSelector,
};

use crate::config::Settings;
use crate::early::EarlyPackets;
use crate::runtime::{DriverWake, NudgeRuntime};

/// Label of the one data channel of a connection.
pub(crate) const CHANNEL_LABEL: &str = "n2n";

/// Capacity of the driver-callback -> connection-task channel. Callbacks run
/// on the library's driver task and must never wait, so they `try_send`; a
/// connection raises a handful of such events (its own candidates, a few
/// state changes, one data channel).
const HANDLER_CHANNEL: usize = 256;

/// How often an open connection reads its round-trip time from the
/// library's statistics (the ICE keep-alive exchanges measure it).
const RTT_INTERVAL: Duration = Duration::from_secs(2);

/// Most frames a pump hands to the library before it reports them sent.
const WRITE_BATCH: usize = 64;

/// What a connection task reports to the transport, tagged with the
/// connection and its generation (a `ConnId` the engine reuses must not get
/// stale events).
pub(crate) type Tagged = (ConnId, u64, TaskOut);

/// See [`Tagged`].
pub(crate) enum TaskOut {
    /// An event for the engine.
    Event(TransportEvent),
    /// The connection's data channel (created, or announced by the remote):
    /// the transport polls it from now on.
    Channel(Arc<dyn DataChannel>),
    /// Answer to [`RemoteInput::Bind`]: the certificates DTLS enforced.
    Bound(Option<ChannelBinding>),
}

/// Counters shared by every connection of a transport.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Connection tasks alive now.
    pub(crate) live_tasks: AtomicUsize,
    /// Callback events dropped because the connection task was behind.
    pub(crate) dropped_callbacks: AtomicU64,
    /// Remote candidates the library rejected (logged, ignored).
    pub(crate) rejected_candidates: AtomicU64,
    /// Early datagrams held (see `early.rs`), released to the library,
    /// and not held because a connection already held its maximum.
    pub(crate) early_held: AtomicU64,
    pub(crate) early_released: AtomicU64,
    pub(crate) early_overflow: AtomicU64,
    /// Held DTLS records replaced by a newer copy (the remote's resend).
    pub(crate) early_superseded: AtomicU64,
    /// Remote checks given to the library again after a check of ours
    /// succeeded (prompt nomination, see `early.rs`).
    pub(crate) checks_replayed: AtomicU64,
    /// Driver flush passes and nudges, summed at connection end.
    pub(crate) flushes: AtomicU64,
    pub(crate) nudges: AtomicU64,
    /// The selected candidate pair of each connected connection.
    pub(crate) paths: rtc_common::paths::Paths,
}

/// Decrements `live_tasks` when a task ends, however it ends.
struct LiveGuard(Arc<Counters>);

impl LiveGuard {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.live_tasks.fetch_add(1, Ordering::Relaxed);
        LiveGuard(Arc::clone(counters))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live_tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the library's callbacks report to the connection task.
enum HandlerEvent {
    Candidate(String),
    GatheringComplete,
    State(RTCPeerConnectionState),
    DataChannel(Arc<dyn DataChannel>),
}

/// Owned by the connection task; the library's handler only holds a `Weak`,
/// so a connection the library keeps alive a little longer (or leaks) keeps
/// nothing of ours alive, and callbacks after the task ended are no-ops.
struct HandlerShared {
    tx: mpsc::Sender<HandlerEvent>,
    counters: Arc<Counters>,
}

struct Handler {
    shared: Weak<HandlerShared>,
    /// Told when ICE selected a pair (released early DTLS records).
    early: Arc<EarlyPackets>,
}

impl Handler {
    fn push(&self, event: HandlerEvent) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        if shared.tx.try_send(event).is_err() {
            shared
                .counters
                .dropped_callbacks
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!("webrtc-rs callback dropped: connection task behind or gone");
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.push(HandlerEvent::Candidate(init.candidate)),
            Err(err) => tracing::warn!(%err, "cannot encode a local candidate"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.push(HandlerEvent::GatheringComplete);
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        // Called on the driver task in the same pass as the selection, after
        // the DTLS handler saw it: DTLS records held until now are usable.
        if matches!(
            state,
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
        ) {
            self.early.set_selected();
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.push(HandlerEvent::State(state));
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        self.push(HandlerEvent::DataChannel(data_channel));
    }
}

/// A remote signal, checked and parsed by the transport.
///
/// The descriptions are boxed: an `RTCSessionDescription` is ~580 bytes,
/// and every connection's input channel allocates room for 32 inputs up
/// front (a tokio channel block), which cost ~18 KiB per connection.
pub(crate) enum RemoteInput {
    Offer(Box<RTCSessionDescription>),
    Answer(Box<RTCSessionDescription>),
    /// `candidate:...`, normalized.
    Candidate(String),
    EndOfCandidates,
    /// The data channel opened: report the connection's channel binding.
    Bind,
}

/// What a connection task is started with.
pub(crate) struct ConnStart {
    pub(crate) conn: ConnId,
    pub(crate) generation: u64,
    pub(crate) role: Role,
    pub(crate) settings: Arc<Settings>,
    pub(crate) events: mpsc::Sender<Tagged>,
    pub(crate) signals: mpsc::UnboundedReceiver<RemoteInput>,
    /// Shared with the transport's handle.
    pub(crate) shared: Arc<ConnShared>,
    pub(crate) counters: Arc<Counters>,
}

/// What a connection task and the transport's handle share.
#[derive(Debug, Default)]
pub(crate) struct ConnShared {
    /// The data channel opened (set by the transport).
    opened: AtomicBool,
    /// Why the connection task ended the connection, if it did.
    reason: std::sync::Mutex<Option<CloseReason>>,
    /// The transport was dropped: stop without closing (a crash).
    crashed: AtomicBool,
    /// The selected pair's last ICE round-trip time, microseconds; 0 until
    /// measured.
    rtt_micros: AtomicU64,
}

impl ConnShared {
    pub(crate) fn is_open(&self) -> bool {
        self.opened.load(Ordering::Acquire)
    }

    pub(crate) fn set_open(&self) {
        self.opened.store(true, Ordering::Release);
    }

    /// The selected pair's round-trip time, once measured.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    pub(crate) fn set_crashed(&self) {
        self.crashed.store(true, Ordering::Release);
    }

    fn is_crashed(&self) -> bool {
        self.crashed.load(Ordering::Acquire)
    }

    fn set_reason(&self, reason: CloseReason) {
        if let Ok(mut slot) = self.reason.lock() {
            *slot = Some(reason);
        }
    }

    /// The connection task's close reason, if it ended the connection.
    pub(crate) fn take_reason(&self) -> Option<CloseReason> {
        self.reason.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Why the connection task stopped.
enum Exit {
    /// The transport dropped its handle (local `Close`, or the transport is gone).
    Local,
    /// The connection ended on its own; tell the engine.
    Closed(CloseReason),
}

struct Conn {
    conn: ConnId,
    generation: u64,
    role: Role,
    events: mpsc::Sender<Tagged>,
    pc: Arc<dyn PeerConnection>,
    wake: Arc<DriverWake>,
    /// Told when the remote description is applied (released early checks).
    early: Arc<EarlyPackets>,
    counters: Arc<Counters>,
    /// Remote candidates that came before the remote description.
    early_candidates: EarlyCandidates,
    has_remote: bool,
    /// Shared with the transport's handle.
    state: Arc<ConnShared>,
    /// The data channel was handed to the transport.
    channel_given: bool,
    /// `Some(longest wait)`: the local description goes out with the
    /// first gathered candidates in it (`Options::candidates_in_description`).
    description_wait: Option<Duration>,
    /// `Options::remote_check_wait`.
    remote_check_wait: Duration,
    /// The local description set but not sent yet, and until when it may
    /// wait for a candidate.
    pending_description: Option<(Described, tokio::time::Instant)>,
    /// Local candidates sent inside the description: not trickled again.
    /// Emptied when gathering is over (a handful of lines).
    sent_in_description: Vec<String>,
}

/// Which local description a connection is about to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Described {
    Offer,
    Answer,
}

/// The `a=candidate:` lines of `sdp`, as `candidate:...` (the form the
/// library's candidate events take).
fn sdp_candidates(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(str::to_owned)
        .collect()
}

/// Runs one connection until it closes or the transport lets go of it.
pub(crate) async fn run(start: ConnStart) {
    let _live = LiveGuard::new(&start.counters);
    let ConnStart {
        conn,
        generation,
        role,
        settings,
        events,
        mut signals,
        shared: state,
        counters,
    } = start;

    let (htx, mut hrx) = mpsc::channel(HANDLER_CHANNEL);
    let shared = Arc::new(HandlerShared {
        tx: htx,
        counters: Arc::clone(&counters),
    });
    let wake = DriverWake::new();
    let early = EarlyPackets::new(settings.hold_early_packets, &counters);
    // Boxed: building a connection is a large future (~20 KiB), and this
    // task's own future, which lives as long as the connection, would
    // otherwise keep room for it until the connection closes.
    let pc = match Box::pin(build(&settings, &shared, &wake, &early)).await {
        Ok(pc) => pc,
        Err(err) => {
            let reason = CloseReason::Failed(format!("cannot create the connection: {err}"));
            let _ = events
                .send((conn, generation, TaskOut::Event(closed(conn, reason))))
                .await;
            return;
        }
    };

    let mut c = Conn {
        conn,
        generation,
        role,
        events,
        pc,
        wake,
        early,
        counters: Arc::clone(&counters),
        early_candidates: EarlyCandidates::new(),
        has_remote: false,
        state,
        channel_given: false,
        description_wait: settings.description_wait,
        remote_check_wait: settings.remote_check_wait,
        pending_description: None,
        sent_in_description: Vec::new(),
    };
    let exit = c
        .drive(&mut signals, &mut hrx, settings.rtc.handshake_timeout)
        .await;
    if let Exit::Closed(reason) = exit {
        tracing::debug!(conn = %c.conn, %reason, "connection closed");
        // Closing the connection below also ends its data channel, which the
        // transport may see first: it takes this reason from here then.
        c.state.set_reason(reason.clone());
        let _ = c
            .events
            .send((c.conn, c.generation, TaskOut::Event(closed(c.conn, reason))))
            .await;
    }
    if c.state.is_crashed() {
        // The transport was dropped: stop the driver without a word to the
        // remote (its sockets close with it), as a crashed process would.
        c.wake.abort_driver();
    } else if let Err(err) = c.pc.close().await {
        // Tell the remote right away (SCTP ABORT) and stop the driver; the
        // data channel's event stream ends and its pending sends fail.
        tracing::debug!(conn = %c.conn, %err, "close");
    }
    counters.paths.remove(c.conn);
    let (flushes, nudges) = c.wake.counts();
    counters.flushes.fetch_add(flushes, Ordering::Relaxed);
    counters.nudges.fetch_add(nudges, Ordering::Relaxed);
    drop(shared);
}

/// Checks per candidate pair so that a pair is tried for about 1.4 s.
fn binding_requests(check_interval: Duration) -> u16 {
    let per = check_interval.as_millis().max(1);
    u16::try_from(1400u128.div_ceil(per))
        .unwrap_or(u16::MAX)
        .max(7)
}

fn kind(typ: RTCIceCandidateType) -> Option<rtc_common::paths::CandidateKind> {
    use rtc_common::paths::CandidateKind;
    match typ {
        RTCIceCandidateType::Host => Some(CandidateKind::Host),
        RTCIceCandidateType::Srflx => Some(CandidateKind::Srflx),
        RTCIceCandidateType::Prflx => Some(CandidateKind::Prflx),
        RTCIceCandidateType::Relay => Some(CandidateKind::Relay),
        _ => None,
    }
}

fn closed(conn: ConnId, reason: CloseReason) -> TransportEvent {
    TransportEvent::Closed { conn, reason }
}

async fn build(
    settings: &Settings,
    shared: &Arc<HandlerShared>,
    wake: &Arc<DriverWake>,
    early: &Arc<EarlyPackets>,
) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
    let rtc = &settings.rtc;
    let mut ice_servers: Vec<RTCIceServer> = rtc
        .stun_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: vec![format!("stun:{}", s.strip_prefix("stun:").unwrap_or(s))],
            ..Default::default()
        })
        .collect();
    // TURN over UDP only (the str0m backend's limit too): a bare HOST:PORT
    // gets the scheme.
    ice_servers.extend(rtc.turn_servers.iter().map(|t| RTCIceServer {
        urls: vec![
            if t.url.starts_with("turn:") || t.url.starts_with("turns:") {
                t.url.clone()
            } else {
                format!("turn:{}", t.url)
            },
        ],
        username: t.username.clone(),
        credential: t.credential.clone(),
    }));
    let mut configuration = RTCConfigurationBuilder::new().with_ice_servers(ice_servers);
    let mut setting_engine = SettingEngineBuilder::new();
    if let Some(node) = &settings.node_crypto {
        configuration = configuration.with_certificates(vec![node.certificate.clone()]);
        setting_engine = setting_engine.with_crypto_provider(Arc::clone(&node.provider));
    }
    let configuration = configuration.build();
    let setting_engine = setting_engine
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        // A silent remote: "disconnected" after half the silence timeout,
        // "failed" (reported TimedOut) after all of it.
        .with_ice_timeouts(
            Some(rtc.silence_timeout / 2),
            Some(rtc.silence_timeout - rtc.silence_timeout / 2),
            Some(rtc.keepalive_interval),
        )
        // A remote's check often arrives before its trickled candidate: the
        // pair is then peer-reflexive, which the library would wait 1 s to
        // nominate (libwebrtc does not wait).
        .with_prflx_acceptance_min_wait(Some(settings.prflx_acceptance_min_wait))
        // Checks (and nomination of a pair that just became valid) happen
        // on the check tick; keep trying each pair for ~1.4 s as the
        // library's default (7 x 200 ms) does.
        .with_ice_connection_attempts(
            Some(settings.ice_check_interval),
            Some(binding_requests(settings.ice_check_interval)),
        )
        .build();
    let runtime = Arc::new(NudgeRuntime::new(
        Arc::clone(wake),
        rtc.recv_buffer_bytes,
        rtc.send_buffer_bytes,
        settings.fix_stall,
        Arc::clone(early),
    ));
    let handler = Arc::new(Handler {
        shared: Arc::downgrade(shared),
        early: Arc::clone(early),
    });
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_setting_engine(setting_engine)
        .with_runtime(runtime)
        .with_handler(handler)
        .with_udp_addrs(vec![std::net::SocketAddr::new(rtc.bind_ip, rtc.port)])
        .with_data_channel_send_buffer_limit(settings.send_buffer_limit)
        .build()
        .await?;
    Ok(Arc::new(pc))
}

impl Conn {
    /// Record the candidate pair ICE selected (in the transport's
    /// [`rtc_common::paths::Paths`]).
    async fn record_path(&self) {
        let Some(sctp) = self.pc.sctp().await else {
            return;
        };
        let ice = sctp.transport().ice_transport();
        match ice.get_selected_candidate_pair().await {
            Ok(Some(pair)) => {
                let mut remote_typ = pair.remote().typ;
                // A remote with no NAT can look peer- or server-reflexive
                // (its checks came before its candidate, or it asked STUN):
                // the address it also signalled as host says what it is.
                if remote_typ != RTCIceCandidateType::Relay {
                    if let Ok(remotes) = ice.get_remote_candidates().await {
                        let (addr, port) = (&pair.remote().address, pair.remote().port);
                        if remotes.iter().any(|c| {
                            c.typ == RTCIceCandidateType::Host
                                && &c.address == addr
                                && c.port == port
                        }) {
                            remote_typ = RTCIceCandidateType::Host;
                        }
                    }
                }
                if let (Some(local), Some(remote)) = (kind(pair.local().typ), kind(remote_typ)) {
                    let path = rtc_common::paths::SelectedPath::new(local, remote);
                    tracing::debug!(conn = %self.conn, %path, "selected candidate pair");
                    self.counters.paths.set(self.conn, path);
                }
            }
            Ok(None) => tracing::debug!(conn = %self.conn, "connected without a selected pair"),
            Err(err) => tracing::debug!(conn = %self.conn, %err, "cannot read the selected pair"),
        }
    }

    async fn emit(&self, event: TransportEvent) {
        // Fails only when the transport is gone; the task then ends on its own.
        let _ = self
            .events
            .send((self.conn, self.generation, TaskOut::Event(event)))
            .await;
    }

    async fn drive(
        &mut self,
        signals: &mut mpsc::UnboundedReceiver<RemoteInput>,
        handler: &mut mpsc::Receiver<HandlerEvent>,
        setup_timeout: Duration,
    ) -> Exit {
        if self.role == Role::Initiator {
            match self.start_offer().await {
                Ok(channel) => self.give_channel(channel).await,
                Err(err) => {
                    return Exit::Closed(CloseReason::Failed(format!(
                        "cannot make an offer: {err}"
                    )))
                }
            }
        }
        let setup_deadline = tokio::time::sleep(setup_timeout);
        tokio::pin!(setup_deadline);
        let mut setup_pending = true;
        let mut rtt_tick = tokio::time::interval(RTT_INTERVAL);
        rtt_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let describe_by = self.pending_description.map(|(_, by)| by);
            tokio::select! {
                _ = rtt_tick.tick(), if self.state.is_open() => self.measure_rtt().await,
                // No local candidate came in time: the description goes
                // without (they follow by trickle).
                () = sleep_until_some(describe_by), if describe_by.is_some() => self.send_description().await,
                signal = signals.recv() => {
                    let Some(signal) = signal else { return Exit::Local };
                    if let Err(reason) = self.apply(signal).await {
                        return Exit::Closed(reason);
                    }
                }
                event = handler.recv() => {
                    // `shared` lives as long as this task: the channel never closes here.
                    let Some(event) = event else { return Exit::Local };
                    match event {
                        HandlerEvent::Candidate(line) => {
                            // The first candidate releases a waiting
                            // description, with every candidate gathered so
                            // far in it.
                            self.send_description().await;
                            if !self.sent_in_description.contains(&line) {
                                self.emit(TransportEvent::Signal { conn: self.conn, signal: Signal::candidate(line) }).await;
                            }
                        }
                        HandlerEvent::GatheringComplete => {
                            self.send_description().await;
                            self.sent_in_description = Vec::new();
                            self.emit(TransportEvent::Signal { conn: self.conn, signal: Signal::EndOfCandidates }).await;
                        }
                        HandlerEvent::State(state) => {
                            tracing::trace!(conn = %self.conn, ?state, "connection state");
                            let opened = self.state.is_open();
                            match state {
                                RTCPeerConnectionState::Failed if opened => return Exit::Closed(CloseReason::TimedOut),
                                RTCPeerConnectionState::Failed => return Exit::Closed(CloseReason::Failed("ICE or DTLS failed".into())),
                                RTCPeerConnectionState::Closed => return Exit::Closed(CloseReason::Remote),
                                RTCPeerConnectionState::Connected => self.record_path().await,
                                _ => {}
                            }
                        }
                        HandlerEvent::DataChannel(channel) => {
                            if !self.channel_given && self.role == Role::Acceptor {
                                self.give_channel(channel).await;
                            } else {
                                tracing::debug!(conn = %self.conn, "ignoring an extra data channel from the remote");
                            }
                        }
                    }
                }
                () = &mut setup_deadline, if setup_pending => {
                    if !self.state.is_open() {
                        return Exit::Closed(CloseReason::Failed(format!("not open after {setup_timeout:?}")));
                    }
                    setup_pending = false;
                }
            }
        }
    }

    /// Read the nominated pair's round-trip time from the library's stats.
    async fn measure_rtt(&self) {
        let report = self
            .pc
            .get_stats(std::time::Instant::now(), StatsSelector::None)
            .await;
        let rtt = report
            .candidate_pairs()
            .filter(|p| p.nominated && p.current_round_trip_time > 0.0)
            .map(|p| p.current_round_trip_time)
            .next();
        if let Some(secs) = rtt {
            let us = (secs * 1e6).clamp(1.0, u64::MAX as f64) as u64;
            self.state.rtt_micros.store(us, Ordering::Relaxed);
        }
    }

    /// Hand the data channel to the transport, which polls it from now on.
    async fn give_channel(&mut self, channel: Arc<dyn DataChannel>) {
        self.channel_given = true;
        let _ = self
            .events
            .send((self.conn, self.generation, TaskOut::Channel(channel)))
            .await;
    }

    async fn start_offer(&mut self) -> Result<Arc<dyn DataChannel>, webrtc::error::Error> {
        let dc = self
            .pc
            .create_data_channel(CHANNEL_LABEL, Some(RTCDataChannelInit::default()))
            .await?;
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer.clone()).await?;
        self.describe(Described::Offer, offer.sdp).await;
        Ok(dc)
    }

    /// The local description `sdp` (just set) is ready: send it now, or,
    /// with `Options::candidates_in_description`, once the first local
    /// candidate is gathered (the library gathers host candidates in its
    /// driver's next pass), with the candidates in it.
    async fn describe(&mut self, kind: Described, sdp: String) {
        match self.description_wait {
            Some(wait) => {
                self.pending_description = Some((kind, tokio::time::Instant::now() + wait));
            }
            None => self.emit_description(kind, sdp).await,
        }
    }

    /// Send the waiting local description, if any, with the candidates
    /// gathered so far (the library adds them to `local_description`).
    async fn send_description(&mut self) {
        let Some((kind, _)) = self.pending_description.take() else {
            return;
        };
        let Some(desc) = self.pc.local_description().await else {
            // Cannot happen once it was set; nothing to send without it.
            tracing::warn!(conn = %self.conn, "no local description to send");
            return;
        };
        self.sent_in_description = sdp_candidates(&desc.sdp);
        tracing::trace!(conn = %self.conn, ?kind, candidates = self.sent_in_description.len(), "local description sent");
        self.emit_description(kind, desc.sdp).await;
    }

    async fn emit_description(&self, kind: Described, sdp: String) {
        let signal = match kind {
            Described::Offer => Signal::Offer { sdp },
            Described::Answer => Signal::Answer { sdp },
        };
        self.emit(TransportEvent::Signal {
            conn: self.conn,
            signal,
        })
        .await;
    }

    /// Apply one remote input (already checked by the transport for role and
    /// syntax). An `Err` ends the connection.
    /// The certificate fingerprints DTLS enforced: ours (from our own
    /// session description) and the SHA-256 of the certificate the remote
    /// presented, which the library checked against the remote SDP's
    /// fingerprints before the handshake could complete.
    async fn binding(&self) -> Option<ChannelBinding> {
        let local = self
            .pc
            .local_description()
            .await
            .and_then(|d| Fingerprint::from_sdp(&d.sdp))?;
        let sctp = self.pc.sctp().await?;
        let certs = sctp.transport().get_remote_certificates().await.ok()?;
        let remote = Fingerprint(Sha256::digest(certs.first()?).into());
        Some(ChannelBinding { local, remote })
    }

    async fn apply(&mut self, input: RemoteInput) -> Result<(), CloseReason> {
        match input {
            RemoteInput::Bind => {
                let binding = self.binding().await;
                if binding.is_none() {
                    tracing::warn!(conn = %self.conn, "no DTLS certificates to bind the connection to");
                }
                let _ = self
                    .events
                    .send((self.conn, self.generation, TaskOut::Bound(binding)))
                    .await;
            }
            RemoteInput::Offer(offer) => {
                self.pc
                    .set_remote_description(*offer)
                    .await
                    .map_err(|e| failed("cannot apply the offer", e))?;
                let answer = self
                    .pc
                    .create_answer(None)
                    .await
                    .map_err(|e| failed("cannot make an answer", e))?;
                self.pc
                    .set_local_description(answer.clone())
                    .await
                    .map_err(|e| failed("cannot apply the answer", e))?;
                self.describe(Described::Answer, answer.sdp).await;
                self.remote_set().await;
            }
            RemoteInput::Answer(answer) => {
                // Let the remote's first check come before ours goes out
                // (`Options::remote_check_wait`, `EarlyPackets::wait_remote_check`).
                if !self.remote_check_wait.is_zero() {
                    let seen = self.early.wait_remote_check(self.remote_check_wait).await;
                    tracing::trace!(conn = %self.conn, seen, "remote check before applying the answer");
                }
                self.pc
                    .set_remote_description(*answer)
                    .await
                    .map_err(|e| failed("cannot apply the answer", e))?;
                self.remote_set().await;
            }
            RemoteInput::Candidate(line) => {
                if self.has_remote {
                    self.add_candidate(line).await;
                } else {
                    self.early_candidates
                        .push(&line)
                        .map_err(|e| CloseReason::Failed(e.to_string()))?;
                }
            }
            // Nothing to do: ICE ends its checks by its own timers.
            RemoteInput::EndOfCandidates => self.early_candidates.end(),
        }
        Ok(())
    }

    async fn remote_set(&mut self) {
        self.has_remote = true;
        // The ICE agent has the remote credentials now: checks that came
        // before them are usable.
        self.early.set_described();
        for line in self.early_candidates.take() {
            self.add_candidate(line).await;
        }
    }

    async fn add_candidate(&mut self, line: String) {
        let init = RTCIceCandidateInit {
            candidate: line,
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            ..Default::default()
        };
        match self.pc.add_ice_candidate(init).await {
            // The library does not wake its driver for a new remote candidate:
            // without this the first check waits for the next timer.
            Ok(()) => self.wake.nudge(),
            Err(err) => {
                self.counters
                    .rejected_candidates
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(conn = %self.conn, %err, "remote candidate ignored");
            }
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn failed(what: &str, err: webrtc::error::Error) -> CloseReason {
    CloseReason::Failed(format!("{what}: {err}"))
}

/// One item of a data channel's event stream: `None` when the stream ended.
pub(crate) type ChannelItem = (ConnId, u64, Option<DataChannelEvent>);

/// A data channel's events as a stream, ending with one `None` item when the
/// channel's event stream ends (the connection closed).
pub(crate) fn channel_events(
    conn: ConnId,
    generation: u64,
    dc: Arc<dyn DataChannel>,
) -> BoxStream<'static, ChannelItem> {
    futures::stream::unfold(Some(dc), move |dc| async move {
        let dc = dc?;
        match dc.poll().await {
            Some(event) => Some(((conn, generation, Some(event)), Some(dc))),
            None => Some(((conn, generation, None), None)),
        }
    })
    .boxed()
}

/// Feeds frames to an open data channel, in order, and reports them as
/// sent (per batch) when the library has taken them. `send` waits while the
/// library's send buffer is over its limit: that is the flow control. Runs
/// inside [`Transport::poll_event`](overlay_core::Transport::poll_event), so
/// a frame goes from the engine to the library with no task hop.
pub(crate) async fn pump_frames(
    conn: ConnId,
    generation: u64,
    dc: Arc<dyn DataChannel>,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
    sent: mpsc::UnboundedSender<(ConnId, u64, usize)>,
) {
    while let Some(first) = frames.recv().await {
        // Take what is queued (up to a batch) and report it sent at once:
        // one credit event per batch rather than per frame.
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match frames.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(_) => break,
            }
        }
        let mut bytes = 0;
        for frame in batch {
            tracing::trace!(%conn, generation, len = frame.len(), "frame out");
            if let Err(err) = dc.send(BytesMut::from(&frame[..])).await {
                tracing::debug!(%conn, %err, "data channel send failed; the connection is closing");
                return;
            }
            bytes += frame.len();
        }
        if sent.send((conn, generation, bytes)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The candidate lines of a description, in the form candidate events
    /// take, so that those already sent are not trickled again.
    #[test]
    fn finds_the_candidates_of_a_description() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
                   a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
                   a=end-of-candidates\r\na=ice-ufrag:x\r\n";
        assert_eq!(
            sdp_candidates(sdp),
            vec!["candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".to_owned()]
        );
        assert!(sdp_candidates("v=0\r\n").is_empty());
    }

    /// Each connection's input channel allocates 32 of these at once.
    #[test]
    fn remote_input_stays_small() {
        assert!(std::mem::size_of::<RemoteInput>() <= 32);
    }

    /// A connection task's future is allocated for the connection's whole
    /// life: it must not keep room for the short-lived setup futures.
    #[test]
    fn connection_task_stays_small() {
        let (events, _events_rx) = mpsc::channel(1);
        let (_signals_tx, signals) = mpsc::unbounded_channel();
        let start = ConnStart {
            conn: ConnId(1),
            generation: 1,
            role: Role::Initiator,
            settings: Arc::new(Settings {
                rtc: rtc_common::RtcConfig::loopback(),
                send_buffer_limit: 1,
                fix_stall: true,
                prflx_acceptance_min_wait: Duration::ZERO,
                ice_check_interval: Duration::from_millis(25),
                hold_early_packets: true,
                description_wait: Some(Duration::from_millis(20)),
                remote_check_wait: Duration::from_millis(10),
                node_crypto: None,
            }),
            events,
            signals,
            shared: Arc::default(),
            counters: Arc::default(),
        };
        let task = run(start);
        let size = std::mem::size_of_val(&task);
        println!("connection task future: {size} bytes");
        assert!(size <= 8 * 1024, "connection task future is {size} bytes");
    }
}
