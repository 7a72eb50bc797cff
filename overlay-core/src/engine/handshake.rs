//! Handshakes: moving signals (out-of-band or through a bridge), accepting
//! offers, the glare rule, and the signed `Hello` that makes a connection
//! living.

use std::time::Instant;

use ed25519_dalek::{Signature, Signer, Verifier};

use super::ops::EarlySignal;
use super::Engine;
use crate::connection::{ConnState, Via};
use crate::event::{ArcCloseReason, BridgeFailure, ConnectFailure, Direction, Event, Output};
use crate::id::{ConnId, HandshakeId, PeerId, ProtocolId};
use crate::signal::{Signal, SignalEnvelope};
use crate::transport::{Role, TransportCommand};
use crate::wire::{hello_transcript, Frame};

/// What became of a signal for a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accepted {
    /// Delivered to (or started) a connection.
    Delivered,
    /// Kept until its handshake's offer arrives.
    Buffered,
    /// Dropped (counted); the reason.
    Dropped(&'static str),
}

impl Engine {
    /// The transport produced a signal for `id`: send it on its way.
    pub(super) fn route_local_signal(&mut self, now: Instant, id: ConnId, signal: Signal) {
        let Some(c) = self.conns.get(&id) else { return };
        if !c.state.is_pending() {
            tracing::trace!(conn = %id, kind = signal.kind(), "late local signal after open: dropped");
            return;
        }
        let handshake = c.handshake;
        match (c.via, c.peer) {
            (Via::OutOfBand, _) => {
                let env = SignalEnvelope {
                    handshake,
                    from: self.local,
                    protocol: c.envelope_protocol,
                    signal,
                };
                self.outputs.push_back(Output::Signal(env));
            }
            (Via::Bridge(bridge), Some(to)) => match self.established(&bridge) {
                Some(bid) => self.send_control(
                    bid,
                    Frame::Forward {
                        handshake,
                        to,
                        signal,
                    },
                ),
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

    /// A signal from `origin` for handshake `h` arrived via `via`.
    pub(super) fn accept_remote_signal(
        &mut self,
        now: Instant,
        h: HandshakeId,
        origin: PeerId,
        via: Via,
        protocol: ProtocolId,
        signal: Signal,
    ) -> Accepted {
        if origin == self.local {
            self.stats.dropped_signals += 1;
            return Accepted::Dropped("signal claims to come from this node");
        }
        if let Some(&id) = self.by_handshake.get(&h) {
            return self.signal_for_known(id, origin, via, signal);
        }
        if !matches!(signal, Signal::Offer { .. }) {
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
                signal,
            });
            return Accepted::Buffered;
        }
        // A new offer. One connection per pair: look at what we have with `origin`.
        let mut inherited = Vec::new();
        if let Some(&existing) = self.by_peer.get(&origin) {
            let Some(c) = self.conns.get(&existing) else {
                return Accepted::Dropped("stale table entry");
            };
            match (c.state, c.role) {
                (s, Role::Initiator) if s.is_pending() => {
                    // Glare: both dial each other. The lower id's handshake wins.
                    self.stats.glare_resolved += 1;
                    if self.local < origin {
                        self.stats.dropped_signals += 1;
                        tracing::debug!(peer = %origin.short(), "glare: our handshake wins, their offer dropped");
                        return Accepted::Dropped("glare: our own handshake wins");
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
                    // The remote dials although we hold a connection: its side is
                    // gone (closed or crashed before we noticed). Replace ours.
                    tracing::debug!(peer = %origin.short(), "new offer over an established connection: replacing it");
                    self.close_arcs(
                        existing,
                        &ArcCloseReason::ConnectionLost("superseded by a new connection".into()),
                    );
                    self.drop_conn(existing, true);
                }
            }
        }
        if let Via::Bridge(bridge) = via {
            if self.pending_via(bridge) >= self.config.max_pending_per_neighbour {
                self.stats.refused_requests += 1;
                self.stats.dropped_signals += 1;
                return Accepted::Dropped("too many handshakes relayed by this neighbour");
            }
        }
        if self.pending_count() >= self.config.max_pending {
            self.stats.dropped_signals += 1;
            for w in inherited {
                self.resolve_request(
                    w,
                    Some(origin),
                    Err(ConnectFailure::Remote(BridgeFailure::Busy)),
                );
            }
            return Accepted::Dropped("too many handshakes at once");
        }
        self.stats.handshakes_accepted += 1;
        let id = self.new_conn(now, Some(origin), h, Role::Acceptor, via, protocol);
        if let Some(c) = self.conns.get_mut(&id) {
            c.wants = inherited;
        }
        tracing::debug!(peer = %origin.short(), handshake = %h, ?via, "handshake accepted");
        self.commands
            .push_back(TransportCommand::Signal { conn: id, signal });
        // Signals that overtook the offer.
        let mut i = 0;
        while i < self.early.len() {
            if self.early[i].handshake == h {
                if let Some(e) = self.early.remove(i) {
                    self.signal_for_known(id, e.origin, e.via, e.signal);
                }
            } else {
                i += 1;
            }
        }
        Accepted::Delivered
    }

    fn signal_for_known(
        &mut self,
        id: ConnId,
        origin: PeerId,
        via: Via,
        signal: Signal,
    ) -> Accepted {
        let Some(c) = self.conns.get(&id) else {
            return Accepted::Dropped("stale table entry");
        };
        if c.via != via {
            self.stats.dropped_signals += 1;
            return Accepted::Dropped("signal came by another path than its handshake");
        }
        if !c.state.is_pending() {
            // Late trickle after open: harmless.
            return Accepted::Dropped("connection already open");
        }
        match c.peer {
            Some(p) if p == origin => {}
            Some(_) => {
                self.stats.dropped_signals += 1;
                return Accepted::Dropped("signal from a peer that is not in this handshake");
            }
            None => {
                // Out-of-band initiator learns who answered.
                if let Some(&other) = self.by_peer.get(&origin) {
                    let established = self
                        .conns
                        .get(&other)
                        .is_some_and(|o| o.state.is_established());
                    let glare = self
                        .conns
                        .get(&other)
                        .filter(|o| o.state.is_pending() && o.role == Role::Acceptor)
                        .map(|o| o.hello_sent);
                    if let Some(their_hello_sent) = glare {
                        // Glare: we accepted the origin's offer while ours was
                        // out. The lower id's handshake wins, on both sides.
                        self.stats.glare_resolved += 1;
                        if self.local > origin {
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
                            return Accepted::Dropped("glare: their handshake wins");
                        }
                        tracing::debug!(peer = %origin.short(), "glare: our handshake wins, theirs abandoned");
                    }
                    if established {
                        // The acceptor replaces its connection with this one; so do we.
                        self.close_arcs(
                            other,
                            &ArcCloseReason::ConnectionLost(
                                "superseded by a new connection".into(),
                            ),
                        );
                        self.drop_conn(other, true);
                    } else if let Some(old) = self.drop_conn(other, true) {
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.wants.extend(old.wants);
                        }
                    }
                }
                if let Some(c) = self.conns.get_mut(&id) {
                    c.peer = Some(origin);
                }
                self.by_peer.insert(origin, id);
            }
        }
        self.commands
            .push_back(TransportCommand::Signal { conn: id, signal });
        Accepted::Delivered
    }

    /// The transport opened `id`. The initiator introduces itself at once;
    /// the acceptor answers the initiator's `Hello` (so that when the
    /// initiator learns the connection is living, the acceptor already
    /// counts its arcs and can use the connection).
    pub(super) fn on_opened(&mut self, now: Instant, id: ConnId) {
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
        c.state = ConnState::Opened;
        if c.role == Role::Initiator {
            self.send_hello(id);
        }
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
        let transcript = hello_transcript(c.handshake, &self.local, &peer);
        let signature = self.keypair.signing_key().sign(&transcript).to_bytes();
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
        let valid = handshake == c.handshake
            && expected == Some(sender)
            && sender.verifying_key().is_some_and(|key| {
                key.verify(
                    &hello_transcript(handshake, &sender, &self.local),
                    &Signature::from_bytes(&signature),
                )
                .is_ok()
            });
        if valid && !self.hello_arcs_within_limits(&arcs) {
            tracing::warn!(conn = %id, peer = %sender.short(), "hello announcing arcs beyond the limits: closing");
            self.stats.misbehaving_closed += 1;
            self.fail_conn(now, id, ConnectFailure::ProtocolViolation, true);
            return;
        }
        if !valid {
            tracing::warn!(conn = %id, claimed = %sender.short(), "hello with a wrong identity or signature: closing");
            self.stats.misbehaving_closed += 1;
            self.fail_conn(now, id, ConnectFailure::ProtocolViolation, true);
            return;
        }
        // The acceptor answers now, announcing its own arcs.
        self.send_hello(id);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.state = ConnState::Living;
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
