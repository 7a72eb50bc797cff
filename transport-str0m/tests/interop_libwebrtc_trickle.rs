//! str0m offers with a STUN server configured, libwebrtc (`interop/peer.js`,
//! npm `@roamhq/wrtc`) answers: the server-reflexive candidate str0m
//! trickles after its offer must be accepted by libwebrtc's
//! `addIceCandidate`, which rejects a candidate whose `sdpMid` names no
//! media section of the offer (str0m's offer uses a random mid; the
//! candidates used to say `"0"`). peer.js reports a rejected candidate on
//! its stderr, which this test reads.
//!
//! Needs what `interop_libwebrtc.rs` needs (`node`, `npm install` in
//! `interop/`, `unshare -n` as root); it runs in a loopback-only network
//! namespace, with a tiny STUN server on loopback. `N2N_SKIP_INTEROP=1`
//! skips it deliberately.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytecodec::{DecodeExt, EncodeExt};
use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use rtc_common::RtcConfig;
use stun_codec::rfc5389::attributes::XorMappedAddress;
use stun_codec::rfc5389::{methods::BINDING, Attribute};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use transport_str0m::Str0mTransport;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const IN_NETNS: &str = "N2N_INTEROP_IN_NETNS";
const SKIP: &str = "N2N_SKIP_INTEROP";
const TEST: &str = "str0m_offer_trickles_srflx_that_libwebrtc_accepts";

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("interop")
}

/// Answer every Binding request with `127.0.0.2:<client port>` (a mapped
/// address distinct from the host one, as a NAT would report).
async fn fake_stun_server() -> std::io::Result<SocketAddr> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(Ok(req)) = MessageDecoder::<Attribute>::new().decode_from_bytes(&buf[..n])
            else {
                continue;
            };
            let mut reply = Message::<Attribute>::new(
                MessageClass::SuccessResponse,
                BINDING,
                req.transaction_id(),
            );
            reply.add_attribute(XorMappedAddress::new(SocketAddr::new(
                [127, 0, 0, 2].into(),
                from.port(),
            )));
            if let Ok(bytes) = MessageEncoder::new().encode_into_bytes(reply) {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    Ok(addr)
}

async fn scenario() -> TestResult {
    let module = interop_dir()
        .join("node_modules")
        .join("@roamhq")
        .join("wrtc");
    if !module.exists() {
        return Err(format!(
            "{} is missing: run `npm install` in interop/ (or set {SKIP}=1 to skip deliberately)",
            module.display()
        )
        .into());
    }
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
    if std::env::var_os(IN_NETNS).is_none() {
        let exe = std::env::current_exe()?;
        let status = std::process::Command::new("unshare")
            .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
            .arg(&exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(IN_NETNS, "1")
            .status()
            .map_err(|e| {
                format!(
                    "cannot run `unshare -n` ({e}); set {SKIP}=1 to skip this test deliberately"
                )
            })?;
        if !status.success() {
            return Err(format!(
                "{TEST} failed inside `unshare -n` ({status}); see its output above"
            )
            .into());
        }
        return Ok(());
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(scenario())
}
