//! [`Str0mTransport`]: one UDP socket, one timer and every connection of a node.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use overlay_core::{CloseReason, ConnId, Transport, TransportCommand, TransportEvent};
use rtc_common::addrs::{host_ips, pick_local_ip, resolve_stun_servers, resolve_turn_url, LocalIp};
use rtc_common::paths::Paths;
use rtc_common::RtcConfig;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, IceCreds, Input, Rtc};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::time::Sleep;

use crate::conn::{send_datagram, Conn, Sink};
use crate::error::{BindError, Str0mError};
use crate::prepared::NodeRtcConfig;
use crate::stun::{Gatherer, StunReply};
use crate::turn::{FromServer, Turn, TurnTarget};
use crate::Stats;

/// Datagrams read per pass before timers get their turn.
const RECV_BATCH: usize = 256;
/// Passes per `poll_event` before yielding to the runtime (fairness).
const MAX_PASSES: usize = 64;
/// Datagrams fed to one open connection before it is driven (str0m's
/// DTLS layer keeps at most 30 incoming records between polls).
const INPUTS_PER_DRIVE: u32 = 16;
/// Largest datagram read whole. WebRTC stacks keep datagrams under the path
/// MTU (str0m and libwebrtc: ~1.2 KB); a longer one is cut and then dropped
/// by str0m as malformed. Every resident KiB here counts per node.
const RECV_BUF: usize = 4 * 1024;

/// A node's WebRTC transport on str0m: one UDP socket shared by all its
/// connections, driven from [`Transport::poll_event`] (no tasks of its own).
///
/// See the [crate docs](crate) for use, design and limits.
pub struct Str0mTransport {
    socket: UdpSocket,
    local_addr: SocketAddr,
    locals: Vec<LocalIp>,
    candidates: Vec<Candidate>,
    gatherer: Gatherer,
    turn: Turn,
    paths: Paths,
    gathering_done: bool,
    prepared: NodeRtcConfig,
    config: RtcConfig,
    conns: BTreeMap<ConnId, Conn>,
    /// Routing and timer indexes over `conns`: no per-datagram or per-wake-up
    /// work grows with the number of connections.
    index: ConnIndex,
    claims: HashMap<SocketAddr, ConnId>,
    recent: HashMap<SocketAddr, ConnId>,
    events: VecDeque<TransportEvent>,
    /// Connections given frames since they were last driven: driven once
    /// per batch of `Send` commands (at the next `poll_event`), so str0m
    /// takes every frame of the batch before its output is drained (one
    /// SCTP transmit pass per batch, small frames bundled), not one pass
    /// per frame. Each connection at most once.
    undriven: Vec<ConnId>,
    sleep: Pin<Box<Sleep>>,
    sleep_at: Option<Instant>,
    buf: Vec<u8>,
    stats: Stats,
    dead: Option<String>,
}

