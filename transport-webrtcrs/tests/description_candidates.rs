//! The offer or answer carries the local candidates gathered so far
//! (`Options::candidates_in_description`), and those are not trickled a
//! second time.
//!
//! Why it matters: a remote that gets our candidate only by trickle, one
//! signaling hop after the description, may receive our first ICE check
//! before it knows the candidate; libdatachannel (libjuice) then paces its
//! own check 50 ms later, which made setup ~80 ms when webrtc-rs offered
//! (see `docs/INTEROP-SETUP.md`). Checked here against our str0m backend
//! in both roles.

mod common;

use std::sync::{Arc, Mutex};

use common::{Pair, Side};
use overlay_core::Signal;
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::{Options, WebRtcTransport};

/// The webrtc-rs side's signals, in order, from one connection setup.
async fn signals_of_webrtcrs(webrtcrs_offers: bool, options: Options) -> Vec<Signal> {
    common::init_tracing();
    let a = WebRtcTransport::bind_with_options(&RtcConfig::loopback(), options)
        .expect("webrtc-rs transport");
    let b = Str0mTransport::bind(&RtcConfig::loopback()).expect("str0m transport");
    let mut pair = Pair::new(a, b);
    let seen: Arc<Mutex<Vec<Signal>>> = Arc::default();
    let log = Arc::clone(&seen);
    pair.hook = Some(Box::new(move |side, signal| {
        if side == Side::A {
            log.lock().expect("log").push(signal.clone());
        }
        vec![signal]
    }));
    pair.open(if webrtcrs_offers { Side::A } else { Side::B })
        .await;
    let signals = seen.lock().expect("log").clone();
    signals
}

/// The `a=candidate:` lines of the description among `signals`, and the
/// trickled candidate lines.
fn split(signals: &[Signal]) -> (Vec<String>, Vec<String>) {
    let sdp = signals
        .iter()
        .find_map(|s| match s {
            Signal::Offer { sdp } | Signal::Answer { sdp } => Some(sdp.clone()),
            _ => None,
        })
        .expect("a description among the signals");
    let in_sdp = sdp
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(str::to_owned)
        .collect();
    let trickled = signals
        .iter()
        .filter_map(|s| match s {
            Signal::Candidate { candidate, .. } => Some(candidate.clone()),
            _ => None,
        })
        .collect();
    (in_sdp, trickled)
}

fn assert_in_description(signals: &[Signal]) {
    let (in_sdp, trickled) = split(signals);
    assert!(
        in_sdp.iter().any(|c| c.contains(" typ host")),
        "the description carries the host candidate: {in_sdp:?}"
    );
    for c in &trickled {
        assert!(
            !in_sdp.contains(c),
            "{c} was in the description and trickled again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_carries_the_host_candidate() {
    let signals = signals_of_webrtcrs(true, Options::default()).await;
    assert!(matches!(signals.first(), Some(Signal::Offer { .. })));
    assert_in_description(&signals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_carries_the_host_candidate() {
    let signals = signals_of_webrtcrs(false, Options::default()).await;
    assert!(matches!(signals.first(), Some(Signal::Answer { .. })));
    assert_in_description(&signals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_option_off_candidates_are_only_trickled() {
    let signals = signals_of_webrtcrs(
        true,
        Options::default().with_candidates_in_description(false),
    )
    .await;
    let (in_sdp, trickled) = split(&signals);
    assert!(in_sdp.is_empty(), "no candidate in the offer: {in_sdp:?}");
    assert!(!trickled.is_empty(), "the host candidate is trickled");
}
