//! Arc counts of one connection, per protocol, both directions.

use std::collections::BTreeMap;

use crate::id::ProtocolId;

/// Arc counts of one protocol on one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArcCounts {
    /// Arcs this peer -> remote (outview multiplicity).
    pub out: u32,
    /// Arcs remote -> this peer (inview multiplicity).
    pub incoming: u32,
    /// How many of the `out` arcs are pinned.
    pub pinned: u32,
}

/// Arc counts per protocol for one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArcTable {
    by_protocol: BTreeMap<ProtocolId, ArcCounts>,
}

impl ArcTable {
    pub(crate) fn get(&self, p: &ProtocolId) -> ArcCounts {
        self.by_protocol.get(p).copied().unwrap_or_default()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ProtocolId, &ArcCounts)> {
        self.by_protocol.iter()
    }

    /// Protocols with an entry (arcs, either direction).
    pub(crate) fn protocols(&self) -> usize {
        self.by_protocol.len()
    }

    /// Whether `p` has an entry.
    pub(crate) fn has(&self, p: &ProtocolId) -> bool {
        self.by_protocol.contains_key(p)
    }

    /// Whether `n` more arcs of `p` in direction `out` (else in) would
    /// stay within `max_arcs` and `max_protocols`.
    pub(crate) fn room_for(
        &self,
        p: &ProtocolId,
        out: bool,
        n: u32,
        max_arcs: u32,
        max_protocols: usize,
    ) -> bool {
        let c = self.get(p);
        let have = if out { c.out } else { c.incoming };
        let fits = u64::from(have) + u64::from(n) <= u64::from(max_arcs);
        fits && (self.has(p) || self.protocols() < max_protocols)
    }

    fn entry(&mut self, p: ProtocolId) -> &mut ArcCounts {
        self.by_protocol.entry(p).or_default()
    }

    fn prune(&mut self, p: &ProtocolId) {
        if self
            .by_protocol
            .get(p)
            .is_some_and(|c| c.out == 0 && c.incoming == 0)
        {
            self.by_protocol.remove(p);
        }
    }

    /// Add `n` outgoing arcs; the new count.
    pub(crate) fn add_out(&mut self, p: ProtocolId, n: u32) -> u32 {
        let c = self.entry(p);
        c.out = c.out.saturating_add(n);
        c.out
    }

    /// Add `n` incoming arcs; the new count.
    pub(crate) fn add_in(&mut self, p: ProtocolId, n: u32) -> u32 {
        let c = self.entry(p);
        c.incoming = c.incoming.saturating_add(n);
        c.incoming
    }

    /// Remove one unpinned outgoing arc; the new count, or `None` if none.
    pub(crate) fn remove_out_unpinned(&mut self, p: &ProtocolId) -> Option<u32> {
        let c = self.by_protocol.get_mut(p)?;
        if c.out <= c.pinned {
            return None;
        }
        c.out -= 1;
        let left = c.out;
        self.prune(p);
        Some(left)
    }

    /// Remove up to `n` incoming arcs; (removed, left).
    pub(crate) fn remove_in(&mut self, p: &ProtocolId, n: u32) -> (u32, u32) {
        let Some(c) = self.by_protocol.get_mut(p) else {
            return (0, 0);
        };
        let removed = n.min(c.incoming);
        c.incoming -= removed;
        let left = c.incoming;
        self.prune(p);
        (removed, left)
    }

    pub(crate) fn pin(&mut self, p: &ProtocolId) -> bool {
        match self.by_protocol.get_mut(p) {
            Some(c) if c.pinned < c.out => {
                c.pinned += 1;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn unpin(&mut self, p: &ProtocolId) -> bool {
        match self.by_protocol.get_mut(p) {
            Some(c) if c.pinned > 0 => {
                c.pinned -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether no arc of any protocol rides this connection.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_protocol
            .values()
            .all(|c| c.out == 0 && c.incoming == 0)
    }

    /// Take every arc out (connection gone).
    pub(crate) fn drain(&mut self) -> BTreeMap<ProtocolId, ArcCounts> {
        std::mem::take(&mut self.by_protocol)
    }
}
