//! Rooms and their members: who is where, who may signal whom. No I/O and
//! no awaiting here: delivering to a member is a `try_send` into its bounded
//! outgoing queue, so one slow member never blocks anyone. When a member's
//! queue has no room for a relayed signal, the *sender's* signal is dropped
//! (`peer_busy`); the member is never evicted because others flood it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// A relayed signal, and the count of signals its sender has queued
    /// toward this client (decremented as the writer takes it).
    Relayed(String, Arc<AtomicUsize>),
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
    /// Tells the connection's reader to stop (server shutdown, or replaced).
    pub(crate) kick: Arc<Notify>,
    /// Set before `kick` when a newer proven session of the same peer took
    /// this one's place.
    pub(crate) replaced: Arc<AtomicBool>,
}

/// Limits the hub enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubLimits {
    pub(crate) max_peers_per_room: usize,
    pub(crate) max_rooms: usize,
    pub(crate) max_rooms_per_address: usize,
    pub(crate) max_members_per_address: usize,
    pub(crate) relay_requires_introduction: bool,
    /// Queue slots a relayed signal may never take: they stay free for the
    /// member's own replies and pings.
    pub(crate) reply_reserve: usize,
    /// Signals one sender may have queued toward one member: a flooding
    /// sender cannot take the whole queue from the member's other senders.
    pub(crate) max_queued_per_sender: usize,
}

#[derive(Debug)]
struct Member {
    conn: ConnHandle,
    addr: IpAddr,
    /// Members this one may exchange signals with.
    introduced: HashSet<PeerId>,
    /// Others may name this member in `requestContact`.
    allow_named: bool,
    /// It took part in a handshake exchange through the server: it answered
    /// a newcomer, or its own contact answered it. Random contacts are
    /// drawn from active members first.
    active: bool,
    /// Newcomers that got this member as contact and moved on to another
    /// contact without an answer from it, since its last answer.
    strikes: u32,
    /// The contact this member got last, and whether that contact answered.
    contact: Option<(PeerId, bool)>,
    /// Signals queued toward this member, per sender (introduced members
    /// only, so bounded by the room).
    queued_from: HashMap<PeerId, Arc<AtomicUsize>>,
}

#[derive(Debug, Default)]
struct Room {
    members: HashMap<PeerId, Member>,
    /// Members per client address.
    per_addr: HashMap<IpAddr, usize>,
}

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) signals_relayed: AtomicU64,
    pub(crate) signals_refused_busy: AtomicU64,
    pub(crate) contacts_given: AtomicU64,
    pub(crate) errors_sent: AtomicU64,
    pub(crate) clients_dropped: AtomicU64,
    pub(crate) joins_refused_signature: AtomicU64,
    pub(crate) sessions_replaced: AtomicU64,
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

/// A proven peer asking to join.
#[derive(Debug)]
pub(crate) struct Joining {
    pub(crate) peer: PeerId,
    pub(crate) addr: IpAddr,
    pub(crate) conn: ConnHandle,
    pub(crate) allow_named: bool,
}

#[derive(Debug)]
pub(crate) struct Hub {
    limits: HubLimits,
    rooms: HashMap<String, Room>,
    /// Rooms in which each address has at least one member.
    addr_rooms: HashMap<IpAddr, usize>,
    rng: StdRng,
    counters: Arc<Counters>,
}

