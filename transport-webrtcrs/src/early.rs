//! Datagrams that arrive before webrtc-rs can use them, held and handed
//! to the library again once it can (see the crate docs, "Early packets").
//!
//! The `rtc` core under webrtc 0.21 drops two kinds of datagram that a
//! fast remote sends early:
//! - a STUN Binding request (an ICE check) that arrives before the remote
//!   description is applied: the ICE agent has no remote credentials yet
//!   and discards it (`rtc-ice` `Agent::handle_inbound`, "remote_credentials
//!   is none"), although RFC 8445 §7.3 asks for a response;
//! - a DTLS record that arrives before the ICE agent has selected a pair:
//!   the ICE handler drops every non-STUN datagram until then (`rtc`
//!   `IceHandler::handle_read`, "drop message ... before ICE connection is
//!   connected").
//!
//! Each loss costs a retransmission timer of the remote: libwebrtc resends
//! its DTLS ClientHello after 50 ms, libdatachannel after up to 1 s, str0m
//! its ICE check after 250 ms. [`HoldingSocket`] wraps the connection's UDP
//! socket (through the custom runtime's `wrap_udp_socket`) and keeps such
//! datagrams in [`EarlyPackets`] until the connection task reports the
//! remote description applied, or the library reports ICE connected (its
//! pair selected); the held datagrams are then returned by the socket's
//! next receive, in arrival order, before anything newer.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use webrtc::runtime::{AsyncUdpSocket, RecvMeta, Transmit};

use crate::conn::Counters;

/// Most datagrams held per connection (a handful is all a remote sends
/// before its retransmission timer fires; beyond this they go to the
/// library, which drops them as before).
pub(crate) const MAX_HELD: usize = 16;

/// What kind of early datagram this is, if it is one we may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A STUN Binding request: usable once the remote description is set.
    Check,
    /// A DTLS record: usable once ICE selected a pair.
    Dtls,
    /// A copy of the remote's last check, given to the library again right
    /// after a check of ours succeeded (see [`EarlyPackets::seen`]).
    Replay,
}

