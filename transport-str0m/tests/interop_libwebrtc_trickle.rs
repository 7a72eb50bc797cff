//! str0m offers with a STUN server configured, libwebrtc (`interop/peer.js`,
//! npm `@roamhq/wrtc`) answers: the server-reflexive candidate str0m
//! trickles after its offer must be accepted by libwebrtc's
//! `addIceCandidate`, which rejects a candidate whose `sdpMid` names no
//! media section of the offer (str0m's offer uses a random mid; the
//! candidates used to say `"0"`). peer.js reports a rejected candidate on
//! its stderr, which this test reads.
//!
//! Needs what `interop_libwebrtc.rs` needs (`node` and `npm`: it installs
//! the packages in `interop/` itself; `unshare -n` as root); it runs in a
//! loopback-only network namespace, with the fake STUN server of
//! `n2n-test-support` on loopback. `N2N_SKIP_INTEROP=1`
//! skips it deliberately.

use std::time::{Duration, Instant};

use n2n_test_support::interop::{run_in_netns, JsLine, JsPeer};
use n2n_test_support::stun::fake_stun_server;
use n2n_test_support::TestResult;
use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

const TEST: &str = "str0m_offer_trickles_srflx_that_libwebrtc_accepts";

async fn scenario() -> TestResult {
    let mut js = JsPeer::spawn(Role::Initiator, true)?;
    let stun = fake_stun_server().await?;
    let mut t = Str0mTransport::bind(&RtcConfig::loopback().with_stun_server(stun.to_string()))?;
    let conn = ConnId(1);
    t.handle_command(
        Instant::now(),
        Cmd::Open {
            conn,
            role: Role::Initiator,
        },
    )?;

    let (mut opened, mut js_open, mut srflx_sent, mut ended) = (false, false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(opened && js_open && ended) {
        tokio::select! {
            ev = std::future::poll_fn(|cx| t.poll_event(cx)) => match ev {
                Ev::Signal { signal, .. } => {
                    if let Signal::Candidate { candidate, .. } = &signal {
                        srflx_sent |= candidate.contains("typ srflx");
                    }
                    ended |= signal == Signal::EndOfCandidates;
                    js.send(&signal).await?;
                }
                Ev::Opened { .. } => opened = true,
                Ev::Closed { reason, .. } => return Err(format!("str0m side closed: {reason}").into()),
                other => return Err(format!("unexpected {other:?}").into()),
            },
            line = js.next() => match line? {
                JsLine::Open => js_open = true,
                JsLine::Signal(signal) => t.handle_command(Instant::now(), Cmd::Signal { conn, signal })?,
                _ => {}
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(format!("stalled: opened {opened}, js open {js_open}, end-of-candidates {ended}").into());
            }
        }
    }
    assert!(srflx_sent, "str0m trickled a server-reflexive candidate");

    // str0m closes; libwebrtc sees the close and exits, after it handled
    // every signal it was given (peer.js applies them in order).
    t.handle_command(Instant::now(), Cmd::Close { conn })?;
    js.closed_within(Duration::from_secs(20)).await;
    let (_, errors) = js.finish(Duration::from_secs(10)).await?;
    assert!(
        !errors.contains("addIceCandidate("),
        "libwebrtc rejected a candidate str0m trickled:\n{errors}"
    );
    println!("libwebrtc accepted every candidate str0m trickled (srflx included)");
    Ok(())
}

#[test]
fn str0m_offer_trickles_srflx_that_libwebrtc_accepts() -> TestResult {
    run_in_netns(TEST, scenario())
}
