//! Both backends report the candidate pair a connection selected
//! (`paths()`), and forget it when the connection closes: a webrtc-rs and
//! a str0m transport on loopback (host candidates only) both say host/host.

mod common;

use common::{eventually, Pair, Side};
use overlay_core::TransportCommand;
use rtc_common::paths::{CandidateKind, SelectedPath};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::WebRtcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_report_the_selected_pair_and_forget_it_on_close() {
    common::init_tracing();
    let a = WebRtcTransport::bind(&RtcConfig::loopback()).expect("webrtc-rs transport");
    let b = Str0mTransport::bind(&RtcConfig::loopback()).expect("str0m transport");
    let (paths_a, paths_b) = (a.paths(), b.paths());
    let mut pair = Pair::new(a, b);
    let conn = pair.conn;
    assert_eq!(paths_a.get(conn), None);
    pair.open(Side::A).await;

    let host = SelectedPath::new(CandidateKind::Host, CandidateKind::Host);
    // str0m records it before reporting the open; webrtc-rs when its
    // connection state turns connected (its own task).
    assert_eq!(paths_b.get(conn), Some(host));
    eventually("webrtc-rs reports the selected pair", || {
        paths_a.get(conn) == Some(host)
    })
    .await;
    assert_eq!(host.via(), CandidateKind::Host);

    pair.command(Side::B, TransportCommand::Close { conn });
    assert_eq!(paths_b.get(conn), None, "str0m forgets a closed connection");
    pair.command(Side::A, TransportCommand::Close { conn });
    eventually("webrtc-rs forgets a closed connection", || {
        paths_a.get(conn).is_none()
    })
    .await;
}
