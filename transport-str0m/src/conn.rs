//! One connection: an [`str0m::Rtc`], where its handshake is, and its send queue.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::config::MAX_FRAME_SIZE;
use overlay_core::{
    ChannelBinding, CloseReason, ConnId, Fingerprint, Role, Signal, TransportEvent,
};
use rtc_common::paths::{CandidateKind as PathKind, Paths, SelectedPath};
use rtc_common::signals::{read_signal, EarlyCandidates, RemoteSignal};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::{Candidate, CandidateKind, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;

use crate::error::Str0mError;
use crate::turn::{Turn, TurnDrops};
use crate::Stats;

/// Remote candidate addresses remembered per connection (to name the
/// selected pair's remote type).
const MAX_REMOTE_KINDS: usize = 64;

/// Label of the one data channel of a connection.
pub(crate) const CHANNEL_LABEL: &str = "n2n-overlay";

/// `ChannelBufferedAmountLow` fires below this many buffered bytes.
const BUFFERED_LOW: usize = 64 * 1024;

/// Where the offer/answer exchange is.
enum Phase {
    /// Acceptor, before the remote's offer.
    AwaitOffer,
    /// Initiator, offer sent, before the remote's answer.
    AwaitAnswer(SdpPendingOffer),
    /// Both descriptions applied.
    Negotiated,
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::AwaitOffer => "waiting for an offer",
            Phase::AwaitAnswer(_) => "waiting for an answer",
            Phase::Negotiated => "negotiated",
        }
    }
}

/// What a connection writes to while it is driven: the node's socket, the
/// node's event queue, counters, and which connection owns which remote
/// socket address for DTLS.
pub(crate) struct Sink<'a> {
    pub(crate) socket: &'a UdpSocket,
    pub(crate) events: &'a mut VecDeque<TransportEvent>,
    pub(crate) stats: &'a mut Stats,
    pub(crate) claims: &'a mut HashMap<SocketAddr, ConnId>,
    /// The connection that last sent to each remote address (routes the
    /// first DTLS packets, which str0m's `accepts` refuses until its own
    /// ICE nomination).
    pub(crate) recent: &'a mut HashMap<SocketAddr, ConnId>,
    /// Server-reflexive and relay gathering has ended (end-of-candidates
    /// may be sent).
    pub(crate) gathering_done: bool,
    /// The node's TURN allocations (what str0m sends from a relayed
    /// address goes through them).
    pub(crate) turn: &'a mut Turn,
    /// Where each open connection records its selected pair.
    pub(crate) paths: &'a Paths,
}

impl Sink<'_> {
    /// Send a datagram str0m emitted from `source`: through the TURN
    /// server when `source` is one of our relayed addresses, else straight
    /// from the socket.
    pub(crate) fn transmit(&mut self, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        if self.turn.is_relayed(source) {
            let mut drops = TurnDrops::default();
            self.turn
                .send(Instant::now(), source, dest, data, &mut drops);
            self.stats.relay_dropped += drops.no_permission;
            for (server, datagram) in self.turn.poll_transmit() {
                send_datagram(self.socket, self.stats, server, &datagram);
            }
        } else {
            send_datagram(self.socket, self.stats, dest, data);
        }
    }
}

