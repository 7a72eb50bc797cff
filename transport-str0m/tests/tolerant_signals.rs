//! What other stacks send is accepted: candidates trickled before the
//! offer, with a leading `a=`, a null `sdpMLineIndex`, no `sdpMid`, and
//! `a=end-of-candidates`; SDP without candidates.

mod common;

use common::{Net, TestResult};
use overlay_core::{ConnId, Signal};

/// Move the SDP's candidates out into separate, browser-style candidate
/// signals sent *before* the description, ending with end-of-candidates.
fn trickle_everything(sdp: &str) -> (String, Vec<Signal>) {
    let mut kept = Vec::new();
    let mut candidates = Vec::new();
    for line in sdp.split("\r\n") {
        if line.starts_with("a=candidate:") {
            candidates.push(Signal::Candidate {
                candidate: line.to_owned(),
                sdp_mid: None,
                sdp_m_line_index: None,
            });
        } else if line != "a=end-of-candidates" {
            kept.push(line);
        }
    }
    candidates.push(Signal::Candidate {
        candidate: "a=end-of-candidates".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    });
    (kept.join("\r\n"), candidates)
}

#[tokio::test]
async fn candidates_before_the_description_in_browser_shapes() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(3);
    let mut moved = 0usize;
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = counter.clone();
    net.tamper = Some(Box::new(move |_from, _conn, signal| match signal {
        Signal::Offer { sdp } => {
            let (sdp, mut out) = trickle_everything(&sdp);
            seen.fetch_add(out.len() - 1, std::sync::atomic::Ordering::Relaxed);
            out.push(Signal::Offer { sdp });
            out
        }
        Signal::Answer { sdp } => {
            let (sdp, mut out) = trickle_everything(&sdp);
            seen.fetch_add(out.len() - 1, std::sync::atomic::Ordering::Relaxed);
            out.push(Signal::Answer { sdp });
            out
        }
        other => vec![other],
    }));
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    moved += counter.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        moved >= 2,
        "both descriptions had their candidates moved out ({moved})"
    );
    // Our own signals are browser-shaped: offer/answer, then end-of-candidates.
    let kinds: Vec<(usize, &str)> = net
        .signals_seen
        .iter()
        .map(|(n, _, s)| (*n, s.kind()))
        .collect();
    assert!(
        kinds.contains(&(0, "offer")) && kinds.contains(&(1, "answer")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(0, "end-of-candidates")) && kinds.contains(&(1, "end-of-candidates")),
        "{kinds:?}"
    );
    Ok(())
}
