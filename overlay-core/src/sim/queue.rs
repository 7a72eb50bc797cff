//! The event queue on the virtual clock: a min-heap on `(time, sequence)`,
//! so events at the same instant keep the order they were scheduled in.
//!
//! The heap holds small keys (24 bytes); the items themselves (a transport
//! event, a signal envelope: a few hundred bytes) stay put in a slab, so
//! sifting the heap moves keys, not items.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::id::ConnId;
use crate::signal::SignalEnvelope;
use crate::transport::TransportEvent;

use super::network::NodeId;

/// Something that happens at a point of virtual time.
#[derive(Debug)]
pub(crate) enum Item {
    /// A transport event for `node`'s engine. `forced` events (fault
    /// injection) reach the engine even if the transport does not know the
    /// connection.
    Transport {
        node: NodeId,
        event: TransportEvent,
        forced: bool,
    },
    /// `node`'s engine deadline may be due.
    Timer { node: NodeId },
    /// An out-of-band signal reaches `to` through the signaling server.
    Signal {
        to: NodeId,
        envelope: SignalEnvelope,
    },
    /// Consent check of a connection cut by the partition of `epoch`.
    Consent {
        node: NodeId,
        conn: ConnId,
        epoch: u64,
    },
    /// A handshake that had this long to connect: report it failed if not open.
    HandshakeDeadline { node: NodeId, conn: ConnId },
}

impl Item {
    /// Timers are bookkeeping, not network activity.
    fn is_activity(&self) -> bool {
        !matches!(self, Item::Timer { .. })
    }
}

struct Entry {
    at: Duration,
    seq: u64,
    /// Where the item waits in [`Queue::slots`].
    slot: u32,
    /// Counted as network activity (see [`Queue::push`]).
    active: bool,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we want the earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The queue and the virtual clock.
#[derive(Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Entry>,
    /// The items of the heap's entries, by slot; `None` when free.
    slots: Vec<Option<Item>>,
    /// Free slots.
    free: Vec<u32>,
    seq: u64,
    now: Duration,
    /// Entries that are network activity (everything but timers).
    active: usize,
}

impl Queue {
    /// Virtual time since the start of the run.
    pub(crate) fn now(&self) -> Duration {
        self.now
    }

    /// Schedule `item` at `at` (not before now).
    ///
    /// A timer due at once counts as activity: the engine has work to do
    /// at this instant (signals waiting to leave as one bundle).
    pub(crate) fn push(&mut self, at: Duration, item: Item) {
        let active = item.is_activity() || at <= self.now;
        if active {
            self.active += 1;
        }
        let at = at.max(self.now);
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(item);
                slot
            }
            None => {
                self.slots.push(Some(item));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Entry {
            at,
            seq: self.seq,
            slot,
            active,
        });
    }

    /// Schedule `item` after `delay`.
    pub(crate) fn after(&mut self, delay: Duration, item: Item) {
        self.push(self.now + delay, item);
    }

    /// When the next entry is due.
    pub(crate) fn next_at(&self) -> Option<Duration> {
        self.heap.peek().map(|e| e.at)
    }

    /// Take the next entry and move the clock to it.
    pub(crate) fn pop(&mut self) -> Option<(Duration, Item)> {
        let e = self.heap.pop()?;
        if e.active {
            self.active -= 1;
        }
        self.now = self.now.max(e.at);
        let item = self.slots.get_mut(e.slot as usize)?.take()?;
        self.free.push(e.slot);
        Some((e.at, item))
    }

    /// Move the clock forward to `t` (when nothing is due before it).
    pub(crate) fn advance_to(&mut self, t: Duration) {
        self.now = self.now.max(t);
    }

    /// Whether network activity (anything but timers) is scheduled.
    pub(crate) fn has_activity(&self) -> bool {
        self.active > 0
    }

    /// Entries scheduled.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