/// A connection's state.
pub(crate) struct Conn {
    id: ConnId,
    rtc: Rtc,
    phase: Phase,
    early: EarlyCandidates,
    channel: Option<ChannelId>,
    opened: bool,
    queue: VecDeque<Bytes>,
    /// Frames were queued since the connection was last driven (it is in
    /// the transport's list of connections to drive).
    pub(crate) undriven: bool,
    /// Datagrams fed since the connection was last driven.
    pub(crate) inputs: u32,
    /// When str0m wants its next `Input::Timeout`.
    pub(crate) next_timeout: Instant,
    /// The connection fails if not opened by then.
    deadline: Instant,
    /// When a datagram of this connection last arrived (or it opened).
    last_heard: Instant,
    /// The last ICE round-trip time: from this end's latest STUN binding
    /// request (a connectivity check or keep-alive) to its answer.
    rtt: Option<Duration>,
    /// The transaction id and send time of this end's latest STUN binding
    /// request (its answer gives [`Conn::rtt`]).
    last_check: Option<([u8; 12], Instant)>,
    /// An open connection that hears nothing this long is reported
    /// [`CloseReason::TimedOut`] ([`RtcConfig::silence_timeout`](rtc_common::RtcConfig)).
    silence_timeout: Duration,
    /// The remote socket address this connection's DTLS traffic goes to.
    claim: Option<SocketAddr>,
    /// The local address (a host base or a relayed address) its DTLS
    /// traffic leaves from.
    claim_source: Option<SocketAddr>,
    /// The type of each remote candidate address, as signalled.
    remote_kinds: HashMap<SocketAddr, PathKind>,
    /// End-of-candidates sent to the remote.
    sent_end: bool,
    /// The remote addresses this connection made its own in the node's
    /// `recent` map (freed on close without scanning the map).
    sent_to: Vec<SocketAddr>,
    /// The media id of the data section of the offer (ours or the
    /// remote's): trickled candidates must carry it (libwebrtc's
    /// `addIceCandidate` rejects a candidate for an unknown mid).
    mid: Option<String>,
}

impl Conn {
    /// A new connection in `role`: as initiator, emits the offer.
    pub(crate) fn open(
        id: ConnId,
        role: Role,
        mut rtc: Rtc,
        candidates: &[Candidate],
        now: Instant,
        deadline: Instant,
        sink: &mut Sink<'_>,
    ) -> Result<Conn, Str0mError> {
        for c in candidates {
            rtc.add_local_candidate(c.clone());
        }
        let mut phase = Phase::AwaitOffer;
        let mut channel = None;
        let mut mid = None;
        if role == Role::Initiator {
            let mut api = rtc.sdp_api();
            channel = Some(api.add_channel(CHANNEL_LABEL.to_owned()));
            let (offer, pending) = api.apply().ok_or(Str0mError::NoOffer)?;
            let sdp = offer.to_sdp_string();
            mid = sdp_mid(&sdp);
            sink.events.push_back(TransportEvent::Signal {
                conn: id,
                signal: Signal::Offer { sdp },
            });
            phase = Phase::AwaitAnswer(pending);
        }
        let mut conn = Conn {
            id,
            rtc,
            phase,
            early: EarlyCandidates::new(),
            channel,
            opened: false,
            queue: VecDeque::new(),
            undriven: false,
            inputs: 0,
            next_timeout: now,
            deadline,
            last_heard: now,
            rtt: None,
            last_check: None,
            silence_timeout: rtc_common::RtcConfig::default().silence_timeout,
            claim: None,
            claim_source: None,
            remote_kinds: HashMap::new(),
            sent_end: false,
            sent_to: Vec::new(),
            mid,
        };
        if role == Role::Initiator {
            conn.maybe_end_of_candidates(sink);
        }
        Ok(conn)
    }

    /// Report the connection [`CloseReason::TimedOut`] once it has heard
    /// nothing for `timeout` after opening.
    pub(crate) fn with_silence_timeout(mut self, timeout: Duration) -> Self {
        self.silence_timeout = timeout;
        self
    }

