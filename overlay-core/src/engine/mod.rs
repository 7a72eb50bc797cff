//! The sans-IO overlay engine.
//!
//! [`Engine`] holds one node's whole overlay state: connection tables
//! (pending / living / dying), arcs per protocol, bridge relays and the
//! operations in flight. It does no I/O and reads no clock: every input
//! carries `now`, and the outputs are pulled:
//!
//! - [`Engine::poll_transport`]: commands for the [`crate::Transport`];
//! - [`Engine::poll_output`]: events for the application ([`Output`]);
//! - [`Engine::poll_timeout`]: when to call [`Engine::handle_timeout`].
//!
//! After every input, drain both queues and re-read the deadline.

mod frames;
mod handshake;
mod ops;
mod signer;
mod table;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::Config;
use crate::connection::{ArcRequest, Conn, ConnState, ConnStats, ConnectionInfo, Via, Waiter};
use crate::error::{ArcError, SendError};
use crate::event::{ArcCloseReason, ConnectFailure, Direction, Event, Limit, Output};
use crate::id::{ConnId, HandshakeId, Keypair, OpId, PeerId, ProtocolId, RequestId};
use crate::transport::{CloseReason, Role, TransportCommand, TransportEvent};
use crate::wire::{Frame, MessageFrames};

pub(crate) use handshake::{EarlyHello, SeqSet};
pub use ops::{DropReason, SignalError};
use table::ConnTable;
pub use timers::TimeoutReason;
use timers::{Deadlines, TimerKey};

/// Counters of a whole engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Handshakes started as initiator.
    pub handshakes_started: u64,
    /// Handshakes accepted.
    pub handshakes_accepted: u64,
    /// Connections that reached the living table.
    pub connections_opened: u64,
    /// Pending entries dropped at their timeout.
    pub pending_timeouts: u64,
    /// Dying connections closed at their timeout.
    pub dying_closed: u64,
    /// Dying connections revived by a new arc.
    pub revived: u64,
    /// Arcs not opened on a dying connection because its dying timeout was
    /// too close (the last tenth): the remote may close it before the
    /// arc's `ArcAdd` reaches it. The connect fails with
    /// [`ConnectFailure::ConnectionLost`]; nothing was opened.
    pub dying_refused: u64,
    /// Handshakes abandoned or refused by the glare rule.
    pub glare_resolved: u64,
    /// Arc requests that joined a handshake already in progress.
    pub coalesced: u64,
    /// Signals (bundles) and refusals relayed for neighbours (as a bridge).
    pub relayed: u64,
    /// Malformed or unexpected frames dropped (all connections).
    pub bad_frames: u64,
    /// Connections closed for sending too many bad frames.
    pub misbehaving_closed: u64,
    /// Signals dropped (unknown handshake, wrong bridge, ...).
    pub dropped_signals: u64,
    /// Transport events for connections the engine no longer knows.
    pub stale_events: u64,
    /// Application messages delivered.
    pub messages_received: u64,
    /// Application messages queued for sending.
    pub messages_sent: u64,
    /// Requests of neighbours refused by a resource limit (reply queue
    /// full, pending handshakes per neighbour, requests waiting on one
    /// handshake, arcs per pair): counted, not held against the sender.
    pub refused_requests: u64,
    /// Split messages dropped because the node's reassembly memory was
    /// exhausted.
    pub dropped_messages: u64,
    /// Connections failed because a `Hello` did not match the handshake,
    /// the peer or this connection's DTLS certificates (a relay in the
    /// middle, or a forged identity).
    pub tampered: u64,
    /// Signals dropped for a bad signature, a wrong destination or an
    /// out-of-range sequence number.
    pub forged_signals: u64,
    /// Signals dropped as replays (a sequence number or an offer already taken).
    pub replayed_signals: u64,
    /// Connections refused because the transport could not bind them to
    /// their DTLS certificates (and unbound connections are not allowed).
    pub unbound_refused: u64,
}