impl Hub {
    pub(crate) fn new(limits: HubLimits, counters: Arc<Counters>) -> Self {
        Hub {
            limits,
            rooms: HashMap::new(),
            addr_rooms: HashMap::new(),
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

    /// Register a proven peer in `room`; returns how many other members
    /// were there. A member registered with the same peer id (an older
    /// session of the same key owner) is replaced: told to go, its
    /// introductions forgotten. Limits are checked before anything changes.
    pub(crate) fn join(&mut self, room: &str, joining: Joining) -> Result<usize, HubError> {
        let Joining {
            peer,
            addr,
            conn,
            allow_named,
        } = joining;
        let limits = self.limits;
        let existing = self.rooms.get(room);
        if existing.is_none() && self.rooms.len() >= limits.max_rooms {
            return Err(fail(
                ErrorCode::TooManyRooms,
                format!(
                    "the server has its maximum of {} rooms open; join an existing room or try later",
                    limits.max_rooms
                ),
            ));
        }
        let old = existing.and_then(|r| r.members.get(&peer));
        let replacing = usize::from(old.is_some());
        let old_same_addr = usize::from(old.is_some_and(|m| m.addr == addr));
        let members_now = existing.map_or(0, |r| r.members.len()) - replacing;
        if members_now >= limits.max_peers_per_room {
            return Err(fail(
                ErrorCode::RoomFull,
                format!(
                    "room {room:?} is full ({} peers); try another room or later",
                    limits.max_peers_per_room
                ),
            ));
        }
        let from_addr = existing
            .and_then(|r| r.per_addr.get(&addr).copied())
            .unwrap_or(0)
            - old_same_addr;
        if from_addr >= limits.max_members_per_address {
            return Err(fail(
                ErrorCode::AddressLimit,
                format!(
                    "your address {addr} already has {from_addr} members in room {room:?} (the limit is {}); one client cannot fill a room",
                    limits.max_members_per_address
                ),
            ));
        }
        if from_addr == 0 {
            let rooms = self.addr_rooms.get(&addr).copied().unwrap_or(0);
            if rooms >= limits.max_rooms_per_address {
                return Err(fail(
                    ErrorCode::AddressLimit,
                    format!(
                        "your address {addr} already has members in {rooms} rooms (the limit is {}); leave a room first",
                        limits.max_rooms_per_address
                    ),
                ));
            }
        }
        // Every check passed: now change things.
        if replacing == 1 {
            if let Some(old) = self.remove(room, peer) {
                tracing::info!(room, peer = %peer.short(), "a newer proven session replaces the member's old one");
                Counters::bump(&self.counters.sessions_replaced);
                old.conn.replaced.store(true, Ordering::Relaxed);
                old.conn.kick.notify_one();
            }
        }
        let r = self.rooms.entry(room.to_owned()).or_default();
        let others = r.members.len();
        let count = r.per_addr.entry(addr).or_insert(0);
        *count += 1;
        if *count == 1 {
            *self.addr_rooms.entry(addr).or_insert(0) += 1;
        }
        r.members.insert(
            peer,
            Member {
                conn,
                addr,
                introduced: HashSet::new(),
                allow_named,
                active: false,
                strikes: 0,
                contact: None,
                queued_from: HashMap::new(),
            },
        );
        Ok(others)
    }

    /// Remove `peer` from `room` if it is still registered by connection `key`.
    pub(crate) fn leave(&mut self, room: &str, peer: PeerId, key: u64) {
        let registered = self
            .rooms
            .get(room)
            .and_then(|r| r.members.get(&peer))
            .is_some_and(|m| m.conn.key == key);
        if registered {
            self.remove(room, peer);
        }
    }

    /// Take `peer` out of `room` with its introductions and address counts;
    /// close the room if it is empty.
    fn remove(&mut self, room: &str, peer: PeerId) -> Option<Member> {
        let r = self.rooms.get_mut(room)?;
        let member = r.members.remove(&peer)?;
        for other in &member.introduced {
            if let Some(m) = r.members.get_mut(other) {
                m.introduced.remove(&peer);
                m.queued_from.remove(&peer);
            }
        }
        if let Some(count) = r.per_addr.get_mut(&member.addr) {
            *count -= 1;
            if *count == 0 {
                r.per_addr.remove(&member.addr);
                if let Some(rooms) = self.addr_rooms.get_mut(&member.addr) {
                    *rooms -= 1;
                    if *rooms == 0 {
                        self.addr_rooms.remove(&member.addr);
                    }
                }
            }
        }
        if r.members.is_empty() {
            self.rooms.remove(room);
        }
        Some(member)
    }

    /// A contact for `me`: `want` if named, present and willing to be
    /// named, else one the server picks; `None` when `me` is alone.
    ///
    /// The pick prefers members that took part in a handshake through the
    /// server (they answer), then members never tried, then members that
    /// left a newcomer unanswered; within that, a random client address
    /// first, then a random member of it, so one client's many members
    /// weigh as one.
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
                if !r.members.get(&p).is_some_and(|m| m.allow_named) {
                    return Err(fail(
                        ErrorCode::UnknownPeer,
                        format!(
                            "peer {} is not in room {room:?}, or does not accept being named; ask for a random contact instead",
                            p.short()
                        ),
                    ));
                }
                p
            }
            None => match pick(r, me, &mut self.rng) {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        // Moving on from a contact that never answered counts against it.
        let previous = r.members.get(&me).and_then(|m| m.contact);
        if let Some((old, false)) = previous {
            if old != chosen {
                if let Some(m) = r.members.get_mut(&old) {
                    m.strikes = m.strikes.saturating_add(1);
                }
            }
        }
        if let Some(m) = r.members.get_mut(&me) {
            m.introduced.insert(chosen);
            m.contact = Some((chosen, false));
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
        let Some(target) = r.members.get_mut(&to) else {
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
        // The last slots of a member's queue are for its own replies and
        // pings: a relayed signal that finds only those free is dropped, and
        // its sender told; the member stays.
        if target.conn.tx.capacity() <= self.limits.reply_reserve {
            Counters::bump(&self.counters.signals_refused_busy);
            return Err(fail(
                ErrorCode::PeerBusy,
                format!(
                    "peer {} has too many signals queued; this one was dropped: send it again later",
                    to.short()
                ),
            ));
        }
        let queued = target.queued_from.entry(me).or_default().clone();
        if queued.load(Ordering::Relaxed) >= self.limits.max_queued_per_sender.max(1) {
            Counters::bump(&self.counters.signals_refused_busy);
            return Err(fail(
                ErrorCode::PeerBusy,
                format!(
                    "you have {} signals queued toward peer {} already; this one was dropped: send it again later",
                    self.limits.max_queued_per_sender,
                    to.short()
                ),
            ));
        }
        let kind = envelope.signal.kind();
        let text = ServerFrame::new(None, ServerMessage::Signal { envelope }).to_json();
        queued.fetch_add(1, Ordering::Relaxed);
        if target
            .conn
            .tx
            .try_send(Out::Relayed(text, queued.clone()))
            .is_err()
        {
            queued.fetch_sub(1, Ordering::Relaxed);
            // Its connection is ending; it leaves the room as it does.
            return Err(fail(
                ErrorCode::UnknownPeer,
                format!("peer {} is leaving the room", to.short()),
            ));
        }
        tracing::debug!(room, from = %me.short(), to = %to.short(), kind, "relayed");
        Counters::bump(&self.counters.signals_relayed);
        // A signal to the newcomer whose contact we are is an answer: both
        // ends took part in a handshake exchange.
        if let Some(target) = r.members.get_mut(&to) {
            if let Some((contact, answered)) = &mut target.contact {
                if *contact == me && !*answered {
                    *answered = true;
                    target.active = true;
                    if let Some(sender) = r.members.get_mut(&me) {
                        sender.active = true;
                        sender.strikes = 0;
                    }
                }
            }
        }
        Ok(())
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

/// The server's pick of a contact for `me` (see [`Hub::contact`]).
fn pick(room: &Room, me: PeerId, rng: &mut StdRng) -> Option<PeerId> {
    let tier = |m: &Member| match (m.active, m.strikes) {
        (true, 0) => 0,
        (false, 0) => 1,
        _ => 2,
    };
    let best = room
        .members
        .iter()
        .filter(|(p, _)| **p != me)
        .map(|(_, m)| tier(m))
        .min()?;
    let candidates = || {
        room.members
            .iter()
            .filter(move |(p, m)| **p != me && tier(m) == best)
    };
    let addr = candidates()
        .map(|(_, m)| m.addr)
        .collect::<HashSet<_>>()
        .into_iter()
        .choose(rng)?;
    candidates()
        .filter(|(_, m)| m.addr == addr)
        .map(|(p, _)| *p)
        .choose(rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_core::{HandshakeId, Keypair, ProtocolId, Signal};
    use std::net::Ipv4Addr;

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
                replaced: Arc::default(),
            },
            rx,
        )
    }

    fn addr(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    fn joining(n: u8, conn: ConnHandle, allow_named: bool) -> Joining {
        Joining {
            peer: peer(n),
            addr: addr(n),
            conn,
            allow_named,
        }
    }

    fn hub() -> Hub {
        let limits = HubLimits {
            max_peers_per_room: 8,
            max_rooms: 8,
            max_rooms_per_address: 2,
            max_members_per_address: 3,
            relay_requires_introduction: true,
            reply_reserve: 1,
            max_queued_per_sender: 100,
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
            more: Vec::new(),
        })
    }

    #[test]
    fn a_flooded_member_stays_and_the_senders_are_refused() -> Result<(), Box<dyn std::error::Error>>
    {
        let mut hub = hub();
        let (a, _a_rx) = conn(1, 4);
        let (b, mut b_rx) = conn(2, 3);
        hub.join("r", joining(1, a, true))?;
        hub.join("r", joining(2, b.clone(), true))?;
        assert_eq!(hub.contact("r", peer(1), Some(peer(2)))?, Some(peer(2)));
        // b's queue holds three frames, one kept for its own replies: the
        // third relay is refused, b stays.
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        let third = hub.relay("r", peer(1), peer(2), offer(peer(1))?);
        assert_eq!(third.map_err(|e| e.code), Err(ErrorCode::PeerBusy));
        assert_eq!(hub.peer_count(), 2);
        assert!(!b.replaced.load(Ordering::Relaxed));
        // Its own reply still fits.
        assert!(b.tx.try_send(Out::Ping).is_ok());
        // Once b reads, relays go through again.
        assert!(matches!(b_rx.try_recv(), Ok(Out::Relayed(t, _)) if t.contains("\"offer\"")));
        assert!(matches!(b_rx.try_recv(), Ok(Out::Relayed(..))));
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        Ok(())
    }

    #[test]
    fn one_sender_cannot_take_a_members_whole_queue() -> Result<(), Box<dyn std::error::Error>> {
        let mut hub = hub();
        hub.limits.max_queued_per_sender = 2;
        let (a, _a_rx) = conn(1, 8);
        let (b, mut b_rx) = conn(2, 8);
        let (c, _c_rx) = conn(3, 8);
        hub.join("r", joining(1, a, true))?;
        hub.join("r", joining(2, b, true))?;
        hub.join("r", joining(3, c, true))?;
        hub.contact("r", peer(1), Some(peer(2)))?;
        hub.contact("r", peer(3), Some(peer(2)))?;
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        let third = hub.relay("r", peer(1), peer(2), offer(peer(1))?);
        assert_eq!(third.map_err(|e| e.code), Err(ErrorCode::PeerBusy));
        // Another sender still gets through.
        hub.relay("r", peer(3), peer(2), offer(peer(3))?)?;
        // As b's writer takes the flooder's signals, it may send again.
        if let Ok(Out::Relayed(_, count)) = b_rx.try_recv() {
            count.fetch_sub(1, Ordering::Relaxed);
        }
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        Ok(())
    }

    #[test]
    fn leaving_forgets_introductions_and_empty_rooms() -> Result<(), Box<dyn std::error::Error>> {
        let mut hub = hub();
        let (a, _a_rx) = conn(1, 4);
        let (b, _b_rx) = conn(2, 4);
        let (b2, _b2_rx) = conn(3, 4);
        hub.join("r", joining(1, a, false))?;
        hub.join("r", joining(2, b, false))?;
        hub.contact("r", peer(2), None)?;
        hub.leave("r", peer(2), 2);
        hub.join("r", joining(2, b2, false))?;
        // The new connection of peer 2 was never introduced to peer 1.
        let err = hub.relay("r", peer(1), peer(2), offer(peer(1))?);
        assert_eq!(err.map_err(|e| e.code), Err(ErrorCode::NotIntroduced));
        // A stale leave (old connection key) does not remove the new one.
        hub.leave("r", peer(2), 2);
        assert_eq!(hub.peer_count(), 2);
        hub.leave("r", peer(1), 1);
        hub.leave("r", peer(2), 3);
        assert_eq!(hub.room_count(), 0);
        assert!(hub.addr_rooms.is_empty());
        Ok(())
    }

    #[test]
    fn a_proven_second_session_replaces_the_first() -> Result<(), Box<dyn std::error::Error>> {
        let mut hub = hub();
        let (a, _a_rx) = conn(1, 4);
        let (old, _old_rx) = conn(2, 4);
        let (new, _new_rx) = conn(3, 4);
        hub.join("r", joining(1, a, true))?;
        hub.join("r", joining(2, old.clone(), true))?;
        hub.contact("r", peer(1), Some(peer(2)))?;
        assert_eq!(hub.join("r", joining(2, new, true))?, 1);
        assert!(old.replaced.load(Ordering::Relaxed));
        assert_eq!(hub.peer_count(), 2);
        // The old session's introductions went with it, and its late leave
        // does not remove the new session.
        let err = hub.relay("r", peer(1), peer(2), offer(peer(1))?);
        assert_eq!(err.map_err(|e| e.code), Err(ErrorCode::NotIntroduced));
        hub.leave("r", peer(2), 2);
        assert_eq!(hub.peer_count(), 2);
        Ok(())
    }

    #[test]
    fn one_address_cannot_fill_a_room_or_take_every_room() -> Result<(), Box<dyn std::error::Error>>
    {
        let mut hub = hub();
        let mut keep = Vec::new();
        let mut join_from = |hub: &mut Hub, room: &str, n: u8, from: u8| {
            let (c, rx) = conn(u64::from(n), 4);
            keep.push(rx);
            hub.join(
                room,
                Joining {
                    peer: peer(n),
                    addr: addr(from),
                    conn: c,
                    allow_named: false,
                },
            )
            .map_err(|e| e.code)
        };
        for n in 1..=3 {
            assert_eq!(join_from(&mut hub, "r", n, 9), Ok(usize::from(n - 1)));
        }
        assert_eq!(join_from(&mut hub, "r", 4, 9), Err(ErrorCode::AddressLimit));
        // Another address still gets in.
        assert_eq!(join_from(&mut hub, "r", 4, 8), Ok(3));
        // Rooms: address 9 is in "r"; one more room, then no more.
        assert_eq!(join_from(&mut hub, "s", 5, 9), Ok(0));
        assert_eq!(join_from(&mut hub, "t", 6, 9), Err(ErrorCode::AddressLimit));
        assert_eq!(join_from(&mut hub, "t", 6, 7), Ok(0));
        Ok(())
    }

    #[test]
    fn naming_a_member_needs_its_consent() -> Result<(), Box<dyn std::error::Error>> {
        let mut hub = hub();
        let (a, _a_rx) = conn(1, 4);
        let (b, _b_rx) = conn(2, 4);
        let (c, _c_rx) = conn(3, 4);
        hub.join("r", joining(1, a, false))?;
        hub.join("r", joining(2, b, true))?;
        hub.join("r", joining(3, c, false))?;
        let named = hub.contact("r", peer(3), Some(peer(1)));
        assert_eq!(named.map_err(|e| e.code), Err(ErrorCode::UnknownPeer));
        // Refused naming gives no right to signal it.
        let err = hub.relay("r", peer(3), peer(1), offer(peer(3))?);
        assert_eq!(err.map_err(|e| e.code), Err(ErrorCode::NotIntroduced));
        assert_eq!(hub.contact("r", peer(3), Some(peer(2)))?, Some(peer(2)));
        Ok(())
    }

    #[test]
    fn contacts_that_answered_are_picked_first() -> Result<(), Box<dyn std::error::Error>> {
        let mut hub = hub();
        hub.limits.max_members_per_address = 100;
        hub.limits.max_peers_per_room = 100;
        let mut keep = Vec::new();
        let mut add = |hub: &mut Hub, n: u8| -> Result<(), HubError> {
            let (c, rx) = conn(u64::from(n), 4);
            keep.push(rx);
            hub.join("r", joining(n, c, false)).map(|_| ())
        };
        add(&mut hub, 1)?;
        add(&mut hub, 2)?;
        // 2 joins through 1, which answers: both are active.
        assert_eq!(hub.contact("r", peer(2), None)?, Some(peer(1)));
        hub.relay("r", peer(2), peer(1), offer(peer(2))?)?;
        hub.relay("r", peer(1), peer(2), offer(peer(1))?)?;
        // Forty silent members join.
        for n in 10..50 {
            add(&mut hub, n)?;
        }
        for n in 60..90 {
            add(&mut hub, n)?;
            let got = hub.contact("r", peer(n), None)?;
            assert!(got == Some(peer(1)) || got == Some(peer(2)), "{got:?}");
        }
        Ok(())
    }
}
