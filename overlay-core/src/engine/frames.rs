//! Frames from a connection: decoding, the bad-frame policy, and what each
//! frame does to the tables.

use std::time::Instant;

use bytes::Bytes;

use super::handshake::Accepted;
use super::Engine;
use crate::connection::{ConnState, Via, Waiter};
use crate::event::{ArcCloseReason, BridgeFailure, ConnectFailure, Direction, Event};
use crate::id::{ConnId, HandshakeId, PeerId, ProtocolId, RequestId};
use crate::signal::SignedSignal;
use crate::transport::Role;
use crate::wire::{Frame, Reassembled};

/// The connection a frame came on, and the neighbour at its other end.
#[derive(Debug, Clone, Copy)]
struct Sender {
    id: ConnId,
    peer: PeerId,
}

/// Frames whose handling queues control frames back toward their sender
/// (a `ConnectDone`, a `ForwardFailed`, our own signals of a relayed
/// handshake).
fn needs_reply(frame: &Frame) -> bool {
    matches!(
        frame,
        Frame::ConnectTo { .. } | Frame::Forward { .. } | Frame::Forwarded { .. }
    )
}

impl Engine {
    pub(super) fn on_frame(&mut self, now: Instant, id: ConnId, bytes: Bytes) {
        let limit = self.config.max_frame_size;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.stats.frames_received += 1;
        c.stats.bytes_received += bytes.len() as u64;
        let state = c.state;
        let frame = match Frame::decode(&bytes, limit) {
            Ok(f) => f,
            Err(e) => return self.bad_frame(now, id, &e.to_string()),
        };
        if let Frame::Hello {
            handshake,
            peer,
            signature,
            arcs,
        } = frame
        {
            if state == ConnState::Handshaking {
                // Tolerate a transport that shows the remote's first frame
                // before its own open event: the Hello waits for it (and for
                // the certificates the open event binds the connection to).
                return self.hello_before_open(now, id, handshake, peer, signature, arcs);
            }
            if self.conns.get(&id).map(|c| c.state) != Some(ConnState::Opened) {
                return self.bad_frame(now, id, "unexpected hello");
            }
            return self.on_hello(now, id, handshake, peer, signature, arcs);
        }
        let Some(peer) = self.conns.get(&id).and_then(|c| c.peer) else {
            return;
        };
        if !state.is_established() {
            return self.bad_frame(now, id, "frame before hello");
        }
        if needs_reply(&frame) && self.reply_queue_full(id) {
            // Our answers to this peer pile up unread: it is slow, or floods
            // without reading. Requests that need an answer are refused (and
            // counted) until it drains; that is no protocol violation.
            self.stats.refused_requests += 1;
            tracing::debug!(conn = %id, peer = %peer.short(), "request refused: our replies to it are not read");
            return;
        }
        // One method per frame kind (the `Frame` is the dispatch table).
        let from = Sender { id, peer };
        match frame {
            Frame::Hello { .. } => {}
            Frame::Data { protocol, payload } => self.on_data(now, from, protocol, payload),
            Frame::DataStart {
                protocol,
                total_len,
                chunk,
            } => self.on_data_start(now, from, protocol, total_len, chunk),
            Frame::DataCont { chunk } => self.on_data_cont(now, from, chunk),
            Frame::ArcAdd { protocol, count } => self.on_arc_add(now, from, protocol, count),
            Frame::ArcRemove { protocol, count } => self.on_arc_remove(now, from, protocol, count),
            Frame::ConnectTo {
                req,
                protocol,
                to,
                count,
            } => self.on_connect_to(now, from, req, protocol, to, count),
            Frame::ConnectDone { req, failure } => self.on_connect_done(now, from, req, failure),
            Frame::Forward {
                handshake,
                to,
                signal,
            } => self.on_forward(from, handshake, to, signal),
            Frame::Forwarded {
                handshake,
                origin,
                signal,
            } => self.on_forwarded(now, from, handshake, origin, signal),
            Frame::ForwardFailed { handshake, reason } => {
                self.on_forward_failed(now, from, handshake, reason)
            }
            Frame::Refuse {
                handshake,
                to,
                reason,
            } => self.on_refuse(from, handshake, to, reason),
            Frame::Refused {
                handshake,
                origin,
                reason,
            } => self.on_refused(now, from, handshake, origin, reason),
        }
    }

