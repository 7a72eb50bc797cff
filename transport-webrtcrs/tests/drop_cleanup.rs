//! Dropping a transport is a crash (the transport contract): its remote
//! reports the connection timed out, and nothing of it keeps running; a
//! connection whose remote disappears without a word is reported as timed
//! out within seconds (`RtcConfig::silence_timeout`, 4 s by default).

mod common;

use std::time::{Duration, Instant};

use common::{Pair, Side};
use overlay_core::{CloseReason, TransportEvent};
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

/// Generous bound on noticing a silent remote (default silence timeout 4 s;
/// ICE took 7 s and more with the library's timeouts before). A guard, not
/// a timing goal.
const NOTICE_BOUND: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_transport_is_a_crash_and_frees_everything() {
    common::init_tracing();
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport a");
    let b = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport b");
    let probe_a = a.task_probe();
    let mut pair = Pair::new(a, b);
    pair.open(Side::B).await;
    assert_eq!(probe_a.live_tasks(), 1, "one connection task");

    // Replace A by a fresh transport; the old one is dropped.
    let Pair { a, b, .. } = pair;
    drop(a);
    let mut b = b;
    let event = tokio::time::timeout(
        NOTICE_BOUND,
        std::future::poll_fn(|cx| overlay_core::Transport::poll_event(&mut b, cx)),
    )
    .await
    .expect("B notices the crash");
    assert!(
        matches!(
            event,
            TransportEvent::Closed {
                reason: CloseReason::TimedOut,
                ..
            }
        ),
        "got {event:?}"
    );
    common::eventually("the dropped transport's tasks end", || {
        probe_a.live_tasks() == 0
    })
    .await;
    let probe_b = b.task_probe();
    common::eventually("the remote's tasks end", || probe_b.live_tasks() == 0).await;
}

#[test]
fn a_silent_remote_is_reported_timed_out() {
    common::init_tracing();
    // B lives on its own runtime; shutting that runtime down stops B's tasks
    // and webrtc-rs driver without running any close path: from A's side the
    // remote just goes silent.
    let rt_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime a");
    let rt_b = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime b");
    let a = {
        let _guard = rt_a.enter();
        WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport a")
    };
    let b = {
        let _guard = rt_b.enter();
        WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport b")
    };
    let (a, b) = rt_a.block_on(async {
        let mut pair = Pair::new(a, b);
        pair.open(Side::A).await;
        (pair.a, pair.b)
    });
    let probe_b = b.task_probe();
    rt_b.shutdown_background();
    let start = Instant::now();
    // B's transport still exists (its tasks were killed with the runtime),
    // so nothing of B's can have said goodbye.
    let reason = rt_a.block_on(async move {
        let mut a = a;
        let event = tokio::time::timeout(
            NOTICE_BOUND,
            std::future::poll_fn(|cx| overlay_core::Transport::poll_event(&mut a, cx)),
        )
        .await
        .expect("A notices the silence");
        println!(
            "silent remote reported after {:.2} s",
            start.elapsed().as_secs_f64()
        );
        match event {
            TransportEvent::Closed { reason, .. } => reason,
            other => panic!("expected Closed, got {other:?}"),
        }
    });
    assert_eq!(reason, CloseReason::TimedOut);
    drop(b);
    assert_eq!(
        probe_b.live_tasks(),
        0,
        "B's tasks were dropped with its runtime"
    );
}