impl std::fmt::Debug for Str0mTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Str0mTransport")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.conns.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Str0mTransport {
    /// Bind the node's UDP socket and prepare what every connection reuses
    /// (crypto provider, DTLS certificate, str0m configuration).
    ///
    /// Must be called within a tokio runtime (the socket registers with its
    /// reactor). STUN server names are resolved here, with the system
    /// resolver.
    ///
    /// # Errors
    /// The socket cannot be bound or configured, a STUN server does not
    /// resolve, or no local address can make a host candidate.
    pub fn bind(config: &RtcConfig) -> Result<Self, BindError> {
        let prepared = NodeRtcConfig::new()?;
        Self::bind_prepared(config, prepared)
    }

    /// [`Str0mTransport::bind`] with a prepared str0m configuration (for
    /// example one adjusted through [`NodeRtcConfig::rtc_config`]).
    ///
    /// # Errors
    /// As [`Str0mTransport::bind`].
    pub fn bind_prepared(config: &RtcConfig, prepared: NodeRtcConfig) -> Result<Self, BindError> {
        let prepared = prepared.with_keepalive(config.keepalive_interval, config.silence_timeout);
        let std_socket = make_socket(config)?;
        let local_addr = std_socket.local_addr()?;
        let socket = UdpSocket::from_std(std_socket)?;
        let locals = host_ips(config.bind_ip)?;
        let candidates: Vec<Candidate> = locals
            .iter()
            .filter_map(|l| Candidate::host(SocketAddr::new(l.ip, local_addr.port()), "udp").ok())
            .collect();
        if candidates.is_empty() {
            return Err(BindError::NoHostAddress(local_addr));
        }
        let servers = resolve_stun_servers(&config.stun_servers, config.bind_ip)?;
        let mut targets = Vec::new();
        for t in &config.turn_servers {
            targets.push(TurnTarget {
                server: resolve_turn_url(&t.url, config.bind_ip)?,
                username: t.username.clone(),
                credential: t.credential.clone(),
            });
        }
        let now = Instant::now();
        let gatherer = Gatherer::new(&servers, now, config.stun_timeout);
        let turn = Turn::new(&targets, local_addr, now, config.stun_timeout);
        let gathering_done = gatherer.done() && turn.done();
        tracing::debug!(%local_addr, candidates = candidates.len(), stun = servers.len(), "str0m transport bound");
        Ok(Str0mTransport {
            socket,
            local_addr,
            locals,
            candidates,
            gatherer,
            turn,
            paths: Paths::default(),
            gathering_done,
            prepared,
            config: config.clone(),
            conns: BTreeMap::new(),
            index: ConnIndex::default(),
            claims: HashMap::new(),
            recent: HashMap::new(),
            events: VecDeque::new(),
            undriven: Vec::new(),
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                now,
            ))),
            sleep_at: Some(now),
            buf: vec![0; RECV_BUF],
            stats: Stats::default(),
            dead: None,
        })
    }

    /// The bound socket address (port chosen by the OS when configured 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The node's local candidates so far (host, then server-reflexive).
    pub fn local_candidates(&self) -> impl Iterator<Item = String> + '_ {
        self.candidates.iter().map(Candidate::to_sdp_string)
    }

    /// The candidate pair each open connection selected (host,
    /// server-reflexive, relay): a handle that stays valid after the
    /// transport moves into its node.
    pub fn paths(&self) -> Paths {
        self.paths.clone()
    }

    /// Counters since the transport was bound.
    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// Connections currently held (pending and open).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    fn sink(&mut self) -> (&mut BTreeMap<ConnId, Conn>, Sink<'_>) {
        let Str0mTransport {
            conns,
            socket,
            events,
            stats,
            claims,
            recent,
            gathering_done,
            turn,
            paths,
            ..
        } = self;
        (
            conns,
            Sink {
                socket,
                events,
                stats,
                claims,
                recent,
                gathering_done: *gathering_done,
                turn,
                paths,
            },
        )
    }

    /// Remove a connection that ended for a reason other than a local
    /// `Close`, and report it.
    fn end(&mut self, conn: ConnId, reason: CloseReason) {
        self.index.remove(conn);
        let (conns, mut sink) = self.sink();
        if let Some(c) = conns.remove(&conn) {
            c.close(&mut sink);
            tracing::debug!(%conn, %reason, "connection ended");
            sink.events
                .push_back(TransportEvent::Closed { conn, reason });
        }
    }

    /// Drive one connection after a mutation; end it if it failed.
    fn drive(&mut self, conn: ConnId) {
        let (conns, mut sink) = self.sink();
        let result = match conns.get_mut(&conn) {
            Some(c) => c.drive(&mut sink).map(|()| {
                c.deadline()
                    .map_or(c.next_timeout, |d| d.min(c.next_timeout))
            }),
            None => return,
        };
        match result {
            Ok(at) => self.index.schedule(conn, at),
            Err(reason) => self.end(conn, reason),
        }
    }

    /// After an API change (new connection, remote description, remote
    /// candidate), give str0m the time at once: its ICE agent starts
    /// checks only from a timeout, and str0m's `Timeout` output does not
    /// always ask for one right away.
    fn kick(&mut self, now: Instant, conn: ConnId) {
        // Drain what the change produced, then feed the time.
        self.drive(conn);
        let result = match self.conns.get_mut(&conn) {
            Some(c) => c.input(Input::Timeout(now), &mut self.stats),
            None => return,
        };
        match result {
            Ok(()) => self.drive(conn),
            Err(reason) => self.end(conn, reason),
        }
    }

    fn open(
        &mut self,
        now: Instant,
        conn: ConnId,
        role: overlay_core::Role,
    ) -> Result<(), Str0mError> {
        if self.conns.contains_key(&conn) {
            return Err(Str0mError::AlreadyOpen(conn));
        }
        if let Some(why) = &self.dead {
            self.events.push_back(TransportEvent::Closed {
                conn,
                reason: CloseReason::Failed(why.clone()),
            });
            return Ok(());
        }
        let mut rtc = self
            .prepared
            .build_for(now, role == overlay_core::Role::Initiator);
        let ufrag = self.index.unique_ufrag(&mut rtc);
        let deadline = now + self.config.handshake_timeout;
        let candidates = std::mem::take(&mut self.candidates);
        let (_, mut sink) = self.sink();
        let opened = Conn::open(conn, role, rtc, &candidates, now, deadline, &mut sink);
        self.candidates = candidates;
        self.conns.insert(
            conn,
            opened?.with_silence_timeout(self.config.silence_timeout),
        );
        self.index.insert(conn, ufrag);
        self.kick(now, conn);
        Ok(())
    }

    fn signal(&mut self, conn: ConnId, signal: &overlay_core::Signal) -> Result<(), Str0mError> {
        let (conns, mut sink) = self.sink();
        let Some(c) = conns.get_mut(&conn) else {
            tracing::debug!(%conn, kind = signal.kind(), "signal for an unknown connection ignored");
            return Ok(());
        };
        if let Err(e) = c.apply_signal(signal, &mut sink) {
            // The driver reports this connection closed: free it, say nothing.
            if let Some(c) = conns.remove(&conn) {
                c.close(&mut sink);
            }
            sink.events.retain(|e| e.conn() != conn);
            self.index.remove(conn);
            return Err(e);
        }
        self.kick(Instant::now(), conn);
        Ok(())
    }

    fn send(&mut self, conn: ConnId, frame: Bytes) -> Result<(), Str0mError> {
        if self.conns.contains_key(&conn) {
            if let Err(e) = Conn::check_frame(&frame) {
                self.close(conn);
                return Err(e);
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.send(frame) {
                self.undriven.push(conn);
            }
        }
        Ok(())
    }

    /// After a datagram: an open connection is driven once for up to
    /// [`INPUTS_PER_DRIVE`] datagrams of one read batch (one SCTP transmit
    /// pass and one acknowledgement for them, not one per datagram); a
    /// handshaking one at once.
    fn drive_soon(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.inputs += 1;
        if !c.is_open() || c.inputs >= INPUTS_PER_DRIVE {
            self.drive(id);
        } else if !std::mem::replace(&mut c.undriven, true) {
            self.undriven.push(id);
        }
    }

    /// Drive every connection that was given frames or datagrams since its
    /// last drive.
    fn drive_undriven(&mut self) {
        for id in std::mem::take(&mut self.undriven) {
            if self.conns.get(&id).is_some_and(|c| c.undriven) {
                self.drive(id);
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        // Frames given before the close go to the channel first, as if
        // each had been driven at once.
        if self.conns.get(&conn).is_some_and(|c| c.undriven) {
            self.drive(conn);
        }
        self.index.remove(conn);
        let (conns, mut sink) = self.sink();
        if let Some(c) = conns.remove(&conn) {
            c.close(&mut sink);
        }
        self.events.retain(|e| e.conn() != conn);
    }

    /// The local address a datagram from `source` arrived on.
    fn destination(&self, source: SocketAddr) -> SocketAddr {
        if self.local_addr.ip().is_unspecified() {
            if let Some(ip) = pick_local_ip(&self.locals, source.ip()) {
                return SocketAddr::new(ip, self.local_addr.port());
            }
        }
        self.local_addr
    }

    /// Route one received datagram (in `self.buf[..len]`).
    fn datagram(&mut self, now: Instant, source: SocketAddr, len: usize) {
        self.stats.datagrams_in += 1;
        let buf = std::mem::take(&mut self.buf);
        let data = &buf[..len.min(buf.len())];
        match self.gatherer.handle_datagram(source, data) {
            StunReply::Mapped(mapped) => {
                self.reflexive(mapped);
                self.buf = buf;
                return;
            }
            StunReply::NotOurs => {}
        }
        if self.turn.is_server(source) {
            let from = self.turn.handle_datagram(now, source, data);
            self.buf = buf;
            self.turn_input(now, from);
            return;
        }
        let destination = self.destination(source);
        self.route(now, source, destination, data);
        self.buf = buf;
    }

    /// What a TURN server sent: a new relay candidate, relayed datagrams.
    fn turn_input(&mut self, now: Instant, from: FromServer) {
        self.flush_turn();
        for relayed in from.allocated {
            let base = self.destination(relayed);
            match Candidate::relayed(relayed, base, "udp") {
                Ok(c) => {
                    self.candidates.push(c.clone());
                    self.announce(Some(&c));
                }
                Err(e) => tracing::debug!(%relayed, error = %e, "unusable relayed address"),
            }
        }
        for (peer, relayed, data) in from.relayed {
            self.stats.relayed_in += 1;
            self.route(now, peer, relayed, &data);
        }
        self.announce(None);
    }

    /// Send what the TURN clients want sent.
    fn flush_turn(&mut self) {
        for (dest, datagram) in self.turn.poll_transmit() {
            send_datagram(&self.socket, &mut self.stats, dest, &datagram);
        }
    }

    /// Hand one datagram to the connection it belongs to.
    fn route(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        let Ok(contents) = DatagramRecv::try_from(data) else {
            self.stats.malformed += 1;
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        );
        // O(1) whatever the number of connections: established connections
        // by their remote address; a STUN check by the local ICE ufrag in its
        // USERNAME; then the connection that last sent to that address (STUN
        // replies to its checks, and a DTLS ClientHello that arrives before
        // this side's ICE nominated its pair, which str0m's `accepts`
        // refuses, as a raw str0m pair would). Anything else is dropped and
        // counted: no datagram scans the connections.
        let accepts = |id: &ConnId| self.conns.get(id).is_some_and(|c| c.accepts(&input));
        let target = self
            .claims
            .get(&source)
            .copied()
            .filter(accepts)
            .or_else(|| {
                stun_request_ufrag(data)
                    .and_then(|u| self.index.by_ufrag.get(u).copied())
                    .filter(accepts)
            })
            .or_else(|| {
                self.recent
                    .get(&source)
                    .copied()
                    .filter(|id| accepts(id) || is_dtls(data))
            });
        match target {
            Some(id) => {
                // Only application data waits for a batch: anything else (a
                // DTLS alert such as the remote's close_notify, a handshake
                // record, a STUN check) first lets the connection hand over
                // what the datagrams before it carried. Fed together, a
                // close_notify would end the `Rtc` before the frames that
                // preceded it reached us.
                if !is_application_data(data) && self.conns.get(&id).is_some_and(|c| c.undriven) {
                    self.drive(id);
                }
                let result = match self.conns.get_mut(&id) {
                    Some(c) => {
                        c.observe(data, now);
                        c.input(input, &mut self.stats)
                    }
                    None => Ok(()),
                };
                match result {
                    Ok(()) => self.drive_soon(id),
                    Err(reason) => self.end(id, reason),
                }
            }
            None => self.stats.unrouted += 1,
        }
    }

    /// A STUN server answered (with our public address, or not).
    fn reflexive(&mut self, mapped: Option<SocketAddr>) {
        let mut found = None;
        if let Some(addr) = mapped {
            let known = self.candidates.iter().any(|c| c.addr() == addr);
            let base = self.destination(addr);
            match Candidate::server_reflexive(addr, base, "udp") {
                Ok(c) if !known => found = Some(c),
                Ok(_) => {}
                Err(e) => tracing::debug!(%addr, error = %e, "unusable server-reflexive address"),
            }
        }
        if let Some(c) = &found {
            self.candidates.push(c.clone());
        }
        self.announce(found.as_ref());
    }

    /// Tell every connection about a new local candidate and/or the end of
    /// gathering.
    fn announce(&mut self, found: Option<&Candidate>) {
        let done = self.gatherer.done() && self.turn.done();
        if found.is_none() && done == self.gathering_done {
            return;
        }
        self.gathering_done = done;
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let (conns, mut sink) = self.sink();
            if let Some(c) = conns.get_mut(&id) {
                c.local_candidate(found, &mut sink);
            }
            self.drive(id);
        }
    }

    /// Feed due timeouts to connections and the STUN gatherer.
    fn timeouts(&mut self, now: Instant) {
        let due = self.index.due(now);
        for id in due {
            let result = match self.conns.get_mut(&id) {
                Some(c) => c.input(Input::Timeout(now), &mut self.stats),
                None => continue,
            };
            match result {
                Ok(()) => self.drive(id),
                Err(reason) => self.end(id, reason),
            }
        }
        if !self.gathering_done {
            for (dest, datagram) in self.gatherer.poll_transmit(now) {
                send_datagram(&self.socket, &mut self.stats, dest, &datagram);
            }
            self.announce(None);
        }
        if self.turn.next_timeout().is_some_and(|t| t <= now) {
            let from = self.turn.handle_timeout(now);
            self.turn_input(now, from);
        }
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let turn = self.turn.next_timeout();
        self.index
            .next()
            .into_iter()
            .chain(self.gatherer.next_timeout())
            .chain(turn)
            .min()
    }

    /// The socket failed for good: every connection ends.
    fn socket_died(&mut self, error: &std::io::Error) {
        let why = format!("UDP socket failed: {error}");
        tracing::warn!(addr = %self.local_addr, %why);
        self.dead = Some(why.clone());
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.end(id, CloseReason::Failed(why.clone()));
        }
    }

    /// Read what the socket holds. `true` if anything was read.
    fn read_socket(&mut self, cx: &mut Context<'_>) -> bool {
        let mut any = false;
        for _ in 0..RECV_BATCH {
            if self.dead.is_some() {
                break;
            }
            let mut read = ReadBuf::new(&mut self.buf);
            match self.socket.poll_recv_from(cx, &mut read) {
                Poll::Ready(Ok(source)) => {
                    let len = read.filled().len();
                    any = true;
                    self.datagram(Instant::now(), source, len);
                }
                Poll::Ready(Err(e)) if is_transient(&e) => {
                    any = true;
                    self.stats.recv_errors += 1;
                }
                Poll::Ready(Err(e)) => {
                    self.socket_died(&e);
                    any = true;
                }
                Poll::Pending => break,
            }
        }
        any
    }
}

