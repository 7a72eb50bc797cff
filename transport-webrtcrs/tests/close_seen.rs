//! A local `Close` on one side is seen by the other as a graceful remote
//! close, and the closing side emits nothing more for the connection.

mod common;

use std::time::Duration;

use common::{Pair, Side};
use overlay_core::{CloseReason, TransportCommand, TransportEvent};
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_seen_by_the_remote() {
    common::init_tracing();
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport a");
    let b = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport b");
    let mut pair = Pair::new(a, b);
    pair.open(Side::A).await;
    let conn = pair.conn;

    pair.command(Side::A, TransportCommand::Close { conn });
    match pair.next().await {
        (Side::B, TransportEvent::Closed { reason, .. }) => assert_eq!(reason, CloseReason::Remote),
        other => panic!("expected B to see the close, got {other:?}"),
    }
    // A asked for the close: it reports nothing more for the connection.
    assert!(
        pair.next_within(Duration::from_millis(500)).await.is_none(),
        "event after a local close"
    );
    assert_eq!(pair.a.stats().connections, 0);
    assert_eq!(pair.b.stats().connections, 0);
    // Both sides' connection tasks end.
    let (pa, pb) = (pair.a.task_probe(), pair.b.task_probe());
    common::eventually("all connection tasks end", || {
        pa.live_tasks() == 0 && pb.live_tasks() == 0
    })
    .await;
}
