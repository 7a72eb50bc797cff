//! Handshakes: moving signals (out-of-band or through a bridge), checking
//! their signatures, accepting offers, the glare rule, and the
//! channel-bound `Hello` that makes a connection living.
//!
//! Security rules (`docs/WIRE.md`, `SECURITY.md`): a signal acts only once
//! its origin's signature, its destination and its freshness checked out;
//! an offer never tears down an established connection: the handshake it
//! starts runs beside it and replaces it only when its `Hello` (bound to
//! the new DTLS session) checks out.

use std::time::Instant;

use sha2::{Digest, Sha256};

use super::ops::{DropReason, EarlySignal};
use super::Engine;
use crate::connection::{ConnState, Via};
use crate::event::{ArcCloseReason, BridgeFailure, ConnectFailure, Direction, Event, Output};
use crate::id::{ConnId, HandshakeId, PeerId, ProtocolId};
use crate::signal::{Signal, SignalEnvelope, SignedSignal, MAX_BUNDLE, MAX_SIGNAL_SEQ};
use crate::transport::{ChannelBinding, Fingerprint, Role, TransportCommand};
use crate::wire::{hello_transcript, Frame};

/// Sequence numbers of one origin's signals already taken for a handshake
/// (0..=[`MAX_SIGNAL_SEQ`]), a 256-bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SeqSet([u64; 4]);

impl SeqSet {
    /// Add `seq`; false if it was there already (a replay) or is out of range.
    pub(crate) fn insert(&mut self, seq: u32) -> bool {
        if seq > MAX_SIGNAL_SEQ {
            return false;
        }
        let (w, b) = ((seq / 64) as usize, seq % 64);
        let fresh = self.0[w] & (1 << b) == 0;
        self.0[w] |= 1 << b;
        fresh
    }
}

/// Offers this engine accepted lately, by origin and handshake: an offer
/// seen again is a replay. A ring of the last [`RECENT_OFFERS_MAX`]
/// offers, each kept as a 64-bit digest keyed with a per-engine secret
/// (8 bytes an offer, 8 KiB at most; the earlier queue + B-tree of
/// (peer, handshake) pairs took ~100 bytes an offer, which a 100,000-peer
/// simulation paid 100,000 times). Two different offers share a digest
/// with probability 2⁻⁶⁴ per pair, and a remote cannot aim for it
/// without the key: such a collision would refuse one honest offer as a
/// replay, never accept a replay.
pub(crate) struct RecentOffers {
    key: [u8; 16],
    ring: Vec<u64>,
    next: usize,
}

/// How many accepted offers the replay memory holds.
pub(crate) const RECENT_OFFERS_MAX: usize = 1024;

impl RecentOffers {
    /// An empty memory whose digests are keyed with `key` (secret: drawn
    /// from the engine's seed, which a node takes from OS randomness).
    pub(crate) fn new(key: [u8; 16]) -> Self {
        RecentOffers {
            key,
            ring: Vec::new(),
            next: 0,
        }
    }

    fn digest(&self, origin: &PeerId, h: HandshakeId) -> u64 {
        let mut d = Sha256::new();
        d.update(self.key);
        d.update(origin.as_bytes());
        d.update(h.0.to_be_bytes());
        let out = d.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&out[..8]);
        u64::from_le_bytes(first)
    }

    pub(crate) fn contains(&self, origin: &PeerId, h: HandshakeId) -> bool {
        let d = self.digest(origin, h);
        self.ring.contains(&d)
    }

    pub(crate) fn insert(&mut self, origin: PeerId, h: HandshakeId) {
        let d = self.digest(&origin, h);
        if self.ring.contains(&d) {
            return;
        }
        if self.ring.len() < RECENT_OFFERS_MAX {
            self.ring.push(d);
        } else {
            self.ring[self.next] = d;
            self.next = (self.next + 1) % RECENT_OFFERS_MAX;
        }
    }

    /// Offers held (at most [`RECENT_OFFERS_MAX`]).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }
}

const ZERO_FINGERPRINT: Fingerprint = Fingerprint([0; 32]);

