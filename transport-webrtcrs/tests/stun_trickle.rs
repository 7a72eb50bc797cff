//! Server-reflexive gathering from a configured STUN server (a tiny one on
//! loopback, in the test): the offering side signals a `typ srflx`
//! candidate with the mapped address the server reported (trickled, or in
//! the offer if it was gathered before the offer went out, never both),
//! then end-of-candidates, and the connection still opens.

mod common;

use common::{Pair, Side};
use n2n_test_support::stun::fake_stun_server;
use overlay_core::Signal;
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srflx_candidate_is_trickled() -> common::TestResult {
    common::init_tracing();
    let server = fake_stun_server().await?;
    let a = WebRtcTransport::bind(&RtcConfig::loopback().with_stun_server(server.to_string()))?;
    let b = WebRtcTransport::bind(&RtcConfig::loopback())?;
    let mut pair = Pair::new(a, b);
    // Record what A trickles, and pass it on.
    let (tx, rx) = std::sync::mpsc::channel();
    pair.hook = Some(Box::new(move |side, signal| {
        if side == Side::A {
            let _ = tx.send(signal.clone());
        }
        vec![signal]
    }));
    pair.open(Side::A).await;
    // Gathering may end after the channel opened: wait for end-of-candidates.
    let mut seen: Vec<Signal> = rx.try_iter().collect();
    while !seen.contains(&Signal::EndOfCandidates) {
        if let Some((side, event)) = pair.next_within(common::GUARD).await {
            panic!("unexpected event at {side:?}: {event:?}");
        }
        seen.extend(rx.try_iter());
    }
    // The candidates in the offer (`Options::candidates_in_description`)
    // and those trickled after it.
    let lines: Vec<String> = seen
        .iter()
        .flat_map(|s| match s {
            Signal::Candidate { candidate, .. } => vec![candidate.clone()],
            Signal::Offer { sdp } => sdp
                .lines()
                .filter_map(|l| l.trim().strip_prefix("a="))
                .filter(|l| l.starts_with("candidate:") && l.split(' ').nth(1) == Some("1"))
                .map(str::to_owned)
                .collect(),
            _ => vec![],
        })
        .collect();
    println!("A signalled: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" typ host") && l.contains("127.0.0.1")),
        "a host candidate"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(" typ srflx") && l.contains("127.0.0.2"))
            .count(),
        1,
        "a server-reflexive candidate from the STUN server, signalled once"
    );
    let end = seen.iter().position(|s| *s == Signal::EndOfCandidates);
    let last_candidate = seen
        .iter()
        .rposition(|s| matches!(s, Signal::Candidate { .. }));
    assert!(
        end > last_candidate,
        "end-of-candidates comes after the last candidate"
    );
    Ok(())
}
