//! Rooms and their members: who is where, who may signal whom. No I/O and
//! no awaiting here: delivering to a member is a `try_send` into its bounded
//! outgoing queue, so one slow member never blocks anyone. A member whose
//! queue is full is removed and told to disconnect.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use overlay_core::{PeerId, SignalEnvelope};
use rand::rngs::StdRng;
use rand::seq::IteratorRandom;
use rand::SeedableRng;
use tokio::sync::{mpsc, Notify};

use crate::wire::{ErrorCode, ServerFrame, ServerMessage};

/// What a connection's writer task sends.
#[derive(Debug)]
pub(crate) enum Out {
    /// A JSON frame.
    Text(String),
    /// A heartbeat ping.
    Ping,
    /// A close frame, then the writer stops.
    Close(u16, String),
}

/// The hub's handle on one connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    pub(crate) key: u64,
    pub(crate) tx: mpsc::Sender<Out>,
    pub(crate) kick: Arc<Notify>,
}

impl ConnHandle {
    /// Queue a frame; `false` if the queue is full or the connection gone.
    fn offer(&self, text: String) -> bool {
        self.tx.try_send(Out::Text(text)).is_ok()
    }
}

/// Limits the hub enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubLimits {
    pub(crate) max_peers_per_room: usize,
    pub(crate) max_rooms: usize,
    pub(crate) relay_requires_introduction: bool,
}

#[derive(Debug)]
struct Member {
    conn: ConnHandle,
    /// Members this one may exchange signals with.
    introduced: HashSet<PeerId>,
}

#[derive(Debug, Default)]
struct Room {
    members: HashMap<PeerId, Member>,
}

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) signals_relayed: AtomicU64,
    pub(crate) contacts_given: AtomicU64,
    pub(crate) errors_sent: AtomicU64,
    pub(crate) clients_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A failed hub request: the error reply's code and message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub(crate) struct HubError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

fn fail(code: ErrorCode, message: impl Into<String>) -> HubError {
    HubError {
        code,
        message: message.into(),
    }
}

#[derive(Debug)]
pub(crate) struct Hub {
    limits: HubLimits,
    rooms: HashMap<String, Room>,
    rng: StdRng,
    counters: Arc<Counters>,
}

impl Hub {
    pub(crate) fn new(limits: HubLimits, counters: Arc<Counters>) -> Self {
        Hub {
            limits,
            rooms: HashMap::new(),
            rng: StdRng::from_entropy(),
            counters,
        }
    }

    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub(crate) fn peer_count(&self) -> usize {
        self.rooms.values().map(|r| r.members.len()).sum()
    }

    /// Register `peer` in `room`; returns how many other members were there.
    pub(crate) fn join(
        &mut self,
        room: &str,
        peer: PeerId,
        conn: ConnHandle,
    ) -> Result<usize, HubError> {
        let opening = !self.rooms.contains_key(room);
        if opening && self.rooms.len() >= self.limits.max_rooms {
            return Err(fail(
                ErrorCode::TooManyRooms,
                format!(
                    "the server has its maximum of {} rooms open; join an existing room or try later",
                    self.limits.max_rooms
                ),
            ));
        }
        let max = self.limits.max_peers_per_room;
        let members = &mut self.rooms.entry(room.to_owned()).or_default().members;
        if members.contains_key(&peer) {
            return Err(fail(
                ErrorCode::DuplicatePeer,
                format!("peer {} is already in room {room:?} on another connection; each peer joins once", peer.short()),
            ));
        }
        if members.len() >= max {
            return Err(fail(
                ErrorCode::RoomFull,
                format!("room {room:?} is full ({max} peers); try another room or later"),
            ));
        }
        let others = members.len();
        members.insert(
            peer,
            Member {
                conn,
                introduced: HashSet::new(),
            },
        );
        Ok(others)
    }