/// Bytes of a `FORWARD` frame around its signals' JSON (header, handshake,
/// peer, seq, signature), with room to spare.
const BUNDLE_FRAME_OVERHEAD: usize = 128;

/// A `Hello` that arrived before the transport's open event.
#[derive(Debug)]
pub(crate) struct EarlyHello {
    handshake: HandshakeId,
    sender: PeerId,
    signature: [u8; 64],
    arcs: Vec<(ProtocolId, u32)>,
}

/// Who wins when two peers dial each other at once (glare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Glare {
    /// This node's handshake goes on; the remote's offer is dropped.
    OursWins,
    /// The remote's handshake goes on; ours is abandoned and the arcs it
    /// asked for ride the remote's.
    TheirsWins,
}

/// The glare rule, the one decision both sides take alike: the handshake
/// of the lower peer id (bytewise) wins (`docs/WIRE.md`, "Bridged
/// signaling"). Used whichever way the crossing is seen: an offer arriving
/// while our own is out ([`Engine::accept_remote_signal`]), or an answer
/// to our out-of-band offer from a peer whose offer we took meanwhile.
pub(super) fn glare(local: &PeerId, remote: &PeerId) -> Glare {
    if local < remote {
        Glare::OursWins
    } else {
        Glare::TheirsWins
    }
}

/// What became of a signal for a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accepted {
    /// Delivered to (or started) a connection.
    Delivered,
    /// Kept until its handshake's offer arrives.
    Buffered,
    /// Dropped (counted); the reason.
    Dropped(DropReason),
}