    fn on_data(&mut self, now: Instant, from: Sender, protocol: ProtocolId, payload: Bytes) {
        self.interrupt_reassembly(now, from.id);
        self.deliver(from.id, protocol, from.peer, payload);
    }

    fn on_data_start(
        &mut self,
        now: Instant,
        from: Sender,
        protocol: ProtocolId,
        total_len: u32,
        chunk: Bytes,
    ) {
        // Only the message in progress is dropped, not this one.
        self.interrupt_reassembly(now, from.id);
        let r = self.reassemble(from.id, chunk.len(), |r| {
            r.start(protocol, total_len, &chunk)
        });
        self.reassembled(now, from.id, from.peer, r);
    }

    fn on_data_cont(&mut self, now: Instant, from: Sender, chunk: Bytes) {
        let r = self.reassemble(from.id, chunk.len(), |r| r.cont(&chunk));
        self.reassembled(now, from.id, from.peer, r);
    }

    fn on_arc_add(&mut self, now: Instant, from: Sender, protocol: ProtocolId, count: u32) {
        let Sender { id, peer } = from;
        if count == 0 {
            return self.bad_frame(now, id, "arc add of zero");
        }
        let room = self.conns.get(&id).is_some_and(|c| {
            c.arcs.room_for(
                &protocol,
                false,
                count,
                self.config.max_arcs_per_pair,
                self.config.max_protocols_per_connection,
            )
        });
        if !room {
            // Our own side never asks for more: the remote broke the
            // limits, and its arc count can no longer be agreed on.
            return self.violation(now, id, "arcs beyond the per-pair or protocol limit");
        }
        self.revive(id);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let n = c.arcs.add_in(protocol, count);
        self.emit(
            protocol,
            Event::ArcOpened {
                peer,
                direction: Direction::In,
                count: n,
            },
        );
    }

    fn on_arc_remove(&mut self, now: Instant, from: Sender, protocol: ProtocolId, count: u32) {
        let Sender { id, peer } = from;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let (removed, left) = c.arcs.remove_in(&protocol, count);
        if removed > 0 {
            // One event per change of count, however many arcs go.
            self.emit(
                protocol,
                Event::ArcClosed {
                    peer,
                    direction: Direction::In,
                    reason: ArcCloseReason::Removed,
                    count: left,
                },
            );
        }
        if removed < count {
            self.bad_frame(now, id, "arc remove beyond the arcs held");
        }
        self.maybe_dying(now, id);
    }

    fn on_connect_to(
        &mut self,
        now: Instant,
        from: Sender,
        req: RequestId,
        protocol: ProtocolId,
        to: PeerId,
        count: u32,
    ) {
        let Sender { id, peer } = from;
        if count == 0 {
            return self.bad_frame(now, id, "connect of zero arcs");
        }
        if to == self.local {
            self.send_control(
                id,
                Frame::ConnectDone {
                    req,
                    failure: Some(BridgeFailure::SelfConnection),
                },
            );
        } else {
            let waiter = Waiter::Remote { bridge: peer, req };
            self.open_arcs(now, protocol, to, count, waiter, Some(Via::Bridge(peer)));
        }
    }

    fn on_connect_done(
        &mut self,
        now: Instant,
        from: Sender,
        req: RequestId,
        failure: Option<BridgeFailure>,
    ) {
        match self.bridge_waits.get(&req) {
            Some(w) if w.from == from.peer => {
                if let Some(w) = self.remove_bridge_wait(req) {
                    let result = failure.map_or(Ok(()), |f| Err(ConnectFailure::Remote(f)));
                    self.part_done(w.op, result, None);
                }
            }
            _ => self.bad_frame(now, from.id, "connect-done for no request of ours"),
        }
    }

    /// A neighbour asks us (its bridge) to relay a signal to `to`.
    fn on_forward(
        &mut self,
        from: Sender,
        handshake: HandshakeId,
        to: PeerId,
        signal: SignedSignal,
    ) {
        let Sender { id, peer } = from;
        let failed = |reason| Frame::ForwardFailed { handshake, reason };
        if to == peer || to == self.local {
            return self.send_control(id, failed(BridgeFailure::SelfConnection));
        }
        match self.established(&to) {
            Some(target) if self.reply_queue_full(target) => {
                // The target does not drain its queue: relaying more
                // would let one neighbour grow our memory without bound.
                tracing::debug!(from = %peer.short(), to = %to.short(), "cannot relay: target's queue is full");
                self.send_control(id, failed(BridgeFailure::Busy));
            }
            Some(target) => {
                self.stats.relayed += 1;
                self.send_control(
                    target,
                    Frame::Forwarded {
                        handshake,
                        origin: peer,
                        signal,
                    },
                );
            }
            None => {
                tracing::debug!(from = %peer.short(), to = %to.short(), "cannot relay: not a neighbour");
                self.send_control(id, failed(BridgeFailure::NotNeighbour));
            }
        }
    }

