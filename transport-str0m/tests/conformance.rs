//! The core's transport conformance suite over str0m, real UDP on 127.0.0.1.
//! One test per case, so a failure names its case; the cases take turns
//! (one at a time) so that real-time timeouts do not depend on how many
//! other cases share the two cores.

use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

async fn make() -> Str0mTransport {
    n2n_test_support::init_tracing();
    match Str0mTransport::bind(&RtcConfig::loopback()) {
        Ok(t) => t,
        Err(e) => panic!("cannot bind a str0m transport on 127.0.0.1: {e}"),
    }
}

n2n_test_support::conformance_tests!(make);