impl Engine {
    /// The transport produced a signal for `id`: it waits for the signals
    /// produced with it (at the same instant) and leaves with them as one
    /// bundle under one signature ([`Engine::send_bundle`], at the next
    /// timeout).
    pub(super) fn route_local_signal(&mut self, now: Instant, id: ConnId, signal: Signal) {
        let frame_room = self
            .config
            .max_frame_size
            .saturating_sub(BUNDLE_FRAME_OVERHEAD);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if !c.state.is_pending() {
            tracing::trace!(conn = %id, kind = signal.kind(), "late local signal after open: dropped");
            return;
        }
        // A bundle stays within one frame (JSON escaping at most sextuples
        // a string) and within MAX_BUNDLE signals: else what waits leaves first.
        let cost = |s: &Signal| 6 * s.text_len() + 96;
        let held: usize = c.unsigned.iter().map(cost).sum();
        let full = c.unsigned.len() >= MAX_BUNDLE
            || (!c.unsigned.is_empty() && held + cost(&signal) > frame_room);
        if full {
            self.send_bundle(now, id);
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.unsigned.push(signal);
        if c.unsigned.len() == 1 {
            self.to_sign.push_back((now, id));
        }
    }

    /// Sign the signals `id` holds as one bundle and send it on its way.
    pub(super) fn send_bundle(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let mut signals = std::mem::take(&mut c.unsigned);
        if signals.is_empty() {
            return;
        }
        if !c.state.is_pending() {
            tracing::trace!(conn = %id, n = signals.len(), "late local signals after open: dropped");
            return;
        }
        let handshake = c.handshake;
        let seq = c.signals_sent;
        let room = (MAX_SIGNAL_SEQ + 1).saturating_sub(seq) as usize;
        if signals.len() > room {
            tracing::debug!(conn = %id, dropped = signals.len() - room, "more than 256 signals in one handshake: dropped");
            signals.truncate(room);
        }
        if signals.is_empty() {
            return;
        }
        c.signals_sent += signals.len() as u32;
        let (via, peer, protocol) = (c.via, c.peer, c.envelope_protocol);
        let first = signals.remove(0);
        match (via, peer) {
            (Via::OutOfBand, to) => {
                let signed = SignedSignal::sign_bundle_with(
                    &self.local,
                    |t| self.signer.sign(t),
                    to.as_ref(),
                    handshake,
                    seq,
                    first,
                    signals,
                );
                let env = SignalEnvelope::from_signed(self.local, to, handshake, protocol, signed);
                self.outputs.push_back(Output::Signal(env));
            }
            (Via::Bridge(bridge), Some(to)) => match self.established(&bridge) {
                Some(bid) => {
                    let signal = SignedSignal::sign_bundle_with(
                        &self.local,
                        |t| self.signer.sign(t),
                        Some(&to),
                        handshake,
                        seq,
                        first,
                        signals,
                    );
                    self.send_control(
                        bid,
                        Frame::Forward {
                            handshake,
                            to,
                            signal,
                        },
                    );
                }
                None => {
                    let why = ConnectFailure::BridgeFailed {
                        bridge,
                        why: BridgeFailure::ConnectionLost,
                    };
                    self.fail_conn(now, id, why, true);
                }
            },
            (Via::Bridge(_), None) => {
                self.fail_conn(now, id, ConnectFailure::ProtocolViolation, true);
            }
        }
    }

    /// A signal from `origin` for handshake `h` arrived via `via`, signed
    /// for `destination` (a bridged signal is always for this node: its
    /// caller passes `Some(local)`). Checked in the order `docs/WIRE.md`
    /// gives; nothing changes unless every check passes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accept_remote_signal(
        &mut self,
        now: Instant,
        h: HandshakeId,
        origin: PeerId,
        destination: Option<PeerId>,
        via: Via,
        protocol: ProtocolId,
        signed: SignedSignal,
    ) -> Accepted {
        if origin == self.local {
            self.stats.dropped_signals += 1;
            return Accepted::Dropped(DropReason::FromSelf);
        }
        if signed.last_seq() > MAX_SIGNAL_SEQ || signed.more.len() >= MAX_BUNDLE {
            return self.forged(origin, DropReason::SequenceOutOfRange);
        }
        match (destination, via) {
            (Some(d), _) if d == self.local => {}
            (None, Via::OutOfBand) => {}
            _ => return self.forged(origin, DropReason::Misaddressed),
        }
        let transcript = signed.transcript(&origin, destination.as_ref(), h);
        if !self
            .signer
            .verify(&origin, &transcript, &signed.signature.0)
        {
            return self.forged(origin, DropReason::BadSignature);
        }
        // One signature, checked: the signals act one by one, in order; the
        // rest of a bundle is dropped with the first signal that is.
        let mut result = Accepted::Delivered;
        let SignedSignal {
            seq, signal, more, ..
        } = signed;
        for (seq, signal) in (seq..).zip(std::iter::once(signal).chain(more)) {
            match self.accept_verified(now, h, origin, via, protocol, seq, signal) {
                Accepted::Delivered => {}
                Accepted::Buffered => result = Accepted::Buffered,
                dropped @ Accepted::Dropped(_) => return dropped,
            }
        }
        result
    }