/// The overlay state machine of one node. See the [module docs](self).
pub struct Engine {
    config: Config,
    signer: signer::Signer,
    local: PeerId,
    rng: ChaCha8Rng,
    window: usize,
    conns: ConnTable,
    next_conn: u64,
    next_op: u64,
    next_req: u64,
    ops: BTreeMap<OpId, ops::LocalOp>,
    bridge_waits: BTreeMap<RequestId, ops::BridgeWait>,
    /// Deadlines of pending and dying connections and of bridge waits.
    timers: Deadlines,
    /// What the last [`Engine::handle_timeout`] fired first.
    last_timeout_reason: Option<TimeoutReason>,
    early: VecDeque<ops::EarlySignal>,
    /// Connections holding local signals to sign and send as one bundle,
    /// with the instant the first of them came (in order).
    to_sign: VecDeque<(Instant, ConnId)>,
    /// Bytes buffered by every connection's reassembler.
    reassembly_memory: usize,
    recent_offers: handshake::RecentOffers,
    commands: VecDeque<TransportCommand>,
    outputs: VecDeque<Output>,
    stats: EngineStats,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("local", &self.local)
            .field("connections", &self.conns.len())
            .field("operations", &self.ops.len())
            .field("bridge_waits", &self.bridge_waits.len())
            .field("early_signals", &self.early.len())
            .field("next_timeout", &self.poll_timeout_reason())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The secret key of an engine's replay memory, drawn from its seed
/// without taking anything from the handshake-id generator (so a seed
/// gives the same handshake ids as before).
fn replay_key(seed: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    ChaCha8Rng::seed_from_u64(seed ^ 0x7265_706c_6179_6b65).fill_bytes(&mut key);
    key
}

impl Engine {
    /// An engine for the node owning `keypair`. `seed` drives handshake
    /// ids (the simulator seeds it; a node passes OS randomness).
    /// `send_window` is the transport's [`crate::Transport::send_window`].
    pub fn new(config: Config, keypair: Keypair, seed: u64, send_window: usize) -> Self {
        let signer = signer::Signer::new(keypair);
        Engine {
            config,
            local: signer.local(),
            signer,
            rng: ChaCha8Rng::seed_from_u64(seed),
            window: send_window.max(1),
            conns: ConnTable::default(),
            next_conn: 1,
            next_op: 1,
            next_req: 1,
            ops: BTreeMap::new(),
            bridge_waits: BTreeMap::new(),
            timers: Deadlines::default(),
            last_timeout_reason: None,
            early: VecDeque::new(),
            to_sign: VecDeque::new(),
            reassembly_memory: 0,
            recent_offers: handshake::RecentOffers::new(replay_key(seed)),
            commands: VecDeque::new(),
            outputs: VecDeque::new(),
            stats: EngineStats::default(),
        }
    }

    /// Sign and check with the simulator's stand-in for Ed25519, keyed by
    /// `secret` (see [`crate::sim::Signatures::Simulated`]). Simulator only.
    pub(crate) fn simulate_signatures(&mut self, secret: [u8; 32]) {
        self.signer.simulate(secret);
    }

    // ----- getters -------------------------------------------------------

    /// This node's id.
    pub fn local_id(&self) -> PeerId {
        self.local
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Incoming arcs of `protocol`: peer -> multiplicity.
    pub fn inview(&self, protocol: &ProtocolId) -> BTreeMap<PeerId, u32> {
        self.view(protocol, Direction::In)
    }

    /// Outgoing arcs of `protocol`: peer -> multiplicity.
    pub fn outview(&self, protocol: &ProtocolId) -> BTreeMap<PeerId, u32> {
        self.view(protocol, Direction::Out)
    }

    fn view(&self, protocol: &ProtocolId, dir: Direction) -> BTreeMap<PeerId, u32> {
        let mut v = BTreeMap::new();
        for c in self.conns.values().filter(|c| c.state.is_established()) {
            let Some(peer) = c.peer else { continue };
            let a = c.arcs_of(protocol);
            let n = if dir == Direction::Out {
                a.out
            } else {
                a.incoming
            };
            if n > 0 {
                v.insert(peer, n);
            }
        }
        v
    }

    /// Peers with an established (living or dying) connection.
    pub fn neighbours(&self) -> BTreeSet<PeerId> {
        self.conns
            .values()
            .filter(|c| c.state.is_established())
            .filter_map(|c| c.peer)
            .collect()
    }

    /// Every connection, in every table.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.conns
            .values()
            .map(|c| ConnectionInfo {
                conn: c.id,
                peer: c.peer,
                state: c.state,
                role: c.role,
                via: c.via,
                arcs: c.arcs.iter().map(|(p, a)| (*p, *a)).collect(),
                queued_bytes: c.outbox.app_bytes(),
                control_memory: c.outbox.control_memory(),
                stats: ConnStats {
                    frames_sent: c.outbox.frames_sent,
                    bytes_sent: c.outbox.bytes_sent,
                    ..c.stats
                },
                rtt: None,
                deadline: (c.state != ConnState::Living).then_some(c.deadline),
            })
            .collect()
    }

