//! The engine's deadlines, kept sorted so that the next one is found in
//! O(log n) and a timeout touches only the entries that are due (a hub
//! with 10,000 connections asks for its next deadline on every wake-up).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::id::{ConnId, RequestId};

/// Why the engine wants to be woken up: the reason of the deadline
/// [`crate::Engine::poll_timeout`] returns (see
/// [`crate::Engine::poll_timeout_reason`]), so a trace can say which timer
/// fired, as str0m's `Reason` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// Signals the transport produced wait to leave as one signed bundle
    /// (due at once).
    SignalBundle,
    /// A handshake reaches its pending timeout.
    PendingTimeout,
    /// A dying connection (no arc left) reaches its dying timeout.
    DyingTimeout,
    /// A `ConnectTo` this node sent as a bridge gets no answer in time.
    BridgeWait,
    /// Signals kept for a handshake not known yet expire.
    EarlySignals,
}

/// What a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TimerKey {
    /// A pending or dying connection.
    Conn(ConnId),
    /// A `ConnectTo` waiting for its `ConnectDone`.
    BridgeWait(RequestId),
}

/// Deadlines by key, sorted by time: at most one per key.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    sorted: BTreeSet<(Instant, TimerKey)>,
    by_key: BTreeMap<TimerKey, Instant>,
}

impl Deadlines {
    /// Set `key`'s deadline to `at` (replacing the one it had).
    pub(crate) fn set(&mut self, key: TimerKey, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.sorted.remove(&(old, key));
        }
        self.sorted.insert((at, key));
    }

    /// `key` has no deadline any more.
    pub(crate) fn clear(&mut self, key: TimerKey) {
        if let Some(old) = self.by_key.remove(&key) {
            self.sorted.remove(&(old, key));
        }
    }

    /// The earliest deadline.
    pub(crate) fn first(&self) -> Option<(Instant, TimerKey)> {
        self.sorted.first().copied()
    }

    /// Every key due at or before `now`, earliest first (they stay set).
    pub(crate) fn due(&self, now: Instant) -> Vec<TimerKey> {
        self.sorted
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, k)| *k)
            .collect()
    }

    /// `key`'s deadline.
    pub(crate) fn get(&self, key: TimerKey) -> Option<Instant> {
        self.by_key.get(&key).copied()
    }

    /// Forget every deadline.
    pub(crate) fn clear_all(&mut self) {
        self.sorted.clear();
        self.by_key.clear();
    }

    /// Deadlines held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        debug_assert_eq!(self.sorted.len(), self.by_key.len());
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_deadline_comes_first_and_each_key_has_one() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Deadlines::default();
        assert_eq!(d.first(), None);
        d.set(TimerKey::Conn(ConnId(1)), t0 + s(10));
        d.set(TimerKey::Conn(ConnId(2)), t0 + s(5));
        d.set(TimerKey::BridgeWait(RequestId(1)), t0 + s(7));
        assert_eq!(d.first(), Some((t0 + s(5), TimerKey::Conn(ConnId(2)))));
        // Moving a deadline replaces it.
        d.set(TimerKey::Conn(ConnId(2)), t0 + s(60));
        assert_eq!(d.len(), 3);
        assert_eq!(
            d.first(),
            Some((t0 + s(7), TimerKey::BridgeWait(RequestId(1))))
        );
        assert_eq!(d.get(TimerKey::Conn(ConnId(2))), Some(t0 + s(60)));
        // Only what is due, earliest first.
        assert_eq!(d.due(t0 + s(6)), vec![]);
        assert_eq!(
            d.due(t0 + s(10)),
            vec![
                TimerKey::BridgeWait(RequestId(1)),
                TimerKey::Conn(ConnId(1))
            ]
        );
        d.clear(TimerKey::BridgeWait(RequestId(1)));
        d.clear(TimerKey::BridgeWait(RequestId(1)));
        assert_eq!(d.len(), 2);
        assert_eq!(d.first(), Some((t0 + s(10), TimerKey::Conn(ConnId(1)))));
        d.clear_all();
        assert_eq!(d.len(), 0);
        assert_eq!(d.first(), None);
    }

    #[test]
    fn equal_deadlines_are_all_kept() {
        let t = Instant::now();
        let mut d = Deadlines::default();
        for i in 0..100 {
            d.set(TimerKey::Conn(ConnId(i)), t);
        }
        assert_eq!(d.len(), 100);
        assert_eq!(d.due(t).len(), 100);
        for i in 0..100 {
            d.clear(TimerKey::Conn(ConnId(i)));
        }
        assert_eq!(d.first(), None);
    }
}