    /// One signal of `origin` whose signature checked out: it starts, feeds
    /// or (glare) abandons a handshake.
    #[allow(clippy::too_many_arguments)]
    fn accept_verified(
        &mut self,
        now: Instant,
        h: HandshakeId,
        origin: PeerId,
        via: Via,
        protocol: ProtocolId,
        seq: u32,
        signal: Signal,
    ) -> Accepted {
        if let Some(id) = self.conns.by_handshake(&h) {
            return self.signal_for_known(id, origin, via, seq, signal);
        }
        if self.recent_offers.contains(&origin, h) {
            self.stats.replayed_signals += 1;
            self.stats.dropped_signals += 1;
            tracing::debug!(peer = %origin.short(), handshake = %h, "signal of a handshake already over: replay dropped");
            return Accepted::Dropped(DropReason::ReplayedHandshake);
        }
        if !matches!(signal, Signal::Offer { .. }) {
            // One source (a bridge neighbour, or an out-of-band origin) may
            // hold an eighth of the buffer, so it cannot evict the others'.
            let source = |v: &Via, o: &PeerId| match v {
                Via::Bridge(b) => *b,
                Via::OutOfBand => *o,
            };
            let mine = source(&via, &origin);
            let share = (self.config.max_early_signals / 8).max(1);
            let held = self
                .early
                .iter()
                .filter(|e| source(&e.via, &e.origin) == mine)
                .count();
            if held >= share {
                self.stats.dropped_signals += 1;
                self.stats.refused_requests += 1;
                return Accepted::Dropped(DropReason::EarlySignalShare);
            }
            if self.early.len() >= self.config.max_early_signals {
                self.early.pop_front();
                self.stats.dropped_signals += 1;
            }
            let expires = now + self.config.pending_timeout;
            self.early.push_back(EarlySignal {
                expires,
                handshake: h,
                origin,
                via,
                seq,
                signal,
            });
            return Accepted::Buffered;
        }
        // A new, authenticated offer. One connection per pair: look at what
        // we have with `origin`.
        let mut inherited = Vec::new();
        // An established connection with `origin` stays until the new one
        // proves itself (its Hello checks out): then it is replaced.
        let mut beside = false;
        if let Some(existing) = self.conns.by_peer(&origin) {
            let Some(c) = self.conns.get(&existing) else {
                return Accepted::Dropped(DropReason::Stale);
            };
            match (c.state, c.role) {
                (s, Role::Initiator) if s.is_pending() => {
                    // Glare: both dial each other. The lower id's handshake wins.
                    self.stats.glare_resolved += 1;
                    if glare(&self.local, &origin) == Glare::OursWins {
                        self.stats.dropped_signals += 1;
                        tracing::debug!(peer = %origin.short(), "glare: our handshake wins, their offer dropped");
                        return Accepted::Dropped(DropReason::GlareOursWins);
                    }
                    tracing::debug!(peer = %origin.short(), "glare: their handshake wins, ours abandoned");
                    if let Some(old) = self.drop_conn(existing, true) {
                        inherited = old.wants;
                    }
                }
                (s, Role::Acceptor) if s.is_pending() => {
                    // The remote restarted its handshake: the newer one replaces it.
                    if let Some(old) = self.drop_conn(existing, true) {
                        inherited = old.wants;
                    }
                }
                _ => {
                    // The remote dials although we hold a connection: its side
                    // may be gone (closed or crashed before we noticed). The
                    // new handshake runs beside ours; ours is replaced only
                    // when the new connection's Hello checks out.
                    tracing::debug!(peer = %origin.short(), "new offer over an established connection: handshake runs beside it");
                    beside = true;
                    // A newer offer replaces an older one still pending beside.
                    let older: Vec<ConnId> = self
                        .conns
                        .values()
                        .filter(|c| c.replaces && c.peer == Some(origin) && c.state.is_pending())
                        .map(|c| c.id)
                        .collect();
                    for o in older {
                        self.drop_conn(o, true);
                    }
                }
            }
        }
        let per_neighbour = match via {
            Via::Bridge(bridge) => {
                self.pending_via(bridge) >= self.config.max_pending_per_neighbour
            }
            Via::OutOfBand => false,
        };
        if per_neighbour || self.pending_count() >= self.config.max_pending {
            self.stats.dropped_signals += 1;
            if per_neighbour {
                self.stats.refused_requests += 1;
            }
            for w in inherited {
                self.resolve_request(
                    w,
                    Some(origin),
                    Err(ConnectFailure::Remote(BridgeFailure::Busy)),
                );
            }
            self.refuse_offer(h, origin, via, BridgeFailure::Busy);
            return Accepted::Dropped(if per_neighbour {
                DropReason::BusyNeighbour
            } else {
                DropReason::Busy
            });
        }
        self.stats.handshakes_accepted += 1;
        self.recent_offers.insert(origin, h);
        let living = self.conns.by_peer(&origin);
        let id = self.new_conn(now, Some(origin), h, Role::Acceptor, via, protocol);
        if let Some(c) = self.conns.get_mut(&id) {
            c.wants = inherited;
            c.replaces = beside;
            c.seen.insert(seq);
        }
        if let (true, Some(living)) = (beside, living) {
            // The table keeps naming the established connection.
            self.conns.bind_peer(origin, living);
        }
        tracing::debug!(peer = %origin.short(), handshake = %h, ?via, "handshake accepted");
        self.commands
            .push_back(TransportCommand::Signal { conn: id, signal });
        // Signals that overtook the offer.
        let mut i = 0;
        while i < self.early.len() {
            if self.early[i].handshake == h {
                if let Some(e) = self.early.remove(i) {
                    self.signal_for_known(id, e.origin, e.via, e.seq, e.signal);
                }
            } else {
                i += 1;
            }
        }
        Accepted::Delivered
    }