    /// The round-trip time of this end's latest answered ICE check on the
    /// selected pair (refreshed by every keep-alive once the connection is
    /// open).
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// When this connection must be given a timeout, beside str0m's own:
    /// the handshake deadline, then the end of the allowed silence.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.opened {
            Some(self.last_heard + self.silence_timeout)
        } else {
            Some(self.deadline)
        }
    }

    /// Check a frame before it is queued: the transport contract refuses
    /// empty frames (str0m 0.25 would send no chunk for one yet advance
    /// the SCTP stream sequence, wedging the channel for good) and frames
    /// over [`MAX_FRAME_SIZE`] (str0m would fail the connection later).
    pub(crate) fn check_frame(frame: &[u8]) -> Result<(), Str0mError> {
        if frame.is_empty() || frame.len() > MAX_FRAME_SIZE {
            return Err(Str0mError::FrameSize(frame.len()));
        }
        Ok(())
    }

    /// Whether the data channel is open.
    pub(crate) fn is_open(&self) -> bool {
        self.opened
    }

    pub(crate) fn accepts(&self, input: &Input<'_>) -> bool {
        self.rtc.accepts(input)
    }

    /// Apply a remote signal.
    ///
    /// # Errors
    /// The signal cannot be used; the caller frees the connection.
    pub(crate) fn apply_signal(
        &mut self,
        signal: &Signal,
        sink: &mut Sink<'_>,
    ) -> Result<(), Str0mError> {
        match read_signal(signal)? {
            RemoteSignal::Offer(sdp) => {
                if !matches!(self.phase, Phase::AwaitOffer) {
                    return Err(Str0mError::Unexpected {
                        kind: "offer",
                        state: self.phase.name(),
                    });
                }
                let offer = SdpOffer::from_sdp_string(sdp)?;
                self.remember_sdp_candidates(sdp);
                self.mid = sdp_mid(sdp);
                let answer = self.rtc.sdp_api().accept_offer(offer)?;
                sink.events.push_back(TransportEvent::Signal {
                    conn: self.id,
                    signal: Signal::Answer {
                        sdp: answer.to_sdp_string(),
                    },
                });
                self.phase = Phase::Negotiated;
                self.apply_early();
                self.maybe_end_of_candidates(sink);
            }
            RemoteSignal::Answer(sdp) => {
                let Phase::AwaitAnswer(_) = self.phase else {
                    return Err(Str0mError::Unexpected {
                        kind: "answer",
                        state: self.phase.name(),
                    });
                };
                let answer = SdpAnswer::from_sdp_string(sdp)?;
                self.remember_sdp_candidates(sdp);
                let Phase::AwaitAnswer(pending) =
                    std::mem::replace(&mut self.phase, Phase::Negotiated)
                else {
                    return Err(Str0mError::Unexpected {
                        kind: "answer",
                        state: "negotiated",
                    });
                };
                self.rtc.sdp_api().accept_answer(pending, answer)?;
                self.apply_early();
            }
            RemoteSignal::Candidate(line) => {
                if let Some(candidate) = parse_candidate(line, sink.stats)? {
                    self.remember_remote(&candidate);
                    if matches!(self.phase, Phase::Negotiated) {
                        self.rtc.add_remote_candidate(candidate);
                    } else {
                        self.early.push(line)?;
                    }
                }
            }
            RemoteSignal::EndOfCandidates => {
                // str0m never ends trickle ICE; nothing to apply.
                self.early.end();
            }
        }
        Ok(())
    }

    fn apply_early(&mut self) {
        for line in self.early.take() {
            // Checked when it arrived.
            if let Ok(c) = Candidate::from_sdp_string(&line) {
                self.remember_remote(&c);
                self.rtc.add_remote_candidate(c);
            }
        }
    }

    /// Candidates inside a remote description count as signalled too.
    fn remember_sdp_candidates(&mut self, sdp: &str) {
        for line in sdp.lines() {
            if let Some(text) = line.trim().strip_prefix("a=") {
                if text.starts_with("candidate:") {
                    if let Ok(c) = Candidate::from_sdp_string(text) {
                        self.remember_remote(&c);
                    }
                }
            }
        }
    }

    fn remember_remote(&mut self, c: &Candidate) {
        if self.remote_kinds.len() < MAX_REMOTE_KINDS {
            let kind = match c.kind() {
                CandidateKind::Host => PathKind::Host,
                CandidateKind::ServerReflexive => PathKind::Srflx,
                CandidateKind::PeerReflexive => PathKind::Prflx,
                CandidateKind::Relayed => PathKind::Relay,
            };
            // The same address signalled as host and as server-reflexive
            // (a peer with no NAT asked STUN) is a host address.
            let slot = self.remote_kinds.entry(c.addr()).or_insert(kind);
            if kind == PathKind::Host {
                *slot = PathKind::Host;
            }
        }
    }

    /// The pair DTLS runs on: local relay or host (str0m sends from a
    /// candidate's base, so a server-reflexive local candidate shows as
    /// host here and as server-reflexive at the remote); remote as it was
    /// signalled, or peer-reflexive if it never was.
    fn selected_path(&self, sink: &Sink<'_>) -> Option<SelectedPath> {
        let (source, dest) = (self.claim_source?, self.claim?);
        let local = if sink.turn.is_relayed(source) {
            PathKind::Relay
        } else {
            PathKind::Host
        };
        let remote = self
            .remote_kinds
            .get(&dest)
            .copied()
            .unwrap_or(PathKind::Prflx);
        Some(SelectedPath::new(local, remote))
    }

    fn maybe_end_of_candidates(&mut self, sink: &mut Sink<'_>) {
        if sink.gathering_done && !self.sent_end && !matches!(self.phase, Phase::AwaitOffer) {
            self.sent_end = true;
            sink.events.push_back(TransportEvent::Signal {
                conn: self.id,
                signal: Signal::EndOfCandidates,
            });
        }
    }

    /// Server-reflexive gathering found `c` (or ended, with `None`).
    pub(crate) fn local_candidate(&mut self, c: Option<&Candidate>, sink: &mut Sink<'_>) {
        if let Some(c) = c {
            if let Some(added) = self.rtc.add_local_candidate(c.clone()) {
                let line = added.to_sdp_string();
                let mut signal = Signal::candidate(line);
                if let (Signal::Candidate { sdp_mid, .. }, Some(mid)) = (&mut signal, &self.mid) {
                    *sdp_mid = Some(mid.clone());
                }
                sink.events.push_back(TransportEvent::Signal {
                    conn: self.id,
                    signal,
                });
            }
        }
        self.maybe_end_of_candidates(sink);
    }

    /// Queue a frame; it goes to the channel at the connection's next
    /// [`Conn::drive`]. `true` if nothing was waiting for a drive before
    /// (the caller then lists the connection to be driven).
    pub(crate) fn send(&mut self, frame: Bytes) -> bool {
        self.queue.push_back(frame);
        !std::mem::replace(&mut self.undriven, true)
    }

    /// Feed a timeout or a datagram.
    ///
    /// A datagram str0m rejects (a malformed or forged DTLS record, say) is
    /// counted and dropped while the `Rtc` stays alive: input from the
    /// network cannot end a connection by itself being bad. A failing
    /// timeout means str0m's own state broke: the connection ends.
    pub(crate) fn input(&mut self, input: Input<'_>, stats: &mut Stats) -> Result<(), CloseReason> {
        let is_timeout = matches!(input, Input::Timeout(_));
        match &input {
            Input::Timeout(now) => {
                let now = *now;
                stats.timeouts += 1;
                if !self.opened && now >= self.deadline {
                    return Err(CloseReason::Failed(
                        "handshake did not complete in time".into(),
                    ));
                }
                if self.opened && now >= self.last_heard + self.silence_timeout {
                    tracing::debug!(conn = %self.id, silent = ?now - self.last_heard, "remote silent: timed out");
                    return Err(CloseReason::TimedOut);
                }
            }
            Input::Receive(now, _) => self.last_heard = self.last_heard.max(*now),
        }
        match self.rtc.handle_input(input) {
            Ok(()) => Ok(()),
            Err(e) if !is_timeout && self.rtc.is_alive() => {
                stats.rejected_input += 1;
                tracing::debug!(conn = %self.id, error = %e, "str0m rejected a datagram");
                Ok(())
            }
            Err(e) => Err(CloseReason::Failed(format!("str0m: {e}"))),
        }
    }

    /// Drain str0m's output and feed the send queue until neither has
    /// anything left. Call after every mutation.
    ///
    /// # Errors
    /// The connection ended (the reason is for [`TransportEvent::Closed`]).
    pub(crate) fn drive(&mut self, sink: &mut Sink<'_>) -> Result<(), CloseReason> {
        self.undriven = false;
        self.inputs = 0;
        loop {
            self.drain(sink)?;
            if !self.flush(sink)? {
                return Ok(());
            }
        }
    }

    fn drain(&mut self, sink: &mut Sink<'_>) -> Result<(), CloseReason> {
        loop {
            if !self.rtc.is_alive() {
                // A remote close ends in `Event::Closed` (reported as such
                // below); str0m stopping on its own is a failure.
                return Err(CloseReason::Failed("str0m stopped the connection".into()));
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return Ok(());
                }
                Ok(Output::Transmit(t)) => {
                    // Once DTLS runs on a pair, only that pair's checks
                    // time the round trip.
                    if self.claim.is_none_or(|c| c == t.destination) {
                        if let Some(id) = stun_transaction(&t.contents, STUN_BINDING_REQUEST) {
                            self.last_check = Some((id, Instant::now()));
                        }
                    }
                    if is_dtls(&t.contents) {
                        if self.claim != Some(t.destination) {
                            self.claim_remote(t.destination, sink)?;
                        }
                        self.claim_source = Some(t.source);
                    }
                    if sink.recent.get(&t.destination) != Some(&self.id) {
                        sink.recent.insert(t.destination, self.id);
                        if !self.sent_to.contains(&t.destination) {
                            self.sent_to.push(t.destination);
                        }
                    }
                    sink.transmit(t.source, t.destination, &t.contents);
                }
                Ok(Output::Event(e)) => self.event(e, sink)?,
                Err(e) => return Err(CloseReason::Failed(format!("str0m: {e}"))),
            }
        }
    }

    /// A datagram for this connection arrived at `now`: if it answers this
    /// end's latest binding request, it gives the round-trip time.
    pub(crate) fn observe(&mut self, data: &[u8], now: Instant) {
        if let Some((id, sent)) = self.last_check {
            if stun_transaction(data, STUN_BINDING_SUCCESS) == Some(id) {
                self.rtt = Some(now.saturating_duration_since(sent));
                self.last_check = None;
            }
        }
    }

    /// DTLS records carry no connection id: two connections of one socket
    /// to the same remote socket cannot be told apart once ICE is done.
    fn claim_remote(&mut self, dest: SocketAddr, sink: &mut Sink<'_>) -> Result<(), CloseReason> {
        match sink.claims.get(&dest) {
            Some(owner) if *owner != self.id => {
                sink.stats.pair_collisions += 1;
                return Err(CloseReason::Failed(format!(
                    "another connection of this node already talks to {dest}: one connection per pair of sockets"
                )));
            }
            _ => {}
        }
        if let Some(old) = self.claim.replace(dest) {
            sink.claims.remove(&old);
        }
        sink.claims.insert(dest, self.id);
        Ok(())
    }

    fn event(&mut self, event: Event, sink: &mut Sink<'_>) -> Result<(), CloseReason> {
        match event {
            Event::ChannelOpen(cid, label) => {
                if self.channel.is_none() || self.channel == Some(cid) {
                    self.channel = Some(cid);
                    if let Some(mut ch) = self.rtc.channel(cid) {
                        ch.set_buffered_amount_low_threshold(BUFFERED_LOW);
                    }
                    if !self.opened {
                        self.opened = true;
                        self.last_heard = Instant::now();
                        if let Some(path) = self.selected_path(sink) {
                            tracing::debug!(conn = %self.id, %path, "selected candidate pair");
                            sink.paths.set(self.id, path);
                        }
                        let binding = channel_binding(&mut self.rtc);
                        sink.events.push_back(TransportEvent::Opened {
                            conn: self.id,
                            binding,
                        });
                    }
                } else {
                    tracing::debug!(conn = %self.id, %label, "ignoring an extra data channel");
                }
            }
            Event::ChannelData(data) => {
                if Some(data.id) == self.channel && self.opened {
                    sink.stats.frames_in += 1;
                    sink.events.push_back(TransportEvent::Frame {
                        conn: self.id,
                        frame: Bytes::from(data.data),
                    });
                } else {
                    sink.stats.dropped_frames += 1;
                }
            }
            Event::ChannelClose(cid) if Some(cid) == self.channel => {
                return Err(CloseReason::Remote)
            }
            Event::Closed => return Err(CloseReason::Remote),
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(conn = %self.id, ?state, "ICE state");
                if state == IceConnectionState::Disconnected && self.opened {
                    return Err(CloseReason::TimedOut);
                }
                // Before opening, a Disconnected may be followed by new
                // trickled candidates; the handshake deadline bounds it.
            }
            _ => {}
        }
        Ok(())
    }

    /// Hand queued frames to the channel. `Ok(true)` if any was taken (str0m
    /// then has output to drain).
    fn flush(&mut self, sink: &mut Sink<'_>) -> Result<bool, CloseReason> {
        let (true, Some(cid)) = (self.opened, self.channel) else {
            return Ok(false);
        };
        let mut bytes = 0;
        let mut taken = false;
        while let Some(frame) = self.queue.front() {
            let Some(mut ch) = self.rtc.channel(cid) else {
                return Err(CloseReason::Failed("the data channel is gone".into()));
            };
            match ch.write(true, frame) {
                Ok(true) => {
                    bytes += frame.len();
                    taken = true;
                    sink.stats.frames_out += 1;
                    self.queue.pop_front();
                }
                Ok(false) => {
                    if !taken && ch.buffered_amount() == 0 {
                        return Err(CloseReason::Failed(format!(
                            "a frame of {} bytes does not fit the SCTP send buffer",
                            frame.len()
                        )));
                    }
                    break;
                }
                Err(e) => return Err(CloseReason::Failed(format!("data channel write: {e}"))),
            }
        }
        if taken {
            sink.events.push_back(TransportEvent::Sent {
                conn: self.id,
                bytes,
            });
        }
        Ok(taken)
    }

    /// Close toward the remote: it hears a DTLS close_notify (it sees the
    /// close at once instead of after a silence timeout). Frees the claim.
    /// Used for a local `Close` and for every connection that ends here for
    /// another reason (a failure, a refused command): the remote must not
    /// be left to time out.
    pub(crate) fn close(mut self, sink: &mut Sink<'_>) {
        self.release(sink);
        if self.rtc.close().is_ok() {
            while let Ok(out) = self.rtc.poll_output() {
                match out {
                    Output::Transmit(t) => sink.transmit(t.source, t.destination, &t.contents),
                    Output::Event(_) => {}
                    Output::Timeout(_) => break,
                }
                if !self.rtc.is_alive() {
                    break;
                }
            }
        }
    }

    /// Forget this connection's claim on its remote socket address, and
    /// the addresses it sent to.
    pub(crate) fn release(&mut self, sink: &mut Sink<'_>) {
        sink.paths.remove(self.id);
        if let Some(dest) = self.claim.take() {
            if sink.claims.get(&dest) == Some(&self.id) {
                sink.claims.remove(&dest);
            }
        }
        // O(addresses this connection sent to), not O(connections): a hub
        // closing (or failing) a handshake must not scan every remote.
        for dest in self.sent_to.drain(..) {
            if sink.recent.get(&dest) == Some(&self.id) {
                sink.recent.remove(&dest);
            }
        }
    }
}