/// Whether `datagram` is a STUN Binding success response.
fn is_binding_success(datagram: &[u8]) -> bool {
    datagram.len() >= 20
        && datagram[..2] == [0x01, 0x01]
        && datagram[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

/// STUN attribute ICE-CONTROLLED (RFC 8445): the sender is the controlled
/// agent, so we are the controlling one.
const ATTR_ICE_CONTROLLED: u16 = 0x8029;

/// Whether the STUN message `m` carries attribute `typ`.
fn has_attribute(m: &[u8], typ: u16) -> bool {
    let mut at = 20;
    while at + 4 <= m.len() {
        let t = u16::from_be_bytes([m[at], m[at + 1]]);
        let len = usize::from(u16::from_be_bytes([m[at + 2], m[at + 3]]));
        if t == typ {
            return true;
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    false
}

/// Checks replayed per connection: the first success is the one that
/// matters (the pair it validates is nominated), later ones would only
/// add traffic.
const MAX_REPLAYS: u32 = 1;

fn kind(datagram: &[u8]) -> Option<Kind> {
    match datagram.first()? {
        // STUN: message type 0x0001 (Binding request) and the magic cookie.
        0 if datagram.len() >= 20
            && datagram[1] == 0x01
            && datagram[4..8] == [0x21, 0x12, 0xA4, 0x42] =>
        {
            Some(Kind::Check)
        }
        // DTLS content types (RFC 7983 demultiplexing: 20..=63).
        20..=63 => Some(Kind::Dtls),
        _ => None,
    }
}

struct Held {
    kind: Kind,
    data: Vec<u8>,
    meta: RecvMeta,
}

/// Per-connection state: whether the library can take each kind yet, and
/// what is held meanwhile.
pub(crate) struct EarlyPackets {
    /// The remote description is applied: ICE checks are usable.
    described: AtomicBool,
    /// ICE selected a pair: DTLS is usable.
    selected: AtomicBool,
    /// Hold nothing (the workaround is off, for measurement).
    off: bool,
    held: Mutex<VecDeque<Held>>,
    /// `held.len()`, readable without the lock.
    held_len: AtomicUsize,
    /// The driver's receive, to wake when held datagrams become usable.
    waker: Mutex<Option<Waker>>,
    /// The remote's last ICE check the library got, while no pair is
    /// selected (for [`Kind::Replay`]), and how many were replayed.
    last_check: Mutex<Option<(Vec<u8>, RecvMeta)>>,
    replays: std::sync::atomic::AtomicU32,
    /// A check from the remote reached the socket (held or not), and the
    /// wake-up for [`EarlyPackets::wait_remote_check`].
    remote_checked: AtomicBool,
    remote_check: tokio::sync::Notify,
    counters: Arc<Counters>,
}

impl fmt::Debug for EarlyPackets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EarlyPackets")
            .field("described", &self.described.load(Ordering::Relaxed))
            .field("selected", &self.selected.load(Ordering::Relaxed))
            .field("held", &self.held.lock().map(|h| h.len()).unwrap_or(0))
            .finish()
    }
}

impl EarlyPackets {
    /// `on`: hold early datagrams (off only to measure what they cost).
    pub(crate) fn new(on: bool, counters: &Arc<Counters>) -> Arc<Self> {
        Arc::new(EarlyPackets {
            described: AtomicBool::new(false),
            selected: AtomicBool::new(false),
            off: !on,
            held: Mutex::new(VecDeque::new()),
            held_len: AtomicUsize::new(0),
            waker: Mutex::new(None),
            last_check: Mutex::new(None),
            replays: std::sync::atomic::AtomicU32::new(0),
            remote_checked: AtomicBool::new(false),
            remote_check: tokio::sync::Notify::new(),
            counters: Arc::clone(counters),
        })
    }

    /// A check from the remote arrived (held or handed to the library).
    fn remote_check_seen(&self) {
        if !self.remote_checked.swap(true, Ordering::AcqRel) {
            self.remote_check.notify_one();
        }
    }

    /// Wait until a check from the remote has arrived, at most `max`;
    /// whether one did. At once when holding is off.
    ///
    /// Why (the offering side, before it applies the answer): our first
    /// check goes out the moment the answer is applied. If it reaches a
    /// libjuice (libdatachannel) remote before that agent's own first
    /// check has left, libjuice re-arms its check as a *triggered* check
    /// 50 ms later (`agent_arm_transmission(agent, entry,
    /// STUN_PACING_TIME)`, which overwrites the pending immediate
    /// transmission), and again for our nomination; its side of ICE then
    /// completes ~75 ms later. A remote that has our candidate (it is in
    /// the offer) checks right after answering, so its check is normally
    /// here before or with its answer: waiting for it costs nothing then,
    /// and it also lets the library nominate at once (see
    /// [`EarlyPackets::seen`]).
    pub(crate) async fn wait_remote_check(&self, max: std::time::Duration) -> bool {
        if self.off || self.remote_checked.load(Ordering::Acquire) {
            return !self.off;
        }
        let _ = tokio::time::timeout(max, self.remote_check.notified()).await;
        self.remote_checked.load(Ordering::Acquire)
    }

    /// The remote description is applied: held ICE checks are released.
    pub(crate) fn set_described(&self) {
        if !self.described.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    /// ICE selected a pair: held DTLS records are released.
    pub(crate) fn set_selected(&self) {
        if let Ok(mut last) = self.last_check.lock() {
            *last = None;
        }
        if !self.selected.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    fn wake(&self) {
        let waker = self.waker.lock().ok().and_then(|mut w| w.take());
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn usable(&self, kind: Kind) -> bool {
        match kind {
            Kind::Check => self.described.load(Ordering::Acquire),
            Kind::Dtls => self.selected.load(Ordering::Acquire),
            Kind::Replay => true,
        }
    }

    /// Nothing is or will be held: the socket is a plain pass-through.
    fn idle(&self) -> bool {
        self.off
            || (self.described.load(Ordering::Acquire)
                && self.selected.load(Ordering::Acquire)
                && self.held_len.load(Ordering::Acquire) == 0)
    }

    /// Keep a copy of `datagram` if the library cannot use it yet; whether
    /// it was kept.
    fn hold(&self, datagram: &[u8], meta: &RecvMeta) -> bool {
        if self.off {
            return false;
        }
        let Some(kind) = kind(datagram) else {
            return false;
        };
        if self.usable(kind) {
            return false;
        }
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        if kind == Kind::Dtls {
            // Before it hears from us, a DTLS client can only resend its
            // first flight (a ClientHello, in one datagram or, from
            // Chromium, two fragments): a datagram of the same length as a
            // held one is its resend. Keep the newest copy only, so the
            // library answers the flight once.
            if let Some(old) = held
                .iter()
                .position(|h| h.kind == Kind::Dtls && h.data.len() == datagram.len())
            {
                held.remove(old);
                self.counters
                    .early_superseded
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        if held.len() >= MAX_HELD {
            self.counters.early_overflow.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        held.push_back(Held {
            kind,
            data: datagram.to_vec(),
            meta: *meta,
        });
        self.held_len.store(held.len(), Ordering::Release);
        self.counters.early_held.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(?kind, len = datagram.len(), "early datagram held");
        if kind == Kind::Check {
            self.remote_check_seen();
        }
        true
    }

    /// `datagram` goes to the library now. While no pair is selected:
    /// remember the remote's latest check if the remote is the controlled
    /// agent (we nominate); and when a check of ours
    /// succeeded (a Binding success response), queue a copy of the remote's
    /// latest check from the same address to follow it.
    ///
    /// Why: webrtc 0.21's controlling agent nominates a pair that just
    /// turned valid only on its next check tick (`contact_candidates`), or
    /// at once when the remote's check arrives on a pair already valid
    /// (`handle_binding_request`). On loopback or a LAN the remote's check
    /// usually came *before* our check succeeded, so the nomination waits
    /// a whole tick. Giving the library that check again right after the
    /// success takes the immediate path. The library answers it a second
    /// time; the remote ignores a response to a transaction it finished.
    fn seen(&self, datagram: &[u8], meta: &RecvMeta) {
        if self.off || self.selected.load(Ordering::Acquire) {
            return;
        }
        if kind(datagram) == Some(Kind::Check) {
            self.remote_check_seen();
            // Only the controlling side nominates: remember checks from a
            // controlled remote. (Answering a controlling remote's check
            // twice made libdatachannel's agent stop before nominating.)
            if has_attribute(datagram, ATTR_ICE_CONTROLLED) {
                if let Ok(mut last) = self.last_check.lock() {
                    *last = Some((datagram.to_vec(), *meta));
                }
            }
            return;
        }
        if !is_binding_success(datagram) || self.replays.load(Ordering::Relaxed) >= MAX_REPLAYS {
            return;
        }
        let copy = self
            .last_check
            .lock()
            .ok()
            .and_then(|last| last.clone())
            .filter(|(_, m)| m.addr == meta.addr);
        let (Some((data, check_meta)), Ok(mut held)) = (copy, self.held.lock()) else {
            return;
        };
        self.replays.fetch_add(1, Ordering::Relaxed);
        held.push_back(Held {
            kind: Kind::Replay,
            data,
            meta: check_meta,
        });
        self.held_len.store(held.len(), Ordering::Release);
        self.counters
            .checks_replayed
            .fetch_add(1, Ordering::Relaxed);
        tracing::trace!("remote check queued for replay after our check succeeded");
    }

    /// Move the oldest held datagram the library can use now into
    /// `bufs[0]`/`meta[0]`; whether there was one.
    fn release_into(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> bool {
        let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut()) else {
            return false;
        };
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        let Some(i) = held.iter().position(|h| self.usable(h.kind)) else {
            return false;
        };
        let Some(h) = held.remove(i) else {
            return false;
        };
        self.held_len.store(held.len(), Ordering::Release);
        if held.is_empty() {
            // Setup is over in the common case: keep no capacity per idle
            // connection.
            held.shrink_to_fit();
        }
        let n = h.data.len().min(buf.len());
        buf[..n].copy_from_slice(&h.data[..n]);
        if h.kind == Kind::Check
            && !self.selected.load(Ordering::Acquire)
            && has_attribute(&h.data, ATTR_ICE_CONTROLLED)
        {
            if let Ok(mut last) = self.last_check.lock() {
                *last = Some((h.data.clone(), h.meta));
            }
        }
        *slot = h.meta;
        slot.len = n;
        slot.stride = n.max(1);
        if h.kind != Kind::Replay {
            self.counters.early_released.fetch_add(1, Ordering::Relaxed);
        }
        tracing::trace!(kind = ?h.kind, len = n, "early datagram released");
        true
    }
}

/// A connection's UDP socket with [`EarlyPackets`] in front of its
/// receive path; sending is the inner socket's.
#[derive(Debug)]
pub(crate) struct HoldingSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    early: Arc<EarlyPackets>,
}

impl HoldingSocket {
    pub(crate) fn new(inner: Arc<dyn AsyncUdpSocket>, early: Arc<EarlyPackets>) -> Self {
        HoldingSocket { inner, early }
    }
}

impl AsyncUdpSocket for HoldingSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        if self.early.idle() {
            return self.inner.poll_recv(cx, bufs, meta);
        }
        if self.early.release_into(bufs, meta) {
            return Poll::Ready(Ok(1));
        }
        loop {
            match self.inner.poll_recv(cx, bufs, meta) {
                // One datagram (the driver asks for one at a time): hold it
                // if it is early, and look for the next.
                Poll::Ready(Ok(1)) if meta[0].len == meta[0].stride.max(1) => {
                    let len = meta[0].len.min(bufs[0].len());
                    if self.early.hold(&bufs[0][..len], &meta[0]) {
                        continue;
                    }
                    self.early.seen(&bufs[0][..len], &meta[0]);
                    return Poll::Ready(Ok(1));
                }
                Poll::Pending => {
                    // Register for the release, then look again: a release
                    // made in between is seen either here or by the waker.
                    if let Ok(mut w) = self.early.waker.lock() {
                        *w = Some(cx.waker().clone());
                    }
                    if self.early.release_into(bufs, meta) {
                        return Poll::Ready(Ok(1));
                    }
                    return Poll::Pending;
                }
                other => return other,
            }
        }
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Binding request from a controlled agent (ICE-CONTROLLED, 8 bytes).
    fn check() -> Vec<u8> {
        let mut m = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&[0x80, 0x29, 0x00, 0x08]);
        m.extend_from_slice(&[1; 8]);
        m
    }

    /// The same from a controlling agent (ICE-CONTROLLING).
    fn controlling_check() -> Vec<u8> {
        let mut m = check();
        m[21] = 0x2A;
        m
    }

    #[test]
    fn finds_attributes() {
        assert!(has_attribute(&check(), ATTR_ICE_CONTROLLED));
        assert!(!has_attribute(&controlling_check(), ATTR_ICE_CONTROLLED));
        // A length running past the end is not read past it.
        let mut bad = check();
        bad[22] = 0xff;
        bad[20] = 0x00;
        assert!(!has_attribute(&bad, ATTR_ICE_CONTROLLED));
    }

    #[test]
    fn no_replay_when_the_remote_controls() {
        let counters = Arc::new(Counters::default());
        let early = EarlyPackets::new(true, &counters);
        early.set_described();
        let meta = RecvMeta::default();
        early.seen(&controlling_check(), &meta);
        let mut success = check();
        success[0] = 0x01;
        early.seen(&success, &meta);
        let mut buf = [0u8; 64];
        let mut metas = [RecvMeta::default()];
        assert!(!early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        assert_eq!(counters.checks_replayed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn classifies_checks_and_dtls_only() {
        assert_eq!(kind(&check()), Some(Kind::Check));
        // A Binding success response (a STUN server's answer) is never held.
        let mut response = check();
        response[0] = 0x01;
        assert_eq!(kind(&response), None);
        assert_eq!(kind(&[22, 0xfe, 0xfd]), Some(Kind::Dtls));
        assert_eq!(kind(&[0x80, 0, 0]), None);
        assert_eq!(kind(&[]), None);
    }

    #[test]
    fn holds_until_usable_and_releases_in_order() {
        let counters = Arc::new(Counters::default());
        let early = EarlyPackets::new(true, &counters);
        let meta = RecvMeta::default();
        assert!(early.hold(&[22, 0], &meta));
        assert!(early.hold(&[22, 9, 9], &meta), "another fragment: kept too");
        assert!(early.hold(&[22, 1], &meta), "a resend: supersedes [22, 0]");
        assert!(early.hold(&check(), &meta));
        assert!(early.hold(&check(), &meta));
        let mut buf = [0u8; 64];
        let mut metas = [RecvMeta::default()];
        assert!(!early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        early.set_described();
        for _ in 0..2 {
            assert!(early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
            assert_eq!(&buf[..metas[0].len], &check()[..]);
        }
        assert!(!early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        early.set_selected();
        assert!(early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        assert_eq!(&buf[..metas[0].len], &[22, 9, 9]);
        assert!(early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        assert_eq!(&buf[..metas[0].len], &[22, 1], "only the newest copy");
        assert!(!early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        // Usable now: passed through, not held.
        assert!(!early.hold(&[22, 3], &meta));
        assert_eq!(counters.early_held.load(Ordering::Relaxed), 5);
        assert_eq!(counters.early_superseded.load(Ordering::Relaxed), 1);
        assert_eq!(counters.early_released.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_success_response_brings_the_remote_check_again() {
        let counters = Arc::new(Counters::default());
        let early = EarlyPackets::new(true, &counters);
        early.set_described();
        let meta = RecvMeta::default();
        let mut buf = [0u8; 64];
        let mut metas = [RecvMeta::default()];
        // The remote's check goes to the library (usable), and is remembered.
        assert!(!early.hold(&check(), &meta));
        early.seen(&check(), &meta);
        assert!(!early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        // Our check succeeded: the remote's check follows once more.
        let mut success = check();
        success[0] = 0x01;
        early.seen(&success, &meta);
        assert!(early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
        assert_eq!(&buf[..metas[0].len], &check()[..]);
        assert_eq!(counters.checks_replayed.load(Ordering::Relaxed), 1);
        // Once a pair is selected, nothing more is replayed.
        early.set_selected();
        early.seen(&success, &meta);
        assert!(!early.release_into(&mut [IoSliceMut::new(&mut buf)], &mut metas));
    }

    /// The offering side waits for the remote's first check before it
    /// applies the answer: a check already here (held or passed on) ends
    /// the wait at once, one arriving during the wait ends it, and with
    /// none it gives up after the bound; holding off, it never waits.
    #[tokio::test]
    async fn waits_for_the_remote_check() {
        let counters = Arc::new(Counters::default());
        let meta = RecvMeta::default();
        let long = std::time::Duration::from_secs(10);

        let held = EarlyPackets::new(true, &counters);
        assert!(held.hold(&check(), &meta));
        assert!(held.wait_remote_check(long).await, "a held check counts");

        let passed = EarlyPackets::new(true, &counters);
        passed.set_described();
        passed.seen(&check(), &meta);
        assert!(
            passed.wait_remote_check(long).await,
            "a passed check counts"
        );

        let later = EarlyPackets::new(true, &counters);
        let waiter = {
            let later = Arc::clone(&later);
            tokio::spawn(async move { later.wait_remote_check(long).await })
        };
        tokio::task::yield_now().await;
        later.set_described();
        later.seen(&check(), &meta);
        let woke = tokio::time::timeout(long, waiter).await;
        assert!(
            matches!(woke, Ok(Ok(true))),
            "a check during the wait ends it"
        );

        let none = EarlyPackets::new(true, &counters);
        let mut response = check();
        response[0] = 0x01;
        none.seen(&response, &meta);
        assert!(
            !none
                .wait_remote_check(std::time::Duration::from_millis(5))
                .await,
            "no check: the wait gives up"
        );

        let off = EarlyPackets::new(false, &counters);
        assert!(!off.wait_remote_check(long).await, "off: no wait");
    }

    #[test]
    fn bounded() {
        let counters = Arc::new(Counters::default());
        let early = EarlyPackets::new(true, &counters);
        let meta = RecvMeta::default();
        for _ in 0..MAX_HELD {
            assert!(early.hold(&check(), &meta));
        }
        assert!(!early.hold(&check(), &meta), "past the bound: not held");
        assert_eq!(counters.early_overflow.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn off_holds_nothing() {
        let counters = Arc::new(Counters::default());
        let early = EarlyPackets::new(false, &counters);
        assert!(!early.hold(&[22], &RecvMeta::default()));
    }
}