impl Drop for Str0mTransport {
    /// Dropping the transport is a crash (the transport contract): remotes
    /// are not told and report their connections timed out. A node closes
    /// its connections (`Close`) before it drops its transport. TURN
    /// allocations are released (the servers are not peers).
    fn drop(&mut self) {
        self.turn.close(Instant::now());
        self.flush_turn();
    }
}

impl Transport for Str0mTransport {
    type Error = Str0mError;

    fn handle_command(&mut self, now: Instant, cmd: TransportCommand) -> Result<(), Self::Error> {
        let result = match cmd {
            TransportCommand::Open { conn, role } => self.open(now, conn, role),
            TransportCommand::Signal { conn, signal } => self.signal(conn, &signal),
            TransportCommand::Send { conn, frame } => self.send(conn, frame),
            TransportCommand::Close { conn } => {
                self.close(conn);
                Ok(())
            }
            other => {
                tracing::debug!(conn = %other.conn(), "unknown transport command ignored");
                Ok(())
            }
        };
        // No self-wake: whoever calls this holds the transport and polls
        // `poll_event` before it sleeps (the node's driver does after every
        // command), and that poll sees the new events and timers (and
        // drives the connections given frames: `flush`). A wake here cost
        // the driver one extra pass per command.
        result
    }

    fn flush(&mut self) {
        self.drive_undriven();
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        if !self.undriven.is_empty() {
            self.drive_undriven();
        }
        for _ in 0..MAX_PASSES {
            if let Some(event) = self.events.pop_front() {
                return Poll::Ready(event);
            }
            let mut progressed = self.read_socket(cx);
            self.timeouts(Instant::now());
            if !self.undriven.is_empty() {
                self.drive_undriven();
            }
            match self.next_deadline() {
                Some(at) => {
                    if self.sleep_at != Some(at) {
                        self.sleep
                            .as_mut()
                            .reset(tokio::time::Instant::from_std(at));
                        self.sleep_at = Some(at);
                    }
                    if self.sleep.as_mut().poll(cx).is_ready() {
                        self.sleep_at = None;
                        progressed = true;
                    }
                }
                None => self.sleep_at = None,
            }
            if self.events.is_empty() && !progressed {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn connection_count(&self) -> Option<usize> {
        Some(self.conns.len())
    }

    fn rtt(&self, conn: ConnId) -> Option<std::time::Duration> {
        self.conns.get(&conn).and_then(Conn::rtt)
    }
}

/// What finds a connection without scanning them all: the local ICE ufrag
/// of each (STUN checks name it), and when each wants its next timeout
/// (ordered, so the node's next deadline is the first entry).
#[derive(Default)]
struct ConnIndex {
    by_ufrag: HashMap<String, ConnId>,
    ufrag_of: HashMap<ConnId, String>,
    timers: BTreeSet<(Instant, ConnId)>,
    timer_of: HashMap<ConnId, Instant>,
}

impl ConnIndex {
    /// The local ufrag of a new `Rtc`, made unique among this node's
    /// connections (str0m draws 16 random characters: a clash is
    /// practically impossible, but two connections must never share one).
    fn unique_ufrag(&self, rtc: &mut Rtc) -> String {
        let mut api = rtc.direct_api();
        let mut ufrag = api.local_ice_credentials().ufrag;
        while self.by_ufrag.contains_key(&ufrag) {
            let creds = IceCreds::new();
            ufrag = creds.ufrag.clone();
            api.set_local_ice_credentials(creds);
        }
        ufrag
    }

    fn insert(&mut self, conn: ConnId, ufrag: String) {
        self.by_ufrag.insert(ufrag.clone(), conn);
        self.ufrag_of.insert(conn, ufrag);
    }

    fn remove(&mut self, conn: ConnId) {
        if let Some(u) = self.ufrag_of.remove(&conn) {
            self.by_ufrag.remove(&u);
        }
        if let Some(at) = self.timer_of.remove(&conn) {
            self.timers.remove(&(at, conn));
        }
    }

    /// `conn` wants a timeout at `at` (replaces its previous one).
    fn schedule(&mut self, conn: ConnId, at: Instant) {
        match self.timer_of.insert(conn, at) {
            Some(old) if old == at => return,
            Some(old) => {
                self.timers.remove(&(old, conn));
            }
            None => {}
        }
        self.timers.insert((at, conn));
    }

    /// The connections whose timeout is due at `now`.
    fn due(&self, now: Instant) -> Vec<ConnId> {
        self.timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, c)| *c)
            .collect()
    }

    /// The earliest timeout of any connection.
    fn next(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }
}

/// DTLS records start with a content type in 20..=63 (RFC 7983).
fn is_dtls(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63))
}

