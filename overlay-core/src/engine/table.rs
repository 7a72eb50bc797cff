//! The connection table: every connection by id, with the two indexes the
//! engine looks connections up by (the peer, the handshake), kept
//! consistent in one place (as `outbox.rs` and `arcs.rs` own theirs).

use std::collections::BTreeMap;

use crate::connection::{Conn, ConnState, Via};
use crate::id::{ConnId, HandshakeId, PeerId};

/// Connections by id; which one stands for each peer and each handshake.
///
/// - Inserting a connection indexes its handshake, and its peer if known
///   (it then stands for that peer).
/// - Removing a connection removes the index entries that name it, and
///   only those (another connection may stand for its peer).
/// - [`ConnTable::bind_peer`] makes a connection stand for a peer (a
///   handshake running beside an established connection is not indexed
///   by peer until it replaces it).
///
/// It also counts pending connections, in all and per bridge neighbour
/// (the limits `max_pending` and `max_pending_per_neighbour` are checked
/// per offer: a hub must not scan 10,000 connections for each). A change
/// of state that leaves or enters the pending states goes through
/// [`ConnTable::set_state`].
#[derive(Default)]
pub(crate) struct ConnTable {
    conns: BTreeMap<ConnId, Box<Conn>>,
    by_peer: BTreeMap<PeerId, ConnId>,
    by_handshake: BTreeMap<HandshakeId, ConnId>,
    pending: usize,
    pending_via: BTreeMap<PeerId, usize>,
}

impl ConnTable {
    /// Add `conn`: it stands for its handshake, and for its peer if known.
    pub(crate) fn insert(&mut self, conn: Conn) {
        let id = conn.id;
        if conn.state.is_pending() {
            self.count_pending(conn.via, true);
        }
        if let Some(p) = conn.peer {
            self.by_peer.insert(p, id);
        }
        self.by_handshake.insert(conn.handshake, id);
        self.conns.insert(id, Box::new(conn));
    }

    /// Take `id` out, with the index entries that name it.
    pub(crate) fn remove(&mut self, id: &ConnId) -> Option<Conn> {
        let c = *self.conns.remove(id)?;
        if c.state.is_pending() {
            self.count_pending(c.via, false);
        }
        if let Some(p) = c.peer {
            if self.by_peer.get(&p) == Some(id) {
                self.by_peer.remove(&p);
            }
        }
        if self.by_handshake.get(&c.handshake) == Some(id) {
            self.by_handshake.remove(&c.handshake);
        }
        Some(c)
    }

