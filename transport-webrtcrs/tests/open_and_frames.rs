//! Two webrtc-rs transports open a connection (each side offering in turn)
//! and carry frames both ways, whole and in order.

mod common;

use common::{Pair, Side};
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

const FRAMES: u32 = 300;

async fn exchange(initiator: Side) {
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport a");
    let b = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport b");
    let mut pair = Pair::new(a, b);
    pair.open(initiator).await;

    // Frames of varied sizes (4 bytes .. 16 KiB) both ways, interleaved.
    pair.exchange_both_ways(FRAMES, |seq| 4 + (seq as usize * 997) % (16 * 1024))
        .await;
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