/// A DTLS application-data record (content type 23): SCTP, so frames.
fn is_application_data(datagram: &[u8]) -> bool {
    datagram.first() == Some(&23)
}

/// The local ufrag a STUN Binding request is for: the part of its
/// USERNAME attribute before the colon (RFC 8445 7.2.2). `None` for
/// anything else or anything malformed.
fn stun_request_ufrag(data: &[u8]) -> Option<&str> {
    const BINDING_REQUEST: [u8; 2] = [0x00, 0x01];
    const USERNAME: u16 = 0x0006;
    let header = data.get(..20)?;
    if header.get(..2)? != BINDING_REQUEST || header.get(4..8)? != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*header.get(2)?, *header.get(3)?]));
    let mut rest = data.get(20..20 + len)?;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?;
        if kind == USERNAME {
            let user = std::str::from_utf8(value).ok()?;
            return user.split(':').next();
        }
        rest = rest.get(4 + ((len + 3) & !3)..)?;
    }
    None
}

/// Errors a UDP socket reports for one datagram (ICMP feedback on Linux
/// and others), not for the socket.
fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    ) || e.raw_os_error().is_some_and(
        |code| code == 113 /* EHOSTUNREACH */ || code == 101, /* ENETUNREACH */
    )
}

fn make_socket(config: &RtcConfig) -> Result<StdUdpSocket, BindError> {
    let addr = SocketAddr::new(config.bind_ip, config.port);
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(SockProtocol::UDP),
    )?;
    if let Err(e) = socket.set_recv_buffer_size(config.recv_buffer_bytes) {
        tracing::warn!(error = %e, bytes = config.recv_buffer_bytes, "could not set the socket receive buffer");
    }
    // Linux caps the request at net.core.rmem_max (and reports double).
    if let Ok(got) = socket.recv_buffer_size() {
        if got < config.recv_buffer_bytes {
            tracing::warn!(
                asked = config.recv_buffer_bytes,
                got,
                "socket receive buffer capped by the system (raise net.core.rmem_max)"
            );
        }
    }
    if let Err(e) = socket.set_send_buffer_size(config.send_buffer_bytes) {
        tracing::warn!(error = %e, bytes = config.send_buffer_bytes, "could not set the socket send buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::stun_request_ufrag;

    fn request(kind: [u8; 2], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend(t.to_be_bytes());
            body.extend(u16::try_from(v.len()).unwrap_or(0).to_be_bytes());
            body.extend(*v);
            body.resize((body.len() + 3) & !3, 0);
        }
        let mut d = kind.to_vec();
        d.extend(u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
        d.extend([0x21, 0x12, 0xa4, 0x42]);
        d.extend([1u8; 12]);
        d.extend(body);
        d
    }

    #[test]
    fn the_local_ufrag_of_a_binding_request() {
        let d = request(
            [0, 1],
            &[
                (0x8022, b"soft"),
                (0x0006, b"abcd:efgh"),
                (0x0008, &[0; 20]),
            ],
        );
        assert_eq!(stun_request_ufrag(&d), Some("abcd"));
        // Not a request, no USERNAME, bad cookie, cut short.
        assert_eq!(stun_request_ufrag(&request([1, 1], &[(6, b"a:b")])), None);
        assert_eq!(
            stun_request_ufrag(&request([0, 1], &[(0x8022, b"x")])),
            None
        );
        let mut bad = d.clone();
        bad[4] = 0;
        assert_eq!(stun_request_ufrag(&bad), None);
        for cut in 0..d.len() {
            assert_eq!(stun_request_ufrag(&d[..cut]), None, "cut at {cut}");
        }
    }
}
