//! One DTLS certificate per node (`Options::certificate_per_node`, on by
//! default): every offer of a transport announces the same fingerprint;
//! with the option off, each connection has its own. That the shared
//! certificate works for many connections at once is what the conformance
//! suite and the overlay tests run with (the default).

mod common;

use std::time::{Duration, Instant};

use futures::future::poll_fn;
use overlay_core::{
    ConnId, Fingerprint, Role, Signal, Transport, TransportCommand, TransportEvent,
};
use rtc_common::RtcConfig;
use transport_webrtcrs::{Options, WebRtcTransport};

/// The fingerprints of the offers of `n` connections opened by one
/// transport made with `options`, in connection order.
async fn offer_fingerprints(options: Options, n: u64) -> Vec<Fingerprint> {
    common::init_tracing();
    let mut t = WebRtcTransport::bind_with_options(&RtcConfig::loopback(), options)
        .expect("webrtc-rs transport");
    for c in 1..=n {
        t.handle_command(
            Instant::now(),
            TransportCommand::Open {
                conn: ConnId(c),
                role: Role::Initiator,
            },
        )
        .expect("open");
    }
    let mut found: Vec<Option<Fingerprint>> = vec![None; usize::try_from(n).expect("small n")];
    while found.iter().any(Option::is_none) {
        let event = tokio::time::timeout(Duration::from_secs(10), poll_fn(|cx| t.poll_event(cx)))
            .await
            .expect("an offer within 10 s");
        if let TransportEvent::Signal {
            conn,
            signal: Signal::Offer { sdp },
        } = event
        {
            let slot = usize::try_from(conn.0 - 1).expect("small conn id");
            found[slot] = Some(Fingerprint::from_sdp(&sdp).expect("a sha-256 fingerprint"));
        }
    }
    found.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offers_one_certificate_for_all_its_connections() {
    let prints = offer_fingerprints(Options::default(), 3).await;
    assert_eq!(prints.len(), 3);
    assert!(prints.iter().all(|p| *p == prints[0]), "{prints:?}");
    // Another node has another certificate.
    let other = offer_fingerprints(Options::default(), 1).await;
    assert_ne!(other[0], prints[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_each_connection_has_its_own_certificate() {
    let prints = offer_fingerprints(Options::default().with_certificate_per_node(false), 3).await;
    assert_eq!(prints.len(), 3);
    for (i, a) in prints.iter().enumerate() {
        for b in &prints[i + 1..] {
            assert_ne!(a, b, "{prints:?}");
        }
    }
}