    /// A signal of `origin`, relayed by the sender (our bridge).
    fn on_forwarded(
        &mut self,
        now: Instant,
        from: Sender,
        handshake: HandshakeId,
        origin: PeerId,
        signal: SignedSignal,
    ) {
        let Some(protocol) = self.conns.get(&from.id).map(|c| c.envelope_protocol) else {
            return;
        };
        let local = self.local;
        let via = Via::Bridge(from.peer);
        let r =
            self.accept_remote_signal(now, handshake, origin, Some(local), via, protocol, signal);
        if let Accepted::Dropped(why) = r {
            tracing::debug!(from = %origin.short(), bridge = %from.peer.short(), %why, "forwarded signal dropped");
        }
    }

    /// Our bridge could not relay a signal of `handshake`.
    fn on_forward_failed(
        &mut self,
        now: Instant,
        from: Sender,
        handshake: HandshakeId,
        reason: BridgeFailure,
    ) {
        let target = self.conns.by_handshake(&handshake);
        let ours = target
            .and_then(|t| self.conns.get(&t))
            .is_some_and(|c| c.via == Via::Bridge(from.peer) && c.state.is_pending());
        match target {
            Some(t) if ours => {
                let why = ConnectFailure::BridgeFailed {
                    bridge: from.peer,
                    why: reason,
                };
                self.fail_conn(now, t, why, true);
            }
            _ => self.stats.dropped_signals += 1,
        }
    }

    /// Relay a destination's refusal to the offer's origin: one small frame
    /// per frame received, never past the target's queue limit.
    fn on_refuse(
        &mut self,
        from: Sender,
        handshake: HandshakeId,
        to: PeerId,
        reason: BridgeFailure,
    ) {
        match self.established(&to) {
            Some(target) if to != from.peer && !self.reply_queue_full(target) => {
                self.stats.relayed += 1;
                self.send_control(
                    target,
                    Frame::Refused {
                        handshake,
                        origin: from.peer,
                        reason,
                    },
                );
            }
            _ => self.stats.dropped_signals += 1,
        }
    }

    /// `origin` refused our offer. Only the handshake's bridge relays, and
    /// only for the peer the handshake is with.
    fn on_refused(
        &mut self,
        now: Instant,
        from: Sender,
        handshake: HandshakeId,
        origin: PeerId,
        reason: BridgeFailure,
    ) {
        let target = self.conns.by_handshake(&handshake);
        let ours = target.and_then(|t| self.conns.get(&t)).is_some_and(|c| {
            c.via == Via::Bridge(from.peer)
                && c.state.is_pending()
                && c.role == Role::Initiator
                && c.peer == Some(origin)
        });
        match target {
            Some(t) if ours => {
                tracing::debug!(conn = %t, peer = %origin.short(), %reason, "our offer was refused");
                self.fail_conn(now, t, ConnectFailure::Remote(reason), true);
            }
            _ => self.stats.dropped_signals += 1,
        }
    }

    fn reassembled(
        &mut self,
        now: Instant,
        id: ConnId,
        peer: PeerId,
        r: Option<Result<Reassembled, crate::wire::ReassemblyError>>,
    ) {
        match r {
            Some(Ok(Reassembled::Message(protocol, payload))) => {
                self.deliver(id, protocol, peer, payload)
            }
            Some(Ok(Reassembled::Dropped(protocol, len))) => {
                tracing::debug!(conn = %id, %protocol, len, "split message dropped: reassembly memory exhausted");
            }
            Some(Ok(Reassembled::Partial)) | None => {}
            Some(Err(e)) => self.bad_frame(now, id, &e.to_string()),
        }
    }

    /// Whether the arcs a `Hello` announces fit the per-pair and
    /// per-connection limits.
    pub(super) fn hello_arcs_within_limits(&self, arcs: &[(ProtocolId, u32)]) -> bool {
        let mut per: std::collections::BTreeMap<ProtocolId, u64> =
            std::collections::BTreeMap::new();
        for (p, n) in arcs {
            *per.entry(*p).or_default() += u64::from(*n);
        }
        per.len() <= self.config.max_protocols_per_connection
            && per
                .values()
                .all(|n| *n <= u64::from(self.config.max_arcs_per_pair))
    }