/// The media id of the first media section of an SDP (`a=mid:`), the one
/// data section of this transport's sessions.
fn sdp_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=mid:"))
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty() && m.len() <= 64)
}

/// The certificate fingerprints DTLS enforced on this connection: ours,
/// and the remote's as str0m computed it from the certificate the remote
/// presented, which str0m checked against the remote SDP's fingerprint
/// before the channel could open. `None` unless both are SHA-256 (a
/// remote that announced only another hash cannot be bound).
fn channel_binding(rtc: &mut Rtc) -> Option<ChannelBinding> {
    fn sha256(f: &str0m::crypto::Fingerprint) -> Option<Fingerprint> {
        if !f.hash_func.eq_ignore_ascii_case("sha-256") {
            return None;
        }
        Some(Fingerprint(f.bytes.as_slice().try_into().ok()?))
    }
    let api = rtc.direct_api();
    let local = sha256(api.local_dtls_fingerprint())?;
    let remote = sha256(api.remote_dtls_fingerprint()?)?;
    Some(ChannelBinding { local, remote })
}

/// STUN message types (RFC 8489): a Binding request and its success
/// response.
const STUN_BINDING_REQUEST: u16 = 0x0001;
const STUN_BINDING_SUCCESS: u16 = 0x0101;

/// The transaction id of a STUN message of type `kind` (by its header
/// only: type, magic cookie; the integrity is str0m's to check).
fn stun_transaction(datagram: &[u8], kind: u16) -> Option<[u8; 12]> {
    let header = datagram.get(..20)?;
    if u16::from_be_bytes([header[0], header[1]]) != kind
        || header[4..8] != [0x21, 0x12, 0xa4, 0x42]
    {
        return None;
    }
    header[8..20].try_into().ok()
}