    /// The state of the connection to `peer`, if any.
    pub fn connection_state(&self, peer: &PeerId) -> Option<ConnState> {
        self.conns
            .by_peer(peer)
            .and_then(|id| self.conns.get(&id))
            .map(|c| c.state)
    }

    /// Bytes held by split messages being reassembled, all connections
    /// (bounded by [`Config::max_reassembly_memory`]).
    pub fn reassembly_memory(&self) -> usize {
        self.reassembly_memory
    }

    /// Operations still in flight.
    pub fn operations_in_flight(&self) -> usize {
        self.ops.len()
    }

    /// `ConnectTo` requests this node sent as a bridge and waits on.
    pub fn bridge_waits(&self) -> usize {
        self.bridge_waits.len()
    }

    /// Signals kept for handshakes not known yet.
    pub fn early_signals(&self) -> usize {
        self.early.len()
    }

    // ----- outputs -------------------------------------------------------

    /// Next command for the transport.
    #[must_use]
    pub fn poll_transport(&mut self) -> Option<TransportCommand> {
        self.commands.pop_front()
    }

    /// Next output for the application.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Engine::handle_timeout`] must be called next. O(log n):
    /// deadlines are kept sorted.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.poll_timeout_reason().map(|(t, _)| t)
    }

    /// The next deadline and why (the earliest of the timers; on a tie,
    /// the first in [`TimeoutReason`]'s order).
    #[must_use]
    pub fn poll_timeout_reason(&self) -> Option<(Instant, TimeoutReason)> {
        let bundles = self
            .to_sign
            .front()
            .map(|(t, _)| (*t, TimeoutReason::SignalBundle));
        let timers = self.timers.first().map(|(t, key)| {
            let reason = match key {
                TimerKey::Conn(id) => match self.conns.get(&id).map(|c| c.state) {
                    Some(ConnState::Dying) => TimeoutReason::DyingTimeout,
                    _ => TimeoutReason::PendingTimeout,
                },
                TimerKey::BridgeWait(_) => TimeoutReason::BridgeWait,
            };
            (t, reason)
        });
        let early = self
            .early
            .front()
            .map(|e| (e.expires, TimeoutReason::EarlySignals));
        [bundles, timers, early]
            .into_iter()
            .flatten()
            .min_by_key(|(t, r)| (*t, *r))
    }

    /// What the last [`Engine::handle_timeout`] handled first (`None` if
    /// nothing was due): why the node woke up.
    pub fn last_timeout_reason(&self) -> Option<TimeoutReason> {
        self.last_timeout_reason
    }

    // ----- inputs --------------------------------------------------------

