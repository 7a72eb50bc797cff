//! A mixed triangle: A and C on str0m, B on webrtc-rs. A and C join B
//! out-of-band (str0m <-> webrtc-rs connections), B bridges A to C, and A
//! and C then talk over their own str0m <-> str0m connection, set up with
//! signals relayed by the webrtc-rs node.

mod common;

use overlay_core::{Keypair, Node, NodeConfig, ProtocolId};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::WebRtcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn str0m_webrtcrs_str0m_triangle() -> common::TestResult {
    common::init_tracing();
    let str0m = || -> Result<Node, Box<dyn std::error::Error>> {
        Ok(Node::spawn(
            Str0mTransport::bind(&RtcConfig::loopback())?,
            Keypair::generate(),
            NodeConfig::default(),
        ))
    };
    let a = str0m()?;
    let b = Node::spawn(
        WebRtcTransport::bind(&RtcConfig::loopback())?,
        Keypair::generate(),
        NodeConfig::default(),
    );
    let c = str0m()?;
    common::triangle(ProtocolId::new("mixed-triangle")?, a, b, c).await
}
