//! Peers are who they claim, with real str0m connections on 127.0.0.1
//! (issue 9): a malicious bridge in the middle of a connection is refused
//! at both ends; an offer whose SDP fingerprint was altered is refused
//! before DTLS.

use std::time::Duration;

use n2n_test_support::identity::{assert_relay_refused, InitiatorSees};
use overlay_core::attack;
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

async fn make() -> Str0mTransport {
    n2n_test_support::init_tracing();
    match Str0mTransport::bind(&RtcConfig::loopback()) {
        Ok(t) => t,
        Err(e) => panic!("cannot bind a str0m transport on 127.0.0.1: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_in_the_middle_is_refused_at_both_ends() -> Result<(), String> {
    let out = attack::relay_in_the_middle(make, Duration::from_secs(20)).await?;
    println!("{out:?}");
    assert_relay_refused(&out, InitiatorSees::Tampered);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_with_an_altered_fingerprint_is_refused_before_dtls() -> Result<(), String> {
    attack::altered_sdp_fingerprint(make).await
}
