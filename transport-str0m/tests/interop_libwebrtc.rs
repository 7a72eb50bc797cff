//! Interop with libwebrtc (Google's WebRTC, as browsers ship it), through
//! the npm package `@roamhq/wrtc` driven by `interop/peer.js`, both offer
//! directions: str0m offers and libwebrtc answers; libwebrtc offers (and
//! trickles its candidates, browser-style) and str0m answers. Frames of
//! several sizes are echoed back whole and in order, then str0m closes and
//! libwebrtc sees the channel close.
//!
//! Needs: `node`, `npm install` run in `interop/` (CI does it), and
//! `unshare -n` (root): the test re-executes itself in a loopback-only
//! network namespace, both peers inside, so libwebrtc sees no other
//! interface and no traffic leaves the machine.
//!
//! Any missing piece fails the test with the reason. To skip it on purpose
//! (a machine without node or namespaces), set `N2N_SKIP_INTEROP=1`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use rtc_common::RtcConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use transport_str0m::Str0mTransport;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const IN_NETNS: &str = "N2N_INTEROP_IN_NETNS";
const SKIP: &str = "N2N_SKIP_INTEROP";

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("interop")
}

/// Outside the namespace: run `test` again inside `unshare -n`.
fn reexec_in_netns(test: &str) -> TestResult {
    let exe = std::env::current_exe()?;
    let status = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(IN_NETNS, "1")
        .status()
        .map_err(|e| {
            format!("cannot run `unshare -n` ({e}); set {SKIP}=1 to skip this test deliberately")
        })?;
    if !status.success() {
        return Err(format!("{test} failed inside `unshare -n` ({status}); see its output above. If unshare itself failed (not root?), set {SKIP}=1 to skip deliberately").into());
    }
    Ok(())
}

fn preflight() -> Result<(), String> {
    let module = interop_dir()
        .join("node_modules")
        .join("@roamhq")
        .join("wrtc");
    if !module.exists() {
        return Err(format!(
            "{} is missing: run `npm install` in interop/ (or set {SKIP}=1 to skip deliberately)",
            module.display()
        ));
    }
    Ok(())
}

fn frame(i: u32) -> Bytes {
    let len = [1usize, 100, 1200, 5000, 16 * 1024][i as usize % 5];
    let mut v = vec![(i % 251) as u8; len.max(4)];
    v[..4].copy_from_slice(&i.to_be_bytes());
    Bytes::from(v)
}

async fn scenario(str0m_role: Role) -> TestResult {
    preflight()?;
    let js_role = if str0m_role == Role::Initiator {
        "answer"
    } else {
        "offer"
    };
    let mut child = Command::new("node")
        .arg(interop_dir().join("peer.js"))
        .arg(js_role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start node ({e}); set {SKIP}=1 to skip deliberately"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();

    let mut t = Str0mTransport::bind(&RtcConfig::loopback())?;
    let conn = ConnId(1);
    t.handle_command(
        Instant::now(),
        Cmd::Open {
            conn,
            role: str0m_role,
        },
    )?;

    const N: u32 = 200;
    let (mut opened, mut js_open, mut next_send, mut echoed, mut js_candidates) =
        (false, false, 0u32, 0u32, 0u32);
    let (mut in_flight, window) = (0usize, t.send_window());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while echoed < N {
        if opened && js_open {
            while next_send < N && in_flight + frame(next_send).len() <= window {
                let f = frame(next_send);
                in_flight += f.len();
                t.handle_command(Instant::now(), Cmd::Send { conn, frame: f })?;
                next_send += 1;
            }
        }
        tokio::select! {
            ev = std::future::poll_fn(|cx| t.poll_event(cx)) => match ev {
                Ev::Signal { signal, .. } => {
                    let line = serde_json::to_string(&signal)?;
                    stdin.write_all(format!("{line}\n").as_bytes()).await?;
                }
                Ev::Opened { .. } => opened = true,
                Ev::Sent { bytes, .. } => in_flight -= bytes,
                Ev::Frame { frame: f, .. } => {
                    assert_eq!(f, frame(echoed), "echo {echoed} wrong or out of order");
                    echoed += 1;
                }
                Ev::Closed { reason, .. } => return Err(format!("str0m side closed: {reason}").into()),
                other => return Err(format!("unexpected {other:?}").into()),
            },
            line = lines.next_line() => {
                let line = line?.ok_or("the libwebrtc peer exited early")?;
                let v: serde_json::Value = serde_json::from_str(&line)?;
                match v.get("event").and_then(|e| e.as_str()) {
                    Some("open") => js_open = true,
                    Some("error") => return Err(format!("libwebrtc peer: {}", v["message"]).into()),
                    Some(other) => return Err(format!("libwebrtc peer event {other} before the echoes").into()),
                    None => {
                        let signal: Signal = serde_json::from_value(v)?;
                        if matches!(signal, Signal::Candidate { .. }) {
                            js_candidates += 1;
                        }
                        t.handle_command(Instant::now(), Cmd::Signal { conn, signal })?;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(format!("stalled: opened {opened}, js open {js_open}, sent {next_send}, echoed {echoed}").into());
            }
        }
    }
    println!("str0m as {str0m_role:?}: {N} frames echoed by libwebrtc; libwebrtc trickled {js_candidates} candidates");
    if str0m_role == Role::Acceptor {
        assert!(
            js_candidates > 0,
            "libwebrtc trickles its candidates (our tolerance was exercised)"
        );
    }

    // str0m closes; libwebrtc sees the channel close and exits cleanly.
    t.handle_command(Instant::now(), Cmd::Close { conn })?;
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("\"closed\"") {
                return true;
            }
        }
        false
    })
    .await?;
    assert!(closed, "libwebrtc saw the channel close");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;
    assert!(status.success(), "libwebrtc peer exit: {status}");
    Ok(())
}

fn run(test: &str, role: Role) -> TestResult {
    if std::env::var_os(SKIP).is_some() {
        println!("{test}: skipped ({SKIP} is set)");
        return Ok(());
    }
    if std::env::var_os(IN_NETNS).is_none() {
        return reexec_in_netns(test);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(scenario(role))
}

#[test]
fn str0m_offers_libwebrtc_answers() -> TestResult {
    run("str0m_offers_libwebrtc_answers", Role::Initiator)
}

#[test]
fn libwebrtc_offers_str0m_answers() -> TestResult {
    run("libwebrtc_offers_str0m_answers", Role::Acceptor)
}
