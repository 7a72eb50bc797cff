//! The seed's triangle over webrtc-rs: A and C each join B out-of-band, B
//! bridges A to C, and A and C exchange messages over their own direct
//! connection (B relays only the handshake).

mod common;

use overlay_core::{Keypair, Node, NodeConfig, ProtocolId};
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triangle_over_webrtcrs() -> common::TestResult {
    common::init_tracing();
    let spawn = || -> Result<Node, transport_webrtcrs::BindError> {
        Ok(Node::spawn(
            WebRtcTransport::bind(&RtcConfig::loopback())?,
            Keypair::generate(),
            NodeConfig::default(),
        ))
    };
    let (a, b, c) = (spawn()?, spawn()?, spawn()?);
    common::triangle(ProtocolId::new("triangle")?, a, b, c).await
}
