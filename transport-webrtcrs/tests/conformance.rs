//! The core's transport conformance suite over webrtc-rs, real UDP on
//! 127.0.0.1. One test per case, so a failure names its case.

use overlay_core::testkit;
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

async fn make() -> WebRtcTransport {
    match WebRtcTransport::new(RtcConfig::loopback()) {
        Ok(t) => t,
        Err(e) => panic!("cannot create a webrtc-rs transport: {e}"),
    }
}

macro_rules! case {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> Result<(), testkit::ConformanceError> {
            let took = testkit::$name(make).await?;
            println!(
                "{} ok in {:.1} ms",
                stringify!($name),
                took.as_secs_f64() * 1e3
            );
            Ok(())
        }
    };
}

case!(direct_connect);
case!(bridged_connect);
case!(batch_duplicates);
case!(messages_in_order);
case!(close_seen_by_both);
case!(pending_timeout);
case!(dying_revive);
case!(concurrent_handshakes);
