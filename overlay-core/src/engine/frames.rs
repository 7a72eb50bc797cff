//! Frames from a connection: decoding, the bad-frame policy, and what each
//! frame does to the tables.

use std::time::Instant;

use bytes::Bytes;

use super::Engine;
use crate::connection::{ConnState, Via, Waiter};
use crate::event::{ArcCloseReason, BridgeFailure, ConnectFailure, Direction, Event};
use crate::id::{ConnId, PeerId};
use crate::wire::{Frame, Reassembled};

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
        let backlog = self.conns.get(&id).map_or(0, |c| c.outbox.control_bytes());
        if backlog > self.config.send_queue_limit {
            // Our answers to this peer pile up unread: it floods without
            // reading. Its frames are refused (and counted) until it drains.
            return self.bad_frame(now, id, "peer sends faster than it reads our replies");
        }
        match frame {
            Frame::Hello { .. } => {}
            Frame::Data { protocol, payload } => {
                let interrupted = self.conns.get_mut(&id).map(|c| c.reassembler.whole());
                if let Some(Err(e)) = interrupted {
                    self.bad_frame(now, id, &e.to_string());
                }
                self.deliver(id, protocol, peer, payload);
            }
            Frame::DataStart {
                protocol,
                total_len,
                chunk,
            } => {
                let r = self
                    .conns
                    .get_mut(&id)
                    .map(|c| c.reassembler.start(protocol, total_len, &chunk));
                self.reassembled(now, id, peer, r);
            }
            Frame::DataCont { chunk } => {
                let r = self.conns.get_mut(&id).map(|c| c.reassembler.cont(&chunk));
                self.reassembled(now, id, peer, r);
            }
            Frame::ArcAdd { protocol, count } => {
                if count == 0 {
                    return self.bad_frame(now, id, "arc add of zero");
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
            Frame::ArcRemove { protocol, count } => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                let before = c.arcs_of(&protocol).inn;
                let (removed, _) = c.arcs.remove_in(&protocol, count);
                for i in 0..removed {
                    let left = before - i - 1;
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
            Frame::ConnectTo {
                op,
                protocol,
                to,
                count,
            } => {
                let waiter = Waiter::Remote {
                    bridge: peer,
                    req: op,
                };
                if count == 0 {
                    return self.bad_frame(now, id, "connect of zero arcs");
                }
                if to == self.local {
                    self.send_control(
                        id,
                        Frame::ConnectDone {
                            op,
                            failure: Some(BridgeFailure::SelfConnection),
                        },
                    );
                } else {
                    self.open_arcs(now, protocol, to, count, waiter, Some(Via::Bridge(peer)));
                }
            }
            Frame::ConnectDone { op, failure } => match self.bridge_waits.get(&op) {
                Some(w) if w.from == peer => {
                    if let Some(w) = self.bridge_waits.remove(&op) {
                        let result = failure.map_or(Ok(()), |f| Err(ConnectFailure::Remote(f)));
                        self.part_done(w.op, result, None);
                    }
                }
                _ => self.bad_frame(now, id, "connect-done for no request of ours"),
            },
            Frame::Forward {
                handshake,
                to,
                signal,
            } => {
                if to == peer || to == self.local {
                    self.send_control(
                        id,
                        Frame::ForwardFailed {
                            handshake,
                            reason: BridgeFailure::SelfConnection,
                        },
                    );
                    return;
                }
                match self.established(&to) {
                    Some(target)
                        if self.conns.get(&target).is_some_and(|t| {
                            t.outbox.control_bytes() > self.config.send_queue_limit
                        }) =>
                    {
                        // The target does not drain its queue: relaying more
                        // would let one neighbour grow our memory without bound.
                        tracing::debug!(from = %peer.short(), to = %to.short(), "cannot relay: target's queue is full");
                        self.send_control(
                            id,
                            Frame::ForwardFailed {
                                handshake,
                                reason: BridgeFailure::Busy,
                            },
                        );
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
                        self.send_control(
                            id,
                            Frame::ForwardFailed {
                                handshake,
                                reason: BridgeFailure::NotNeighbour,
                            },
                        );
                    }
                }
            }
            Frame::Forwarded {
                handshake,
                origin,
                signal,
            } => {
                let protocol = self.conns.get(&id).map(|c| c.envelope_protocol);
                if let Some(protocol) = protocol {
                    let r = self.accept_remote_signal(
                        now,
                        handshake,
                        origin,
                        Some(self.local),
                        Via::Bridge(peer),
                        protocol,
                        signal,
                    );
                    if let super::handshake::Accepted::Dropped(why) = r {
                        tracing::debug!(from = %origin.short(), bridge = %peer.short(), why, "forwarded signal dropped");
                    }
                }
            }
            Frame::ForwardFailed { handshake, reason } => {
                let target = self.by_handshake.get(&handshake).copied();
                let ours = target
                    .and_then(|t| self.conns.get(&t))
                    .is_some_and(|c| c.via == Via::Bridge(peer) && c.state.is_pending());
                match target {
                    Some(t) if ours => {
                        self.fail_conn(
                            now,
                            t,
                            ConnectFailure::BridgeFailed {
                                bridge: peer,
                                why: reason,
                            },
                            true,
                        );
                    }
                    _ => self.stats.dropped_signals += 1,
                }
            }
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
            Some(Ok(Reassembled::Partial)) | None => {}
            Some(Err(e)) => self.bad_frame(now, id, &e.to_string()),
        }
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

    /// Count a bad frame; close the connection when they keep coming.
    fn bad_frame(&mut self, now: Instant, id: ConnId, why: &str) {
        self.stats.bad_frames += 1;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.stats.bad_frames += 1;
        let n = c.stats.bad_frames;
        let peer = c.peer.map(|p| p.short()).unwrap_or_default();
        tracing::warn!(conn = %id, %peer, why, count = n, "bad frame dropped");
        if n >= self.config.max_bad_frames {
            tracing::warn!(conn = %id, %peer, "too many bad frames: closing the connection");
            self.stats.misbehaving_closed += 1;
            let established = c.state.is_established();
            let gone = c.peer;
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
}
