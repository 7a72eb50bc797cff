//! Server-reflexive gathering from a STUN server (a tiny one on loopback,
//! in the test): the candidate is trickled to the remote after the
//! description, with the offer's media id (libwebrtc rejects a candidate
//! whose `sdpMid` names no section of the offer), then end-of-candidates;
//! a silent server ends gathering at its timeout.

mod common;

use std::time::Duration;

use common::{Net, TestResult};
use n2n_test_support::stun::fake_stun_server;
use overlay_core::{ConnId, Signal};
use rtc_common::RtcConfig;

#[tokio::test]
async fn reflexive_candidate_is_trickled_then_end_of_candidates() -> TestResult {
    let stun = fake_stun_server().await?;
    let config = RtcConfig::loopback().with_stun_server(stun.to_string());
    let mut net = Net::bind_with(2, &config)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    // Gathering may finish after the open: wait for end-of-candidates from both.
    let ended = |net: &Net, node: usize| {
        net.signals_seen
            .iter()
            .any(|(n, _, s)| *n == node && *s == Signal::EndOfCandidates)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(ended(&net, 0) && ended(&net, 1)) {
        if std::time::Instant::now() > deadline {
            return Err("end-of-candidates never came".into());
        }
        // Signals are carried inside `next`; only stop to look now and then.
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(50), net.next()).await {
            return Err(format!("unexpected {got:?}").into());
        }
    }
    // The mid of the offer's one media section, which both sides' trickled
    // candidates must name.
    let offer_mid = net
        .signals_seen
        .iter()
        .find_map(|(_, _, s)| match s {
            Signal::Offer { sdp } => sdp
                .lines()
                .find_map(|l| l.trim().strip_prefix("a=mid:"))
                .map(str::to_owned),
            _ => None,
        })
        .ok_or("no offer with an a=mid line")?;
    for node in 0..2 {
        let mine: Vec<&Signal> = net
            .signals_seen
            .iter()
            .filter(|(n, _, _)| *n == node)
            .map(|(_, _, s)| s)
            .collect();
        let srflx = mine.iter().position(|s| matches!(s, Signal::Candidate { candidate, sdp_mid, sdp_m_line_index }
            if candidate.contains("typ srflx") && candidate.contains("127.0.0.2") && sdp_mid.as_deref() == Some(offer_mid.as_str()) && *sdp_m_line_index == Some(0)));
        let description = mine
            .iter()
            .position(|s| matches!(s, Signal::Offer { .. } | Signal::Answer { .. }));
        let end = mine.iter().position(|s| **s == Signal::EndOfCandidates);
        match (description, srflx, end) {
            (Some(d), Some(s), Some(e)) if d < s && s < e => {}
            other => return Err(format!("node {node}: description, srflx, end-of-candidates out of order: {other:?} in {mine:?}").into()),
        }
        assert!(net.nodes[node]
            .local_candidates()
            .any(|c| c.contains("typ srflx")));
    }
    Ok(())
}

#[tokio::test]
async fn silent_stun_server_ends_gathering_at_its_timeout() -> TestResult {
    // Bound, never read: requests go unanswered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let mut config = RtcConfig::loopback().with_stun_server(silent.local_addr()?.to_string());
    config.stun_timeout = Duration::from_millis(300);
    let mut net = Net::bind_with(2, &config)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !net
        .signals_seen
        .iter()
        .any(|(n, _, s)| *n == 0 && *s == Signal::EndOfCandidates)
    {
        if std::time::Instant::now() > deadline {
            return Err("end-of-candidates never came".into());
        }
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(50), net.next()).await {
            return Err(format!("unexpected {got:?}").into());
        }
    }
    assert!(
        !net.signals_seen
            .iter()
            .any(|(_, _, s)| matches!(s, Signal::Candidate { .. })),
        "no reflexive candidate from a silent server"
    );
    Ok(())
}
