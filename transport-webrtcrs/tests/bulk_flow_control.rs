//! Bulk transfer under the engine's credit rule: never more than
//! `send_window` bytes unreported by `Sent`; every frame arrives, whole and
//! in order, and every byte is reported sent exactly once.

mod common;

use common::{frame_seq, numbered_frame, Pair, Side};
use overlay_core::{Transport, TransportEvent};
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_respects_credit_and_loses_nothing() {
    common::init_tracing();
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport a");
    let b = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport b");
    let mut pair = Pair::new(a, b);
    pair.open(Side::A).await;

    const FRAMES: u32 = 2_000;
    const SIZE: usize = 16 * 1024;
    let window = pair.a.send_window();
    assert!(window >= SIZE);
    let (mut in_flight, mut next, mut received, mut sent_total) = (0usize, 0u32, 0u32, 0usize);
    let mut max_in_flight = 0;
    while received < FRAMES || sent_total < FRAMES as usize * SIZE {
        while next < FRAMES && in_flight + SIZE <= window {
            pair.send(Side::A, numbered_frame(next, SIZE));
            in_flight += SIZE;
            next += 1;
        }
        max_in_flight = max_in_flight.max(in_flight);
        match pair.next().await {
            (Side::A, TransportEvent::Sent { bytes, .. }) => {
                assert!(bytes <= in_flight, "Sent reports more than was handed over");
                in_flight -= bytes;
                sent_total += bytes;
            }
            (Side::B, TransportEvent::Frame { frame, .. }) => {
                assert_eq!(frame.len(), SIZE);
                assert_eq!(frame_seq(&frame), received, "out of order");
                received += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sent_total, FRAMES as usize * SIZE);
    assert!(max_in_flight <= window);
    assert_eq!(pair.a.stats().dropped_callbacks, 0);
}