    /// An authenticated, fresh offer of `origin` was refused for a limit:
    /// tell it at once (`REFUSE` through the bridge it came by), so that
    /// its `connect` fails now rather than at its handshake timeout.
    ///
    /// Bounded: one small frame per fresh authenticated offer (a replay of
    /// the same offer is dropped as a replay, with no second reply), only
    /// toward the neighbour that relayed it, and only while our queue
    /// toward that neighbour has room (`max_reply_queue`). An out-of-band
    /// refusal is the application's to carry: `handle_signal` returns it.
    fn refuse_offer(&mut self, h: HandshakeId, origin: PeerId, via: Via, reason: BridgeFailure) {
        self.recent_offers.insert(origin, h);
        let Via::Bridge(bridge) = via else { return };
        match self.established(&bridge) {
            Some(bid) if !self.reply_queue_full(bid) => {
                tracing::debug!(peer = %origin.short(), handshake = %h, %reason, "offer refused: telling its origin");
                self.send_control(
                    bid,
                    Frame::Refuse {
                        handshake: h,
                        to: origin,
                        reason,
                    },
                );
            }
            _ => {}
        }
    }

    /// A signal whose signature checked out, for a handshake this engine knows.
    fn forged(&mut self, origin: PeerId, why: DropReason) -> Accepted {
        self.stats.forged_signals += 1;
        self.stats.dropped_signals += 1;
        tracing::warn!(claimed = %origin.short(), %why, "forged or misaddressed signal dropped");
        Accepted::Dropped(why)
    }