    /// Feed one transport event.
    pub fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        let conn = event.conn();
        if !self.conns.contains_key(&conn) {
            self.stats.stale_events += 1;
            tracing::trace!(%conn, "event for a connection no longer known");
            return;
        }
        match event {
            TransportEvent::Signal { conn, signal } => self.route_local_signal(now, conn, signal),
            TransportEvent::Opened { conn, binding } => self.on_opened(now, conn, binding),
            TransportEvent::Frame { conn, frame } => self.on_frame(now, conn, frame),
            TransportEvent::Sent { conn, bytes } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.outbox.on_sent(bytes);
                }
                self.pump(conn);
            }
            TransportEvent::Closed { conn, reason } => self.on_closed(now, conn, reason),
        }
    }

    /// Handle every deadline at or before `now`. Touches only the timers
    /// that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_timeout_reason = self
            .poll_timeout_reason()
            .filter(|(t, _)| *t <= now)
            .map(|(_, r)| r);
        if let Some(reason) = self.last_timeout_reason {
            tracing::trace!(?reason, "timer fired");
        }
        while self.to_sign.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, id)) = self.to_sign.pop_front() {
                self.send_bundle(now, id);
            }
        }
        // Connections first (in id order), then bridge waits, as due now.
        let due = self.timers.due(now);
        let mut expired: Vec<ConnId> = Vec::new();
        let mut waits: Vec<RequestId> = Vec::new();
        for key in due {
            match key {
                TimerKey::Conn(id) => expired.push(id),
                TimerKey::BridgeWait(req) => waits.push(req),
            }
        }
        expired.sort_unstable();
        waits.sort_unstable();
        for id in expired {
            // Still due (handling another may have moved or dropped it)?
            if self.timers.get(TimerKey::Conn(id)).is_none_or(|t| t > now) {
                continue;
            }
            let Some(state) = self.conns.get(&id).map(|c| c.state) else {
                continue;
            };
            if state == ConnState::Dying {
                tracing::debug!(conn = %id, "dying connection closed at its timeout");
                self.stats.dying_closed += 1;
                self.drop_conn(id, true);
            } else {
                tracing::debug!(conn = %id, "pending connection timed out");
                self.stats.pending_timeouts += 1;
                self.fail_conn(now, id, ConnectFailure::Timeout, true);
            }
        }
        for req in waits {
            if self
                .bridge_waits
                .get(&req)
                .is_some_and(|w| w.deadline <= now)
            {
                if let Some(w) = self.remove_bridge_wait(req) {
                    self.part_done(w.op, Err(ConnectFailure::Timeout), None);
                }
            }
        }
        while self.early.front().is_some_and(|e| e.expires <= now) {
            self.early.pop_front();
            self.stats.dropped_signals += 1;
        }
    }

    // ----- commands: messages and arcs -----------------------------------

    /// Queue `payload` to `peer` for `protocol`. `peer` must share an arc
    /// of `protocol` with this node (either direction).
    ///
    /// # Errors
    /// [`SendError::NotNeighbour`], [`SendError::TooLarge`], or
    /// [`SendError::Full`] when the connection's queue is full (retry after
    /// [`Output::Writable`]).
    pub fn send(
        &mut self,
        _now: Instant,
        protocol: ProtocolId,
        peer: PeerId,
        payload: Bytes,
    ) -> Result<(), SendError> {
        if payload.len() > self.config.max_message_size {
            return Err(SendError::TooLarge {
                size: payload.len(),
                limit: self.config.max_message_size,
            });
        }
        let max_frame = self.config.max_frame_size;
        let limit = self.config.send_queue_limit;
        let id = self
            .established(&peer)
            .ok_or(SendError::NotNeighbour { peer, protocol })?;
        let Some(c) = self.conns.get_mut(&id) else {
            return Err(SendError::NotNeighbour { peer, protocol });
        };
        let a = c.arcs_of(&protocol);
        if a.out == 0 && a.incoming == 0 {
            return Err(SendError::NotNeighbour { peer, protocol });
        }
        if c.outbox.app_bytes() > 0 && c.outbox.app_bytes() + payload.len() > limit {
            c.outbox.blocked = true;
            return Err(SendError::Full(peer));
        }
        for frame in MessageFrames::new(protocol, payload, max_frame) {
            c.outbox.push_app(frame);
        }
        self.stats.messages_sent += 1;
        self.pump(id);
        Ok(())
    }

    /// Whether a message of `len` bytes to `peer` would be queued now.
    pub fn can_send(&self, peer: &PeerId, len: usize) -> bool {
        self.established(peer)
            .and_then(|id| self.conns.get(&id))
            .is_some_and(|c| {
                c.outbox.app_bytes() == 0
                    || c.outbox.app_bytes() + len <= self.config.send_queue_limit
            })
    }

    /// Remove one (unpinned) arc `self -> peer` of `protocol`. The remote's
    /// inview follows; a connection left with no arc goes to dying.
    ///
    /// # Errors
    /// [`ArcError::NoArc`] or [`ArcError::Pinned`].
    pub fn disconnect(
        &mut self,
        now: Instant,
        protocol: ProtocolId,
        peer: PeerId,
    ) -> Result<(), ArcError> {
        let id = self
            .established(&peer)
            .ok_or(ArcError::NoArc { peer, protocol })?;
        let Some(c) = self.conns.get_mut(&id) else {
            return Err(ArcError::NoArc { peer, protocol });
        };
        let a = c.arcs_of(&protocol);
        if a.out == 0 {
            return Err(ArcError::NoArc { peer, protocol });
        }
        let Some(left) = c.arcs.remove_out_unpinned(&protocol) else {
            return Err(ArcError::Pinned { peer, protocol });
        };
        c.outbox
            .push_control(Frame::ArcRemove { protocol, count: 1 }.encode());
        self.emit(
            protocol,
            Event::ArcClosed {
                peer,
                direction: Direction::Out,
                reason: ArcCloseReason::Removed,
                count: left,
            },
        );
        self.pump(id);
        self.maybe_dying(now, id);
        Ok(())
    }

    /// Remove every unpinned outgoing arc of `protocol`; how many.
    pub fn disconnect_all(&mut self, now: Instant, protocol: ProtocolId) -> u32 {
        let mut removed = 0;
        for (peer, n) in self.outview(&protocol) {
            for _ in 0..n {
                if self.disconnect(now, protocol, peer).is_err() {
                    break;
                }
                removed += 1;
            }
        }
        removed
    }

    /// Pin one outgoing arc to `peer`: it cannot be removed until unpinned.
    ///
    /// # Errors
    /// [`ArcError::NoArc`] if every arc is already pinned or none exists.
    pub fn pin(&mut self, protocol: ProtocolId, peer: PeerId) -> Result<(), ArcError> {
        let c = self
            .established(&peer)
            .and_then(|id| self.conns.get_mut(&id));
        if c.is_some_and(|c| c.arcs.pin(&protocol)) {
            Ok(())
        } else {
            Err(ArcError::NoArc { peer, protocol })
        }
    }

    /// Unpin one pinned arc to `peer`.
    ///
    /// # Errors
    /// [`ArcError::NotPinned`].
    pub fn unpin(&mut self, protocol: ProtocolId, peer: PeerId) -> Result<(), ArcError> {
        let c = self
            .established(&peer)
            .and_then(|id| self.conns.get_mut(&id));
        if c.is_some_and(|c| c.arcs.unpin(&protocol)) {
            Ok(())
        } else {
            Err(ArcError::NotPinned { peer, protocol })
        }
    }

    /// Close everything: every arc closes with [`ArcCloseReason::Shutdown`],
    /// every operation fails with [`ConnectFailure::Shutdown`].
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let established = self
                .conns
                .get(&id)
                .is_some_and(|c| c.state.is_established());
            if established {
                self.close_arcs(id, &ArcCloseReason::Shutdown);
                self.drop_conn(id, true);
            } else {
                self.fail_conn(now, id, ConnectFailure::Shutdown, true);
            }
        }
        for op in std::mem::take(&mut self.ops).into_keys() {
            let result = Err(ConnectFailure::Shutdown);
            self.outputs
                .push_back(Output::Completed(crate::event::Completion {
                    op,
                    result,
                    remote: None,
                }));
        }
        self.bridge_waits.clear();
        self.timers.clear_all();
        self.early.clear();
        self.to_sign.clear();
    }

    // ----- internals shared by the submodules ----------------------------

    /// Forget a bridge wait and its deadline.
    fn remove_bridge_wait(&mut self, req: RequestId) -> Option<ops::BridgeWait> {
        self.timers.clear(TimerKey::BridgeWait(req));
        self.bridge_waits.remove(&req)
    }

    fn emit(&mut self, protocol: ProtocolId, event: Event) {
        self.outputs.push_back(Output::Event { protocol, event });
    }

    /// The established connection to `peer`.
    fn established(&self, peer: &PeerId) -> Option<ConnId> {
        let id = self.conns.by_peer(peer)?;
        self.conns
            .get(&id)
            .filter(|c| c.state.is_established())
            .map(|c| c.id)
    }

    fn pump(&mut self, id: ConnId) {
        let window = self.window;
        let limit = self.config.send_queue_limit;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.state.is_pending() && c.state != ConnState::Opened {
            return;
        }
        c.outbox.pump(id, window, &mut self.commands);
        if c.outbox.blocked && c.outbox.app_bytes() < limit / 2 + 1 {
            c.outbox.blocked = false;
            if let Some(peer) = c.peer {
                self.outputs.push_back(Output::Writable { peer });
            }
        }
    }

    fn send_control(&mut self, id: ConnId, frame: Frame) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.outbox.push_control(frame.encode());
        }
        self.pump(id);
    }

    fn new_conn(
        &mut self,
        now: Instant,
        peer: Option<PeerId>,
        handshake: HandshakeId,
        role: Role,
        via: Via,
        envelope_protocol: ProtocolId,
    ) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let conn = Conn::new(
            id,
            peer,
            handshake,
            role,
            via,
            envelope_protocol,
            now,
            now + self.config.pending_timeout,
            self.config.max_message_size,
        );
        self.timers
            .set(TimerKey::Conn(id), now + self.config.pending_timeout);
        self.conns.insert(conn);
        self.commands
            .push_back(TransportCommand::Open { conn: id, role });
        id
    }

    fn random_handshake(&mut self) -> HandshakeId {
        loop {
            let h = HandshakeId(self.rng.next_u64());
            if self.conns.by_handshake(&h).is_none() {
                return h;
            }
        }
    }

    fn pending_count(&self) -> usize {
        self.conns.pending()
    }

    /// Pending handshakes opened on behalf of neighbour `bridge` (its
    /// `ConnectTo` requests and the offers it relayed).
    fn pending_via(&self, bridge: PeerId) -> usize {
        self.conns.pending_via(&bridge)
    }

    /// Whether `count` more outgoing arcs of `protocol` fit on `id`.
    fn arc_room(&self, id: ConnId, protocol: &ProtocolId, count: u32) -> bool {
        self.conns.get(&id).is_some_and(|c| {
            c.arcs.room_for(
                protocol,
                true,
                count,
                self.config.max_arcs_per_pair,
                self.config.max_protocols_per_connection,
            )
        })
    }

    /// Whether one more request of `count` arcs may wait on pending `id`.
    fn coalesce_room(&self, id: ConnId, protocol: &ProtocolId, count: u32) -> bool {
        self.conns.get(&id).is_some_and(|c| {
            let asked: u64 = c
                .wants
                .iter()
                .filter(|w| w.protocol == *protocol)
                .map(|w| u64::from(w.count))
                .sum();
            let mut protocols: Vec<&ProtocolId> = c.wants.iter().map(|w| &w.protocol).collect();
            protocols.push(protocol);
            protocols.sort();
            protocols.dedup();
            c.wants.len() < self.config.max_coalesced
                && asked + u64::from(count) <= u64::from(self.config.max_arcs_per_pair)
                && protocols.len() <= self.config.max_protocols_per_connection
        })
    }

    /// Refuse `request` for a resource limit (counted).
    fn refuse(&mut self, request: ArcRequest, peer: PeerId, limit: Limit) {
        self.stats.refused_requests += 1;
        tracing::debug!(peer = %peer.short(), %limit, "arc request refused by a limit");
        self.resolve_request(
            request,
            Some(peer),
            Err(ConnectFailure::LimitReached(limit)),
        );
    }

    /// Remove a connection from every table; close its transport if asked.
    fn drop_conn(&mut self, id: ConnId, close_transport: bool) -> Option<Conn> {
        let c = self.conns.remove(&id)?;
        self.timers.clear(TimerKey::Conn(id));
        self.reassembly_memory = self
            .reassembly_memory
            .saturating_sub(c.reassembler.buffered());
        if c.via == Via::OutOfBand && c.state.is_pending() {
            self.outputs.push_back(Output::HandshakeEnded {
                handshake: c.handshake,
            });
        }
        if close_transport {
            self.commands
                .push_back(TransportCommand::Close { conn: id });
        }
        Some(c)
    }

    /// A pending connection failed: every waiter learns why.
    fn fail_conn(&mut self, _now: Instant, id: ConnId, why: ConnectFailure, close_transport: bool) {
        let Some(c) = self.drop_conn(id, close_transport) else {
            return;
        };
        for w in c.wants {
            self.resolve_request(w, c.peer, Err(why.clone()));
        }
    }

    /// Close every arc of an established connection (it is going away).
    fn close_arcs(&mut self, id: ConnId, reason: &ArcCloseReason) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(peer) = c.peer else { return };
        let arcs = c.arcs.drain();
        for (protocol, a) in arcs {
            for (dir, n) in [(Direction::Out, a.out), (Direction::In, a.incoming)] {
                // One event per change of count, however many arcs go.
                if n > 0 {
                    self.emit(
                        protocol,
                        Event::ArcClosed {
                            peer,
                            direction: dir,
                            reason: reason.clone(),
                            count: 0,
                        },
                    );
                }
            }
        }
    }

    /// Move an established connection with no arc left to dying.
    fn maybe_dying(&mut self, now: Instant, id: ConnId) {
        let dying = self.config.dying_timeout;
        if let Some(c) = self.conns.get_mut(&id) {
            if c.state == ConnState::Living && c.arcs.is_empty() {
                tracing::debug!(conn = %id, "no arc left: dying");
                c.state = ConnState::Dying;
                c.deadline = now + dying;
                self.timers.set(TimerKey::Conn(id), now + dying);
            }
        }
    }

    /// Whether `id` is dying and its timeout is in the last tenth of the
    /// dying period. The remote's dying deadline differs from ours by about
    /// one link latency (each side's is set when it sees the last arc go),
    /// so an `ArcAdd` sent this late could reach the remote after it closed
    /// the connection, and the arc, reported open here, would be lost with
    /// `ConnectionClosed`. Sent earlier (more than twice the one-way
    /// latency before the deadline, 6 s with the default 60 s timeout), it
    /// revives both sides.
    fn closing_soon(&self, now: Instant, id: ConnId) -> bool {
        let margin = self.config.dying_timeout / 10;
        self.conns.get(&id).is_some_and(|c| {
            c.state == ConnState::Dying && c.deadline.saturating_duration_since(now) < margin
        })
    }

    /// An arc was added on an established connection: revive if dying.
    fn revive(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            if c.state == ConnState::Dying {
                tracing::debug!(conn = %id, "revived from dying");
                c.state = ConnState::Living;
                self.timers.clear(TimerKey::Conn(id));
                self.stats.revived += 1;
            }
        }
    }

    /// Open `count` arcs `self -> peer` on an existing connection, or
    /// queue them on its handshake, or start one (`via` given).
    fn open_arcs(
        &mut self,
        now: Instant,
        protocol: ProtocolId,
        peer: PeerId,
        count: u32,
        waiter: Waiter,
        via: Option<Via>,
    ) {
        let request = ArcRequest {
            protocol,
            count,
            waiter,
        };
        if let Some(id) = self.conns.by_peer(&peer) {
            let state = self.conns.get(&id).map(|c| c.state);
            match state {
                Some(s) if s.is_established() => {
                    if self.closing_soon(now, id) {
                        self.stats.dying_refused += 1;
                        tracing::debug!(peer = %peer.short(), "connection about to close at its dying timeout: arc not opened");
                        self.resolve_request(
                            request,
                            Some(peer),
                            Err(ConnectFailure::ConnectionLost),
                        );
                        return;
                    }
                    if !self.arc_room(id, &protocol, count) {
                        self.refuse(request, peer, Limit::ArcsOrProtocols);
                        return;
                    }
                    self.revive(id);
                    let Some(c) = self.conns.get_mut(&id) else {
                        return;
                    };
                    let n = c.arcs.add_out(protocol, count);
                    c.outbox
                        .push_control(Frame::ArcAdd { protocol, count }.encode());
                    self.emit(
                        protocol,
                        Event::ArcOpened {
                            peer,
                            direction: Direction::Out,
                            count: n,
                        },
                    );
                    self.pump(id);
                    self.resolve_request(request, Some(peer), Ok(()));
                    return;
                }
                Some(_) => {
                    if !self.coalesce_room(id, &protocol, count) {
                        self.refuse(request, peer, Limit::Coalesced);
                        return;
                    }
                    self.stats.coalesced += 1;
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.wants.push(request);
                        if c.hello_sent {
                            // Our Hello already left, announcing the arcs asked
                            // before it: announce these after it.
                            c.outbox
                                .push_control(Frame::ArcAdd { protocol, count }.encode());
                        }
                    }
                    self.pump(id);
                    return;
                }
                None => {}
            }
        }
        let Some(via) = via else {
            self.resolve_request(
                request,
                Some(peer),
                Err(ConnectFailure::Remote(
                    crate::event::BridgeFailure::NotNeighbour,
                )),
            );
            return;
        };
        if self.pending_count() >= self.config.max_pending {
            self.resolve_request(
                request,
                Some(peer),
                Err(ConnectFailure::Remote(crate::event::BridgeFailure::Busy)),
            );
            return;
        }
        if count > self.config.max_arcs_per_pair {
            self.refuse(request, peer, Limit::ArcsPerPair);
            return;
        }
        if let Via::Bridge(bridge) = via {
            if self.pending_via(bridge) >= self.config.max_pending_per_neighbour {
                self.refuse(request, peer, Limit::PendingPerNeighbour);
                return;
            }
        }
        let h = self.random_handshake();
        self.stats.handshakes_started += 1;
        let id = self.new_conn(now, Some(peer), h, Role::Initiator, via, protocol);
        if let Some(c) = self.conns.get_mut(&id) {
            c.wants.push(request);
        }
        tracing::debug!(peer = %peer.short(), handshake = %h, ?via, "handshake started");
    }

    /// Tell whoever waits on `request` how it ended.
    fn resolve_request(
        &mut self,
        request: ArcRequest,
        peer: Option<PeerId>,
        result: Result<(), ConnectFailure>,
    ) {
        match request.waiter {
            Waiter::Local(op) => {
                if let Err(why) = &result {
                    self.emit(
                        request.protocol,
                        Event::ConnectFailed {
                            peer,
                            reason: why.clone(),
                        },
                    );
                }
                self.part_done(op, result, peer);
            }
            Waiter::Remote { bridge, req } => {
                if let Err(why) = &result {
                    self.emit(
                        request.protocol,
                        Event::ConnectFailed {
                            peer,
                            reason: why.clone(),
                        },
                    );
                }
                if let Some(id) = self.established(&bridge) {
                    let failure = result.as_ref().err().map(crate::event::BridgeFailure::from);
                    self.send_control(id, Frame::ConnectDone { req, failure });
                }
            }
        }
    }

    fn on_closed(&mut self, now: Instant, id: ConnId, reason: CloseReason) {
        let Some(c) = self.conns.get(&id) else { return };
        // A handshake running beside a connection with the same peer says
        // nothing about that connection: the neighbour is not gone.
        let peer = c.peer.filter(|_| !c.replaces);
        tracing::debug!(conn = %id, %reason, state = ?c.state, "transport closed");
        if c.state.is_established() {
            let arc_reason = match &reason {
                CloseReason::Remote => ArcCloseReason::ConnectionClosed,
                CloseReason::TimedOut => ArcCloseReason::TimedOut,
                CloseReason::Failed(why) => ArcCloseReason::ConnectionLost(why.clone()),
            };
            self.close_arcs(id, &arc_reason);
            self.drop_conn(id, false);
        } else {
            let why = match reason {
                CloseReason::Failed(why) => ConnectFailure::Transport(why),
                CloseReason::Remote | CloseReason::TimedOut => ConnectFailure::ConnectionLost,
            };
            self.fail_conn(now, id, why, false);
        }
        if let Some(p) = peer {
            self.peer_gone(now, p);
        }
    }

    /// A neighbour is gone: handshakes it bridged and requests it carried fail.
    fn peer_gone(&mut self, now: Instant, peer: PeerId) {
        let bridged: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| c.state == ConnState::Handshaking && c.via == Via::Bridge(peer))
            .map(|c| c.id)
            .collect();
        for id in bridged {
            let why = ConnectFailure::BridgeFailed {
                bridge: peer,
                why: crate::event::BridgeFailure::ConnectionLost,
            };
            self.fail_conn(now, id, why, true);
        }
        let waits: Vec<RequestId> = self
            .bridge_waits
            .iter()
            .filter(|(_, w)| w.from == peer)
            .map(|(r, _)| *r)
            .collect();
        for req in waits {
            if let Some(w) = self.remove_bridge_wait(req) {
                self.part_done(w.op, Err(ConnectFailure::ConnectionLost), None);
            }
        }
    }
}
