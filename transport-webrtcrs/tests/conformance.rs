//! The core's transport conformance suite over webrtc-rs, real UDP on
//! 127.0.0.1. One test per case, so a failure names its case; the cases
//! take turns (one at a time) so that real-time timeouts do not depend on
//! how many other cases share the two cores.

use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

async fn make() -> WebRtcTransport {
    n2n_test_support::init_tracing();
    match WebRtcTransport::bind(&RtcConfig::loopback()) {
        Ok(t) => t,
        Err(e) => panic!("cannot create a webrtc-rs transport: {e}"),
    }
}

n2n_test_support::conformance_tests!(make);
