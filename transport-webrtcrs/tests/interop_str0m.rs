//! Cross-backend interop: a webrtc-rs transport and a str0m transport open
//! a connection, each side offering in turn, carry frames both ways in
//! order, move a bulk transfer under the credit rule, and each side sees
//! the other's close.

mod common;

use common::{frame_seq, numbered_frame, Pair, Side};
use n2n_test_support::pair::assert_closed_by_remote;
use overlay_core::{Transport, TransportCommand, TransportEvent};
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
    pair.exchange_both_ways(500, |seq| 4 + (seq as usize * 1499) % (16 * 1024))
        .await;

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
    assert_closed_by_remote(&event);
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
