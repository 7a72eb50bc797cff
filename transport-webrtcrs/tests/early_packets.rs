//! Datagrams that arrive before webrtc-rs can use them are held and handed
//! to the library later, not lost (`Options::hold_early_packets`).
//!
//! The scenario: webrtc-rs (A) offers to str0m (B), and B's answer is held
//! back in the signaling path while B's candidates reach A. B starts its
//! ICE checks at once; they reach A before A has B's answer, when the
//! library (webrtc 0.21's ICE agent, no remote credentials yet) would drop
//! them. The transport must keep them and give them to the library once
//! the answer is applied: counted held, then released, and the connection
//! opens.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Pair, Side};
use overlay_core::{Signal, TransportCommand, TransportEvent};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::{Options, WebRtcTransport};

/// Runs the scenario; returns A's (held, released) counters.
async fn answer_late(hold: bool) -> (u64, u64) {
    common::init_tracing();
    let a = WebRtcTransport::bind_with_options(
        &RtcConfig::loopback(),
        Options::default().with_hold_early_packets(hold),
    )
    .expect("webrtc-rs transport");
    let b = Str0mTransport::bind(&RtcConfig::loopback()).expect("str0m transport");
    let mut pair = Pair::new(a, b);
    let answer: Arc<Mutex<Option<Signal>>> = Arc::default();
    let slot = Arc::clone(&answer);
    pair.hook = Some(Box::new(move |side, signal| {
        if side == Side::B && matches!(signal, Signal::Answer { .. }) {
            *slot.lock().expect("slot") = Some(signal);
            return vec![];
        }
        vec![signal]
    }));
    let conn = pair.conn;
    pair.command(
        Side::A,
        TransportCommand::Open {
            conn,
            role: overlay_core::Role::Initiator,
        },
    );
    pair.command(
        Side::B,
        TransportCommand::Open {
            conn,
            role: overlay_core::Role::Acceptor,
        },
    );

    // Until B has answered and A has seen B's checks (with holding on), or
    // for a while (off: the library drops them, nothing to wait for).
    let deadline = tokio::time::Instant::now() + common::GUARD;
    let mut waited = Duration::ZERO;
    loop {
        if let Some(event) = pair.next_within(Duration::from_millis(10)).await {
            panic!("unexpected event before the answer: {event:?}");
        }
        waited += Duration::from_millis(10);
        let answered = answer.lock().expect("slot").is_some();
        let held = pair.a.stats().early_held > 0;
        if answered && (held || (!hold && waited >= Duration::from_millis(300))) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never answered, or A never held B's checks"
        );
    }
    let held_before = pair.a.stats().early_held;
    assert_eq!(
        pair.a.stats().early_released,
        0,
        "nothing is released before the answer is applied"
    );

    // Now the answer: the held checks go to the library, the connection opens.
    let late = answer.lock().expect("slot").take().expect("the answer");
    pair.deliver(Side::B, late);
    let (mut a_open, mut b_open) = (false, false);
    while !(a_open && b_open) {
        match pair.next().await {
            (Side::A, TransportEvent::Opened { .. }) => a_open = true,
            (Side::B, TransportEvent::Opened { .. }) => b_open = true,
            other => panic!("unexpected event while opening: {other:?}"),
        }
    }
    let s = pair.a.stats();
    assert!(s.early_held >= held_before);
    assert_eq!(s.early_overflow, 0, "a handful of checks fit the bound");
    (s.early_held, s.early_released)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_before_the_answer_are_held_then_given_to_the_library() {
    let (held, released) = answer_late(true).await;
    assert!(held > 0, "B's early checks were held");
    assert_eq!(released, held, "every held datagram reached the library");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_holding_off_nothing_is_held() {
    let (held, released) = answer_late(false).await;
    assert_eq!((held, released), (0, 0));
}