    fn signal_for_known(
        &mut self,
        id: ConnId,
        origin: PeerId,
        via: Via,
        seq: u32,
        signal: Signal,
    ) -> Accepted {
        let Some(c) = self.conns.get(&id) else {
            return Accepted::Dropped(DropReason::Stale);
        };
        if c.via != via {
            self.stats.dropped_signals += 1;
            return Accepted::Dropped(DropReason::WrongPath);
        }
        if !c.state.is_pending() {
            // Late trickle after open (or a replay): harmless.
            return Accepted::Dropped(DropReason::AlreadyOpen);
        }
        if c.peer.is_some_and(|p| p != origin) {
            self.stats.dropped_signals += 1;
            return Accepted::Dropped(DropReason::NotInHandshake);
        }
        if c.role == Role::Initiator && c.peer.is_none() && matches!(signal, Signal::Offer { .. }) {
            self.stats.dropped_signals += 1;
            return Accepted::Dropped(DropReason::OfferForOwnHandshake);
        }
        let fresh = self.conns.get_mut(&id).is_some_and(|c| c.seen.insert(seq));
        if !fresh {
            self.stats.replayed_signals += 1;
            self.stats.dropped_signals += 1;
            tracing::debug!(conn = %id, seq, "signal already taken: replay dropped");
            return Accepted::Dropped(DropReason::Replayed);
        }
        let Some(c) = self.conns.get(&id) else {
            return Accepted::Dropped(DropReason::Stale);
        };
        match c.peer {
            Some(p) if p == origin => {}
            Some(_) => {
                self.stats.dropped_signals += 1;
                return Accepted::Dropped(DropReason::NotInHandshake);
            }
            None => {
                // Out-of-band initiator learns who answered.
                if let Some(other) = self.conns.by_peer(&origin) {
                    let established = self
                        .conns
                        .get(&other)
                        .is_some_and(|o| o.state.is_established());
                    let crossing = self
                        .conns
                        .get(&other)
                        .filter(|o| o.state.is_pending() && o.role == Role::Acceptor)
                        .map(|o| o.hello_sent);
                    if let Some(their_hello_sent) = crossing {
                        // Glare: we accepted the origin's offer while ours was
                        // out. The lower id's handshake wins, on both sides.
                        self.stats.glare_resolved += 1;
                        if glare(&self.local, &origin) == Glare::TheirsWins {
                            tracing::debug!(peer = %origin.short(), "glare: their handshake wins, ours abandoned");
                            if let Some(mine) = self.drop_conn(id, true) {
                                if let Some(o) = self.conns.get_mut(&other) {
                                    for w in mine.wants {
                                        if their_hello_sent {
                                            // Their connection's Hello already left: announce.
                                            o.outbox.push_control(
                                                Frame::ArcAdd {
                                                    protocol: w.protocol,
                                                    count: w.count,
                                                }
                                                .encode(),
                                            );
                                        }
                                        o.wants.push(w);
                                    }
                                }
                                self.pump(other);
                            }
                            self.stats.dropped_signals += 1;
                            return Accepted::Dropped(DropReason::GlareTheirsWins);
                        }
                        tracing::debug!(peer = %origin.short(), "glare: our handshake wins, theirs abandoned");
                    }
                    if established {
                        // The acceptor runs this handshake beside its
                        // connection with us; so do we. The old one is
                        // replaced when this one's Hello checks out.
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.peer = Some(origin);
                            c.replaces = true;
                        }
                        self.commands
                            .push_back(TransportCommand::Signal { conn: id, signal });
                        return Accepted::Delivered;
                    } else if let Some(old) = self.drop_conn(other, true) {
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.wants.extend(old.wants);
                        }
                    }
                }
                if let Some(c) = self.conns.get_mut(&id) {
                    c.peer = Some(origin);
                }
                self.conns.bind_peer(origin, id);
            }
        }
        self.commands
            .push_back(TransportCommand::Signal { conn: id, signal });
        Accepted::Delivered
    }

    /// The transport opened `id`, bound to `binding` (the two ends' DTLS
    /// certificates). Each `Hello` is signed over the binding, so a relay in
    /// the middle is caught.
    pub(super) fn on_opened(&mut self, now: Instant, id: ConnId, binding: Option<ChannelBinding>) {
        let allow_unbound = self.config.insecure_allow_unbound_connections;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.state != ConnState::Handshaking {
            return;
        }
        if c.peer.is_none() {
            self.fail_conn(now, id, ConnectFailure::ProtocolViolation, true);
            return;
        }
        if binding.is_none() && !allow_unbound {
            tracing::warn!(conn = %id, "the transport cannot bind this connection to its DTLS certificates: refused (Config::insecure_allow_unbound_connections allows it)");
            self.stats.unbound_refused += 1;
            self.fail_conn(now, id, ConnectFailure::NoChannelBinding, true);
            return;
        }
        c.binding = binding;
        c.state = ConnState::Opened;
        let early = c.early_hello.take();
        // The initiator introduces itself at once; the acceptor answers the
        // initiator's Hello (so that when the initiator learns the
        // connection is living, the acceptor already counts its arcs).
        if c.role == Role::Initiator {
            self.send_hello(id);
        }
        if let Some(h) = early {
            self.on_hello(now, id, h.handshake, h.sender, h.signature, h.arcs);
        }
    }

    /// The remote's `Hello` came before the transport said the connection
    /// is open: keep it (one) until then.
    pub(super) fn hello_before_open(
        &mut self,
        _now: Instant,
        id: ConnId,
        handshake: HandshakeId,
        sender: PeerId,
        signature: [u8; 64],
        arcs: Vec<(ProtocolId, u32)>,
    ) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.early_hello.is_some() {
            c.stats.bad_frames += 1;
            self.stats.bad_frames += 1;
            tracing::warn!(conn = %id, "second hello before open: dropped");
            return;
        }
        c.early_hello = Some(Box::new(EarlyHello {
            handshake,
            sender,
            signature,
            arcs,
        }));
    }

    /// Send our `Hello`, announcing the arcs asked for so far.
    fn send_hello(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(peer) = c.peer else { return };
        if c.hello_sent {
            return;
        }
        let mut arcs: Vec<(ProtocolId, u32)> = Vec::new();
        for w in &c.wants {
            match arcs.iter_mut().find(|(p, _)| *p == w.protocol) {
                Some((_, n)) => *n = n.saturating_add(w.count),
                None => arcs.push((w.protocol, w.count)),
            }
        }
        let (mine, theirs) = c.binding.map_or((ZERO_FINGERPRINT, ZERO_FINGERPRINT), |b| {
            (b.local, b.remote)
        });
        let transcript = hello_transcript(c.handshake, &self.local, &peer, &mine, &theirs);
        let signature = self.signer.sign(&transcript);
        let hello = Frame::Hello {
            handshake: c.handshake,
            peer: self.local,
            signature,
            arcs,
        };
        c.outbox.push_control_front(hello.encode());
        c.hello_sent = true;
        self.pump(id);
    }

    /// The remote's `Hello`: check who it is, count its arcs and ours.
    pub(super) fn on_hello(
        &mut self,
        now: Instant,
        id: ConnId,
        handshake: HandshakeId,
        sender: PeerId,
        signature: [u8; 64],
        arcs: Vec<(ProtocolId, u32)>,
    ) {
        let Some(c) = self.conns.get(&id) else { return };
        let expected = c.peer;
        let (theirs, mine) = c.binding.map_or((ZERO_FINGERPRINT, ZERO_FINGERPRINT), |b| {
            (b.remote, b.local)
        });
        let why = if handshake != c.handshake {
            Some("hello for another handshake")
        } else if expected != Some(sender) {
            Some("hello from another peer than the handshake's")
        } else {
            let transcript = hello_transcript(handshake, &sender, &self.local, &theirs, &mine);
            (!self.signer.verify(&sender, &transcript, &signature))
                .then_some("hello signature does not match this connection's DTLS certificates")
        };
        if let Some(why) = why {
            tracing::warn!(conn = %id, claimed = %sender.short(), why, "tampered connection (a relay in the middle, or a forged identity): closing");
            // The acceptor still answers with its own Hello (signed over
            // what its DTLS saw) before closing, so that the initiator, if
            // the frame reaches it, fails with the same reason.
            self.send_hello(id);
            self.stats.tampered += 1;
            self.fail_conn(now, id, ConnectFailure::Tampered, true);
            return;
        }
        if !self.hello_arcs_within_limits(&arcs) {
            tracing::warn!(conn = %id, peer = %sender.short(), "hello announcing arcs beyond the limits: closing");
            self.stats.misbehaving_closed += 1;
            self.fail_conn(now, id, ConnectFailure::ProtocolViolation, true);
            return;
        }
        // The acceptor answers now, announcing its own arcs.
        self.send_hello(id);
        // A connection that ran beside an established one replaces it now:
        // the remote proved it is alive on this new DTLS session.
        let replaces = self.conns.get(&id).is_some_and(|c| c.replaces);
        if replaces {
            self.replace_with(id, sender);
        }
        if !self.conns.contains_key(&id) {
            return;
        }
        self.conns.set_state(&id, ConnState::Living);
        self.timers.clear(super::timers::TimerKey::Conn(id));
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let wants = std::mem::take(&mut c.wants);
        let via = c.via;
        let mut opened = Vec::new();
        for (p, n) in arcs {
            if n > 0 {
                opened.push((p, Direction::In, c.arcs.add_in(p, n)));
            }
        }
        let mut mine = Vec::new();
        for w in wants {
            opened.push((
                w.protocol,
                Direction::Out,
                c.arcs.add_out(w.protocol, w.count),
            ));
            mine.push(w);
        }
        self.stats.connections_opened += 1;
        tracing::debug!(conn = %id, peer = %sender.short(), "connection living");
        if via == Via::OutOfBand {
            self.outputs.push_back(Output::HandshakeEnded { handshake });
        }
        for (p, direction, count) in opened {
            self.emit(
                p,
                Event::ArcOpened {
                    peer: sender,
                    direction,
                    count,
                },
            );
        }
        for w in mine {
            self.resolve_request(w, Some(sender), Ok(()));
        }
        self.maybe_dying(now, id);
        self.pump(id);
    }
}

