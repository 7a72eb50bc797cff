//! Cross-backend interop: a webrtc-rs transport and a str0m transport open
//! a connection, each side offering in turn, carry frames both ways in
//! order, move a bulk transfer under the credit rule, and each side sees
//! the other's close.

mod common;

use common::{frame_seq, numbered_frame, Pair, Side};
use overlay_core::{CloseReason, Transport, TransportCommand, TransportEvent};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::WebRtcTransport;

/// A = webrtc-rs, B = str0m.
async fn scenario(initiator: Side, closer: Side) {
    common::init_tracing();
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("webrtc-rs transport");
    let b = Str0mTransport::bind(&RtcConfig::loopback()).expect("str0m transport");
    let mut pair = Pair::new(a, b);
    pair.open(initiator).await;

    // 500 frames each way, sizes 4 B .. 16 KiB, interleaved.
    const N: u32 = 500;
    let size = |seq: u32| 4 + (seq as usize * 1499) % (16 * 1024);
    for seq in 0..N {
        pair.send(Side::A, numbered_frame(seq, size(seq)));
        pair.send(Side::B, numbered_frame(seq, size(seq)));
    }
    let total: usize = (0..N).map(size).sum();
    let (mut at_a, mut at_b, mut sent_a, mut sent_b) = (0u32, 0u32, 0usize, 0usize);
    while at_a < N || at_b < N || sent_a < total || sent_b < total {
        match pair.next().await {
            (Side::A, TransportEvent::Frame { frame, .. }) => {
                assert_eq!(frame_seq(&frame), at_a, "str0m -> webrtc-rs out of order");
                at_a += 1;
            }
            (Side::B, TransportEvent::Frame { frame, .. }) => {
                assert_eq!(frame_seq(&frame), at_b, "webrtc-rs -> str0m out of order");
                at_b += 1;
            }
            (Side::A, TransportEvent::Sent { bytes, .. }) => sent_a += bytes,
            (Side::B, TransportEvent::Sent { bytes, .. }) => sent_b += bytes,
            other => panic!("unexpected {other:?}"),
        }
    }

    // Bulk, webrtc-rs -> str0m, never more than the window in flight.
    const BULK: u32 = 1000;
    const SIZE: usize = 16 * 1024;
    let window = pair.a.send_window();
    let (mut in_flight, mut next, mut got) = (0usize, 0u32, 0u32);
    while got < BULK || in_flight > 0 {
        while next < BULK && in_flight + SIZE <= window {
            pair.send(Side::A, numbered_frame(next, SIZE));
            in_flight += SIZE;
            next += 1;
        }
        match pair.next().await {
            (Side::A, TransportEvent::Sent { bytes, .. }) => in_flight -= bytes,
            (Side::B, TransportEvent::Frame { frame, .. }) => {
                assert_eq!(frame_seq(&frame), got, "bulk out of order");
                got += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    let conn = pair.conn;
    pair.command(closer, TransportCommand::Close { conn });
    let (side, event) = pair.next().await;
    assert_ne!(side, closer, "the closing side reports nothing");
    assert!(
        matches!(
            event,
            TransportEvent::Closed {
                reason: CloseReason::Remote,
                ..
            }
        ),
        "got {event:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtcrs_offers_str0m_answers() {
    scenario(Side::A, Side::A).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn str0m_offers_webrtcrs_answers() {
    scenario(Side::B, Side::B).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn str0m_closes_webrtcrs_sees_it() {
    scenario(Side::A, Side::B).await;
}