    /// Set `id`'s state, keeping the pending counts.
    pub(crate) fn set_state(&mut self, id: &ConnId, state: ConnState) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let (was, via) = (c.state.is_pending(), c.via);
        c.state = state;
        if was != state.is_pending() {
            self.count_pending(via, state.is_pending());
        }
    }

    fn count_pending(&mut self, via: Via, more: bool) {
        if more {
            self.pending += 1;
        } else {
            self.pending = self.pending.saturating_sub(1);
        }
        if let Via::Bridge(b) = via {
            let n = self.pending_via.entry(b).or_default();
            if more {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.pending_via.remove(&b);
                }
            }
        }
    }

    /// Pending connections (handshaking or opened), O(1).
    pub(crate) fn pending(&self) -> usize {
        debug_assert_eq!(
            self.pending,
            self.values().filter(|c| c.state.is_pending()).count()
        );
        self.pending
    }

    /// Pending connections opened on behalf of bridge neighbour `bridge`.
    pub(crate) fn pending_via(&self, bridge: &PeerId) -> usize {
        let n = self.pending_via.get(bridge).copied().unwrap_or(0);
        debug_assert_eq!(
            n,
            self.values()
                .filter(|c| c.state.is_pending() && c.via == Via::Bridge(*bridge))
                .count()
        );
        n
    }

    /// From now on `id` stands for `peer`.
    pub(crate) fn bind_peer(&mut self, peer: PeerId, id: ConnId) {
        self.by_peer.insert(peer, id);
    }

    /// The connection that stands for `peer`.
    pub(crate) fn by_peer(&self, peer: &PeerId) -> Option<ConnId> {
        self.by_peer.get(peer).copied()
    }

    /// The connection of handshake `h`.
    pub(crate) fn by_handshake(&self, h: &HandshakeId) -> Option<ConnId> {
        self.by_handshake.get(h).copied()
    }

    /// One connection.
    pub(crate) fn get(&self, id: &ConnId) -> Option<&Conn> {
        self.conns.get(id).map(|c| &**c)
    }

    /// One connection, to change it (its id, peer and handshake stay).
    pub(crate) fn get_mut(&mut self, id: &ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id).map(|c| &mut **c)
    }

    /// Whether `id` is in the table.
    pub(crate) fn contains_key(&self, id: &ConnId) -> bool {
        self.conns.contains_key(id)
    }

    /// Every connection, by id.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values().map(|c| &**c)
    }

    /// Every connection id, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &ConnId> {
        self.conns.keys()
    }

    /// Connections held.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ProtocolId;
    use crate::transport::Role;
    use std::time::Instant;

    fn conn(id: u64, peer: Option<u8>, h: u64) -> Conn {
        let now = Instant::now();
        Conn::new(
            ConnId(id),
            peer.map(|b| PeerId::from_bytes([b; 32])),
            HandshakeId(h),
            Role::Acceptor,
            Via::OutOfBand,
            ProtocolId::new("t").unwrap_or_else(|_| unreachable!()),
            now,
            now,
            1024,
        )
    }

    #[test]
    fn the_indexes_follow_inserts_and_removes() {
        let p = PeerId::from_bytes([1; 32]);
        let mut t = ConnTable::default();
        t.insert(conn(1, Some(1), 10));
        t.insert(conn(2, None, 20));
        assert_eq!(t.len(), 2);
        assert_eq!(t.by_peer(&p), Some(ConnId(1)));
        assert_eq!(t.by_handshake(&HandshakeId(20)), Some(ConnId(2)));
        assert_eq!(
            t.get(&ConnId(2)).map(|c| c.handshake),
            Some(HandshakeId(20))
        );
        // A removal takes its index entries along.
        let c = t.remove(&ConnId(1));
        assert_eq!(c.map(|c| c.id), Some(ConnId(1)));
        assert_eq!(t.by_peer(&p), None);
        assert_eq!(t.by_handshake(&HandshakeId(10)), None);
        assert!(t.remove(&ConnId(1)).is_none());
        assert!(!t.contains_key(&ConnId(1)));
        assert_eq!(t.keys().copied().collect::<Vec<_>>(), vec![ConnId(2)]);
    }

    #[test]
    fn removing_a_connection_keeps_the_one_that_stands_for_its_peer() {
        let p = PeerId::from_bytes([1; 32]);
        let mut t = ConnTable::default();
        // An established connection (3) stands for the peer; a handshake
        // running beside it (4) is rebound to stand for it afterwards, as
        // the engine does.
        t.insert(conn(3, Some(1), 30));
        t.insert(conn(4, Some(1), 40));
        t.bind_peer(p, ConnId(3));
        assert_eq!(t.by_peer(&p), Some(ConnId(3)));
        // The handshake beside it fails: the established one still stands.
        t.remove(&ConnId(4));
        assert_eq!(t.by_peer(&p), Some(ConnId(3)));
        assert_eq!(t.by_handshake(&HandshakeId(40)), None);
        // The other way round: the new one replaces the old.
        t.insert(conn(5, Some(1), 50));
        t.bind_peer(p, ConnId(5));
        t.remove(&ConnId(3));
        assert_eq!(t.by_peer(&p), Some(ConnId(5)));
        assert_eq!(
            t.values().map(|c| c.id).collect::<Vec<_>>(),
            vec![ConnId(5)]
        );
    }

    #[test]
    fn pending_counts_follow_states_and_removals() {
        let b = PeerId::from_bytes([9; 32]);
        let mut t = ConnTable::default();
        let mut bridged = conn(1, Some(1), 10);
        bridged.via = Via::Bridge(b);
        t.insert(bridged);
        t.insert(conn(2, Some(2), 20));
        assert_eq!((t.pending(), t.pending_via(&b)), (2, 1));
        t.set_state(&ConnId(1), ConnState::Opened);
        assert_eq!((t.pending(), t.pending_via(&b)), (2, 1));
        t.set_state(&ConnId(1), ConnState::Living);
        assert_eq!((t.pending(), t.pending_via(&b)), (1, 0));
        t.set_state(&ConnId(1), ConnState::Dying);
        assert_eq!(t.pending(), 1);
        t.remove(&ConnId(1));
        t.remove(&ConnId(2));
        assert_eq!((t.pending(), t.pending_via(&b)), (0, 0));
    }
}