/// DTLS records start with a content type in 20..=63 (RFC 7983).
fn is_dtls(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63))
}

/// Parse a remote candidate line. `Ok(None)` for a candidate that is well
/// formed but unusable here (an mDNS `.local` host name: a native peer
/// cannot resolve it), which is skipped, as browsers do.
fn parse_candidate(line: &str, stats: &mut Stats) -> Result<Option<Candidate>, Str0mError> {
    match Candidate::from_sdp_string(line) {
        Ok(c) => Ok(Some(c)),
        Err(_)
            if line
                .split_whitespace()
                .nth(4)
                .is_some_and(|host| host.ends_with(".local")) =>
        {
            stats.skipped_candidates += 1;
            tracing::debug!(%line, "skipping an mDNS candidate");
            Ok(None)
        }
        Err(e) => Err(Str0mError::Candidate {
            line: line.chars().take(200).collect(),
            why: e.to_string(),
        }),
    }
}

/// Send one datagram; UDP may drop it (SCTP and STUN retransmit), so a
/// full send buffer is counted, not fatal.
///
/// The datagram goes straight to `sendto(2)` on the non-blocking socket:
/// tokio's `try_send_to` answers `WouldBlock` without trying until its
/// reactor has seen the socket writable, which drops the first datagrams
/// of a fresh socket (an ICE check, a ClientHello: a 250 ms or 1 s stall).
pub(crate) fn send_datagram(socket: &UdpSocket, stats: &mut Stats, dest: SocketAddr, data: &[u8]) {
    match socket2::SockRef::from(socket).send_to(data, &dest.into()) {
        Ok(_) => stats.datagrams_out += 1,
        Err(e) if e.kind() == ErrorKind::WouldBlock => stats.send_would_block += 1,
        Err(e) => {
            stats.send_errors += 1;
            tracing::debug!(%dest, error = %e, "UDP send failed");
        }
    }
}
