//! Two webrtc-rs transports open a connection (each side offering in turn)
//! and carry frames both ways, whole and in order.

mod common;

use common::{frame_seq, numbered_frame, Pair, Side};
use overlay_core::TransportEvent;
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

const FRAMES: u32 = 300;

async fn exchange(initiator: Side) {
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport a");
    let b = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport b");
    let mut pair = Pair::new(a, b);
    pair.open(initiator).await;

    // Frames of varied sizes (1 byte .. 16 KiB) both ways, interleaved.
    for seq in 0..FRAMES {
        let len = 4 + (seq as usize * 997) % (16 * 1024);
        pair.send(Side::A, numbered_frame(seq, len));
        pair.send(Side::B, numbered_frame(seq, len));
    }
    let (mut next_at_a, mut next_at_b) = (0u32, 0u32);
    let (mut sent_a, mut sent_b) = (0usize, 0usize);
    let total: usize = (0..FRAMES)
        .map(|seq| (4 + (seq as usize * 997) % (16 * 1024)).max(4))
        .sum();
    while next_at_a < FRAMES || next_at_b < FRAMES || sent_a < total || sent_b < total {
        match pair.next().await {
            (Side::A, TransportEvent::Frame { frame, .. }) => {
                assert_eq!(frame_seq(&frame), next_at_a, "frames at A out of order");
                next_at_a += 1;
            }
            (Side::B, TransportEvent::Frame { frame, .. }) => {
                assert_eq!(frame_seq(&frame), next_at_b, "frames at B out of order");
                next_at_b += 1;
            }
            (Side::A, TransportEvent::Sent { bytes, .. }) => sent_a += bytes,
            (Side::B, TransportEvent::Sent { bytes, .. }) => sent_b += bytes,
            other => panic!("unexpected event: {other:?}"),
        }
    }
    assert_eq!(
        (sent_a, sent_b),
        (total, total),
        "Sent reports each byte once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_offers_frames_both_ways() {
    common::init_tracing();
    exchange(Side::A).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_offers_frames_both_ways() {
    common::init_tracing();
    exchange(Side::B).await;
}
