//! Both ends of an open connection report the ICE round-trip time
//! (`Transport::rtt`, shown in the node's `ConnectionInfo::rtt`).

mod common;

use std::time::Duration;

use common::{Pair, Side};
use overlay_core::{ConnId, Transport};
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_report_their_rtt() {
    common::init_tracing();
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport a");
    let b = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport b");
    let mut pair = Pair::new(a, b);
    pair.open(Side::A).await;
    let conn = pair.conn;
    let deadline = tokio::time::Instant::now() + common::GUARD;
    while pair.a.rtt(conn).is_none() || pair.b.rtt(conn).is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no RTT measured");
        if let Some(got) = pair.next_within(Duration::from_millis(200)).await {
            panic!("nothing expected on an idle connection, got {got:?}");
        }
    }
    for (side, rtt) in [("A", pair.a.rtt(conn)), ("B", pair.b.rtt(conn))] {
        let rtt = rtt.unwrap_or_default();
        println!("{side}: rtt {rtt:?}");
        assert!(
            rtt > Duration::ZERO && rtt < Duration::from_secs(1),
            "{rtt:?}"
        );
    }
    assert_eq!(pair.a.rtt(ConnId(99)), None, "unknown connection");
}
