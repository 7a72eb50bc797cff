//! Interop with libwebrtc (Google's WebRTC, as browsers ship it) through
//! the npm package `@roamhq/wrtc`, driven by the shared `interop/peer.js`,
//! in both offer directions: webrtc-rs offers and libwebrtc answers;
//! libwebrtc offers (trickling its candidates browser-style) and webrtc-rs
//! answers. 200 frames of several sizes are echoed back whole and in
//! order, then webrtc-rs closes and libwebrtc sees the channel close.
//!
//! The harness is shared with the other backend
//! (`n2n_test_support::interop`): it runs `npm install` in `interop/` on
//! first use and re-executes each test inside a loopback-only network
//! namespace (`unshare -n`, root). Needs `node` and `npm`; a missing piece
//! fails the test, saying what is missing. To skip on purpose (a machine
//! without node or namespaces), set `N2N_SKIP_INTEROP=1`.

use n2n_test_support::interop::run_echo_test;
use n2n_test_support::TestResult;
use overlay_core::Role;
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

#[test]
fn webrtcrs_offers_libwebrtc_answers() -> TestResult {
    run_echo_test(
        "webrtcrs_offers_libwebrtc_answers",
        "webrtc-rs",
        Role::Initiator,
        || Ok(WebRtcTransport::bind(&RtcConfig::loopback())?),
    )
}

#[test]
fn libwebrtc_offers_webrtcrs_answers() -> TestResult {
    run_echo_test(
        "libwebrtc_offers_webrtcrs_answers",
        "webrtc-rs",
        Role::Acceptor,
        || Ok(WebRtcTransport::bind(&RtcConfig::loopback())?),
    )
}