    /// Remove `peer` from `room` if it is still registered by connection `key`.
    pub(crate) fn leave(&mut self, room: &str, peer: PeerId, key: u64) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        if r.members.get(&peer).is_some_and(|m| m.conn.key == key) {
            Self::remove_member(r, peer);
        }
        if r.members.is_empty() {
            self.rooms.remove(room);
        }
    }

    fn remove_member(room: &mut Room, peer: PeerId) -> Option<Member> {
        let member = room.members.remove(&peer)?;
        for other in &member.introduced {
            if let Some(m) = room.members.get_mut(other) {
                m.introduced.remove(&peer);
            }
        }
        Some(member)
    }

    /// A member that cannot keep up: out of its room, told to disconnect.
    fn evict(&mut self, room: &str, peer: PeerId) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        if let Some(member) = Self::remove_member(r, peer) {
            tracing::warn!(room, peer = %peer.short(), "client does not read its messages; disconnecting it");
            Counters::bump(&self.counters.clients_dropped);
            member.conn.kick.notify_one();
        }
        if r.members.is_empty() {
            self.rooms.remove(room);
        }
    }

    /// A contact for `me`: `want` if named and present, else a random other
    /// member; `None` when `me` is alone.
    pub(crate) fn contact(
        &mut self,
        room: &str,
        me: PeerId,
        want: Option<PeerId>,
    ) -> Result<Option<PeerId>, HubError> {
        let r = self
            .rooms
            .get_mut(room)
            .ok_or_else(|| fail(ErrorCode::NotJoined, "join a room first"))?;
        let chosen = match want {
            Some(p) if p == me => {
                return Err(fail(
                    ErrorCode::BadMessage,
                    "you cannot be your own contact; name another member".to_owned(),
                ));
            }
            Some(p) => {
                if !r.members.contains_key(&p) {
                    return Err(fail(
                        ErrorCode::UnknownPeer,
                        format!(
                            "peer {} is not in room {room:?}; ask for a random contact instead",
                            p.short()
                        ),
                    ));
                }
                p
            }
            None => match r.members.keys().filter(|p| **p != me).choose(&mut self.rng) {
                Some(p) => *p,
                None => return Ok(None),
            },
        };
        if let Some(m) = r.members.get_mut(&me) {
            m.introduced.insert(chosen);
        }
        if let Some(m) = r.members.get_mut(&chosen) {
            m.introduced.insert(me);
        }
        Counters::bump(&self.counters.contacts_given);
        Ok(Some(chosen))
    }

    /// Deliver `envelope` from `me` to `to`.
    pub(crate) fn relay(
        &mut self,
        room: &str,
        me: PeerId,
        to: PeerId,
        envelope: SignalEnvelope,
    ) -> Result<(), HubError> {
        if envelope.from != me {
            return Err(fail(
                ErrorCode::BadSender,
                format!(
                    "the envelope says it is from {}, but this connection joined as {}",
                    envelope.from.short(),
                    me.short()
                ),
            ));
        }
        let r = self
            .rooms
            .get_mut(room)
            .ok_or_else(|| fail(ErrorCode::NotJoined, "join a room first"))?;
        let Some(target) = r.members.get(&to) else {
            return Err(fail(
                ErrorCode::UnknownPeer,
                format!(
                    "peer {} is not in room {room:?} (it left, or never joined)",
                    to.short()
                ),
            ));
        };
        if self.limits.relay_requires_introduction && !target.introduced.contains(&me) {
            return Err(fail(
                ErrorCode::NotIntroduced,
                format!(
                    "peer {} was not introduced to you; ask for it with requestContact before signaling it",
                    to.short()
                ),
            ));
        }
        let kind = envelope.signal.kind();
        let text = ServerFrame::new(None, ServerMessage::Signal { envelope }).to_json();
        if target.conn.offer(text) {
            tracing::debug!(room, from = %me.short(), to = %to.short(), kind, "relayed");
            Counters::bump(&self.counters.signals_relayed);
            Ok(())
        } else {
            self.evict(room, to);
            Err(fail(
                ErrorCode::UnknownPeer,
                format!(
                    "peer {} could not take more messages and was disconnected",
                    to.short()
                ),
            ))
        }
    }

    /// Tell every member the server is going away.
    pub(crate) fn close_all(&mut self) {
        for room in self.rooms.values() {
            for member in room.members.values() {
                member.conn.kick.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_core::{HandshakeId, Keypair, ProtocolId, Signal};

    fn peer(n: u8) -> PeerId {
        Keypair::from_secret_bytes([n; 32]).peer_id()
    }

    fn conn(key: u64, queue: usize) -> (ConnHandle, mpsc::Receiver<Out>) {
        let (tx, rx) = mpsc::channel(queue);
        (
            ConnHandle {
                key,
                tx,
                kick: Arc::new(Notify::new()),
            },
            rx,
        )
    }

    fn hub() -> Hub {
        let limits = HubLimits {
            max_peers_per_room: 8,
            max_rooms: 8,
            relay_requires_introduction: true,
        };
        Hub::new(limits, Arc::default())
    }

    fn offer(from: PeerId) -> Result<SignalEnvelope, Box<dyn std::error::Error>> {
        Ok(SignalEnvelope {
            handshake: HandshakeId(1),
            from,
            to: None,
            protocol: ProtocolId::new("p")?,
            seq: 0,
            signature: overlay_core::SignatureBytes([0; 64]),
            signal: Signal::Offer { sdp: "v=0".into() },
        })
    }

    #[tokio::test]
    async fn a_member_that_does_not_read_is_evicted_without_blocking_the_sender(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut hub = hub();
        let (a, _a_rx) = conn(1, 4);
        let (b, mut b_rx) = conn(2, 2);
        let b_kick = b.kick.clone();
        hub.join("r", peer(1), a)?;
        hub.join("r", peer(2), b)?;
        assert_eq!(hub.contact("r", peer(1), Some(peer(2)))?, Some(peer(2)));
        // b's queue holds two frames; the third relay finds it full.
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        let third = hub.relay("r", peer(1), peer(2), offer(peer(1))?);
        assert_eq!(third.map_err(|e| e.code), Err(ErrorCode::UnknownPeer));
        // b was told to go (the permit is stored) and left the room.
        b_kick.notified().await;
        assert_eq!(hub.peer_count(), 1);
        assert_eq!(hub.contact("r", peer(1), None)?, None);
        // What b had queued is intact.
        assert!(matches!(b_rx.recv().await, Some(Out::Text(t)) if t.contains("\"offer\"")));
        Ok(())
    }

    #[test]
    fn leaving_forgets_introductions_and_empty_rooms() -> Result<(), Box<dyn std::error::Error>> {
        let mut hub = hub();
        let (a, _a_rx) = conn(1, 4);
        let (b, _b_rx) = conn(2, 4);
        let (b2, _b2_rx) = conn(3, 4);
        hub.join("r", peer(1), a)?;
        hub.join("r", peer(2), b)?;
        hub.contact("r", peer(2), None)?;
        hub.leave("r", peer(2), 2);
        hub.join("r", peer(2), b2)?;
        // The new connection of peer 2 was never introduced to peer 1.
        let err = hub.relay("r", peer(1), peer(2), offer(peer(1))?);
        assert_eq!(err.map_err(|e| e.code), Err(ErrorCode::NotIntroduced));
        // A stale leave (old connection key) does not remove the new one.
        hub.leave("r", peer(2), 2);
        assert_eq!(hub.peer_count(), 2);
        hub.leave("r", peer(1), 1);
        hub.leave("r", peer(2), 3);
        assert_eq!(hub.room_count(), 0);
        Ok(())
    }
}