impl Engine {
    /// `id` (a handshake that ran beside the connection with `peer`) is
    /// proven: the connection it ran beside closes, `id` takes its place.
    fn replace_with(&mut self, id: ConnId, peer: PeerId) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.replaces = false;
        }
        if let Some(old) = self.conns.by_peer(&peer) {
            if old != id {
                let established = self
                    .conns
                    .get(&old)
                    .is_some_and(|c| c.state.is_established());
                tracing::debug!(peer = %peer.short(), old = %old, new = %id, "authenticated new connection replaces the old one");
                if established {
                    self.close_arcs(
                        old,
                        &ArcCloseReason::ConnectionLost("superseded by a new connection".into()),
                    );
                    self.drop_conn(old, true);
                } else if let Some(o) = self.drop_conn(old, true) {
                    // Arcs asked for on the old handshake ride this one.
                    if let Some(c) = self.conns.get_mut(&id) {
                        for w in o.wants {
                            c.outbox.push_control(
                                Frame::ArcAdd {
                                    protocol: w.protocol,
                                    count: w.count,
                                }
                                .encode(),
                            );
                            c.wants.push(w);
                        }
                    }
                }
            }
        }
        self.conns.bind_peer(peer, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glare_has_exactly_one_winner_seen_from_either_side() {
        let ids: Vec<PeerId> = [[1u8; 32], [2; 32], [0xff; 32], [0x80; 32]]
            .into_iter()
            .map(PeerId::from_bytes)
            .collect();
        for a in &ids {
            for b in ids.iter().filter(|b| *b != a) {
                let (at_a, at_b) = (glare(a, b), glare(b, a));
                assert_ne!(at_a, at_b, "{a:?} vs {b:?}");
                // The lower id's handshake wins.
                assert_eq!(at_a == Glare::OursWins, a < b);
            }
        }
    }

    fn peer(i: u32) -> PeerId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        PeerId::from_bytes(b)
    }

    #[test]
    fn replay_memory_knows_the_offers_it_took_and_only_those() {
        let mut r = RecentOffers::new([7; 16]);
        r.insert(peer(1), HandshakeId(10));
        assert!(r.contains(&peer(1), HandshakeId(10)));
        assert!(!r.contains(&peer(1), HandshakeId(11)));
        assert!(!r.contains(&peer(2), HandshakeId(10)));
        // Taking the same offer again does not take a second slot.
        for _ in 0..3 * RECENT_OFFERS_MAX {
            r.insert(peer(1), HandshakeId(10));
        }
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn replay_memory_holds_the_last_offers_and_no_more() {
        let mut r = RecentOffers::new([9; 16]);
        let n = RECENT_OFFERS_MAX as u32;
        for i in 0..n + 10 {
            r.insert(peer(i), HandshakeId(u64::from(i)));
            assert!(r.len() <= RECENT_OFFERS_MAX);
        }
        assert_eq!(r.len(), RECENT_OFFERS_MAX);
        // The ten oldest were forgotten, in order; the rest are held.
        for i in 0..10 {
            assert!(!r.contains(&peer(i), HandshakeId(u64::from(i))), "{i}");
        }
        for i in 10..n + 10 {
            assert!(r.contains(&peer(i), HandshakeId(u64::from(i))), "{i}");
        }
    }

    #[test]
    fn replay_digests_depend_on_the_secret_key() {
        let (a, b) = (RecentOffers::new([1; 16]), RecentOffers::new([2; 16]));
        let differ = (0..64u32)
            .filter(|&i| a.digest(&peer(i), HandshakeId(1)) != b.digest(&peer(i), HandshakeId(1)))
            .count();
        assert_eq!(differ, 64);
    }

    #[test]
    fn sequence_numbers_are_taken_once_and_bounded() {
        let mut s = SeqSet::default();
        assert!(s.insert(0));
        assert!(!s.insert(0));
        assert!(s.insert(255));
        assert!(!s.insert(256));
    }
}