    /// Whether control frames queued toward `id` hold more memory than
    /// the reply queue limit.
    pub(super) fn reply_queue_full(&self, id: ConnId) -> bool {
        self.conns
            .get(&id)
            .is_some_and(|c| c.outbox.control_memory() > self.config.max_reply_queue)
    }

    /// A whole message or a new split one arrived: a split message in
    /// progress is dropped (the sender broke the framing).
    fn interrupt_reassembly(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let before = c.reassembler.buffered();
        let r = c.reassembler.whole();
        self.reassembly_memory = self.reassembly_memory.saturating_sub(before);
        if let Err(e) = r {
            self.bad_frame(now, id, &e.to_string());
        }
    }

    /// Feed `len` bytes to `id`'s reassembler, within the node's
    /// reassembly memory: a message that would go past it is discarded
    /// (its remaining chunks are still consumed, and counted).
    fn reassemble(
        &mut self,
        id: ConnId,
        len: usize,
        feed: impl FnOnce(
            &mut crate::wire::Reassembler,
        ) -> Result<Reassembled, crate::wire::ReassemblyError>,
    ) -> Option<Result<Reassembled, crate::wire::ReassemblyError>> {
        let max = self.config.max_reassembly_memory;
        let c = self.conns.get_mut(&id)?;
        let before = c.reassembler.buffered();
        let over = self.reassembly_memory.saturating_add(len) > max;
        let r = feed(&mut c.reassembler);
        if over && c.reassembler.buffered() > 0 {
            c.reassembler.discard();
            self.stats.dropped_messages += 1;
        }
        let after = c.reassembler.buffered();
        self.reassembly_memory = (self.reassembly_memory + after).saturating_sub(before);
        // A message complete at once, over the limit: it was held for an
        // instant only, deliver it.
        Some(r)
    }

    fn deliver(
        &mut self,
        id: ConnId,
        protocol: crate::id::ProtocolId,
        peer: PeerId,
        payload: Bytes,
    ) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.stats.messages_received += 1;
        }
        self.stats.messages_received += 1;
        self.emit(protocol, Event::Message { peer, payload });
    }

    /// Count a bad frame; close the connection when they keep coming
    /// faster than one per [`crate::Config::bad_frame_decay`].
    fn bad_frame(&mut self, now: Instant, id: ConnId, why: &str) {
        self.stats.bad_frames += 1;
        let decay = self.config.bad_frame_decay;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.stats.bad_frames += 1;
        let elapsed = now.saturating_duration_since(c.bad_since);
        let forgiven = (elapsed.as_nanos() / decay.as_nanos().max(1)).min(u128::from(u32::MAX));
        if forgiven > 0 {
            c.bad_score = c.bad_score.saturating_sub(forgiven as u32);
            c.bad_since = now;
        }
        c.bad_score += 1;
        let n = c.bad_score;
        let peer = c.peer.map(|p| p.short()).unwrap_or_default();
        tracing::warn!(conn = %id, %peer, why, count = n, "bad frame dropped");
        if n >= self.config.max_bad_frames {
            tracing::warn!(conn = %id, %peer, "too many bad frames: closing the connection");
            self.cut(now, id);
        }
    }

    /// The remote broke a hard limit: close at once as a protocol violator.
    fn violation(&mut self, now: Instant, id: ConnId, why: &str) {
        self.stats.bad_frames += 1;
        let peer = self
            .conns
            .get(&id)
            .and_then(|c| c.peer)
            .map(|p| p.short())
            .unwrap_or_default();
        tracing::warn!(conn = %id, %peer, why, "protocol violation: closing the connection");
        self.cut(now, id);
    }

    /// Close a misbehaving connection.
    fn cut(&mut self, now: Instant, id: ConnId) {
        let Some((established, gone)) = self
            .conns
            .get(&id)
            .map(|c| (c.state.is_established(), c.peer))
        else {
            return;
        };
        self.stats.misbehaving_closed += 1;
        if established {
            self.close_arcs(id, &ArcCloseReason::ProtocolViolation);
            self.drop_conn(id, true);
        } else {
            self.fail_conn(now, id, ConnectFailure::ProtocolViolation, true);
        }
        if let Some(p) = gone {
            self.peer_gone(now, p);
        }
    }
}
