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

use std::process::Stdio;
use std::time::{Duration, Instant};

use n2n_test_support::interop::{ensure_npm_packages, interop_dir, SKIP};
use n2n_test_support::netns::{in_netns, reexec_in_netns};
use n2n_test_support::stun::fake_stun_server;
use n2n_test_support::TestResult;
use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use rtc_common::RtcConfig;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use transport_str0m::Str0mTransport;

const TEST: &str = "str0m_offer_trickles_srflx_that_libwebrtc_accepts";

async fn scenario() -> TestResult {
    let mut child = Command::new("node")
        .arg(interop_dir().join("peer.js"))
        .arg("answer")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start node ({e}); set {SKIP}=1 to skip deliberately"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let mut stderr = child.stderr.take().ok_or("no stderr")?;

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
                    let line = serde_json::to_string(&signal)?;
                    stdin.write_all(format!("{line}\n").as_bytes()).await?;
                }
                Ev::Opened { .. } => opened = true,
                Ev::Closed { reason, .. } => return Err(format!("str0m side closed: {reason}").into()),
                other => return Err(format!("unexpected {other:?}").into()),
            },
            line = lines.next_line() => {
                let line = line?.ok_or("the libwebrtc peer exited early")?;
                let v: serde_json::Value = serde_json::from_str(&line)?;
                match v.get("event").and_then(|e| e.as_str()) {
                    Some("open") => js_open = true,
                    Some("error") => return Err(format!("libwebrtc peer: {}", v["message"]).into()),
                    Some(_) => {}
                    None => {
                        let signal: Signal = serde_json::from_value(v)?;
                        t.handle_command(Instant::now(), Cmd::Signal { conn, signal })?;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(format!("stalled: opened {opened}, js open {js_open}, end-of-candidates {ended}").into());
            }
        }
    }
    assert!(srflx_sent, "str0m trickled a server-reflexive candidate");

    // str0m closes; libwebrtc sees the close and exits, after it handled
    // every signal it was given (peer.js applies them in order).
    t.handle_command(Instant::now(), Cmd::Close { conn })?;
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("\"closed\"") {
                break;
            }
        }
    })
    .await;
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let mut errors = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stderr.read_to_string(&mut errors)).await;
    assert!(
        !errors.contains("addIceCandidate("),
        "libwebrtc rejected a candidate str0m trickled:\n{errors}"
    );
    println!("libwebrtc accepted every candidate str0m trickled (srflx included)");
    Ok(())
}

#[test]
fn str0m_offer_trickles_srflx_that_libwebrtc_accepts() -> TestResult {
    if std::env::var_os(SKIP).is_some() {
        println!("{TEST}: skipped ({SKIP} is set)");
        return Ok(());
    }
    if !in_netns() {
        // Outside the namespace: the npm packages (the namespace has no
        // network), then this test again inside `unshare -n`.
        ensure_npm_packages()?;
        return reexec_in_netns(TEST, SKIP);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(scenario())
}
