//! A node whose accepted connections run ICE-lite
//! (`NodeRtcConfig::with_lite_acceptor`, for a hub that many others dial):
//! it connects to a full initiator, answers with `a=ice-lite`, sends no
//! connectivity checks of its own (an idle connection never wakes it: the
//! initiator's checks keep it alive), and still notices a silent initiator
//! within its silence timeout.

mod common;

use std::time::{Duration, Instant};

use common::{Got, Net, TestResult};
use overlay_core::{CloseReason, ConnId, Signal, TransportCommand as Cmd, TransportEvent as Ev};
use rtc_common::RtcConfig;
use transport_str0m::{NodeRtcConfig, Str0mTransport};

/// Node 0: a default transport (initiator). Node 1: a lite acceptor.
fn lite_pair() -> Result<Net, Box<dyn std::error::Error>> {
    let mut net = Net::bind(1)?;
    let prepared = NodeRtcConfig::new()?.with_lite_acceptor(true);
    net.nodes.push(Str0mTransport::bind_prepared(
        &RtcConfig::loopback(),
        prepared,
    )?);
    Ok(net)
}

#[tokio::test]
async fn lite_acceptor_connects_and_only_answers_keepalives() -> TestResult {
    let mut net = lite_pair()?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    let answered_lite = net.signals_seen.iter().any(|(node, _, s)| {
        *node == 1 && matches!(s, Signal::Answer { sdp } if sdp.contains("a=ice-lite"))
    });
    assert!(answered_lite, "the acceptor's answer must say a=ice-lite");
    // Frames both ways.
    for (from, to) in [(0, 1), (1, 0)] {
        net.cmd(
            from,
            Cmd::Send {
                conn: c,
                frame: bytes::Bytes::from_static(b"over a lite pair"),
            },
        )?;
        loop {
            match net.next_within(Duration::from_secs(10)).await? {
                Got::Event(n, Ev::Frame { frame, .. }) if n == to => {
                    assert_eq!(&frame[..], b"over a lite pair");
                    break;
                }
                Got::Event(_, Ev::Sent { .. }) => {}
                other => return Err(format!("expected a frame at {to}, got {other:?}").into()),
            }
        }
    }
    // Idle: the handshake's own traffic settles, then count.
    let window = Duration::from_secs(6);
    let (before, after) = net.idle_stats(window).await?;
    let d = |i: usize, f: fn(&transport_str0m::Stats) -> u64| f(&after[i]) - f(&before[i]);
    let (init_wakes, lite_wakes) = (d(0, |s| s.timeouts), d(1, |s| s.timeouts));
    let (lite_in, lite_out) = (d(1, |s| s.datagrams_in), d(1, |s| s.datagrams_out));
    println!(
        "idle {window:?}: initiator {init_wakes} wake-ups, {} datagrams out; lite acceptor {lite_wakes} wake-ups, {lite_in} in, {lite_out} out",
        d(0, |s| s.datagrams_out)
    );
    assert!(
        init_wakes >= 4,
        "the initiator keeps alive every second: {init_wakes} wake-ups"
    );
    assert!(lite_in > 0, "the lite end hears the initiator's checks");
    // A full acceptor checks on its own timer (every 2 s at the defaults):
    // the lite end is never woken and sends only answers.
    assert_eq!(lite_wakes, 0, "the idle lite end was woken by a timer");
    assert!(
        lite_out <= lite_in,
        "the lite end sent {lite_out} datagrams for {lite_in} received: it must only answer"
    );
    assert_eq!(net.nodes[1].connection_count(), 1);
    Ok(())
}

/// The lite end sends nothing on its own, yet a crashed initiator is
/// still reported by its silence timer (ICE-lite alone would keep the pair
/// 15 s after the last check).
#[tokio::test]
async fn lite_acceptor_notices_a_silent_initiator() -> TestResult {
    let mut net = lite_pair()?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    let hung = net.nodes.remove(0);
    std::mem::forget(hung);
    let start = Instant::now();
    match net.next_within(Duration::from_secs(10)).await? {
        Got::Event(0, Ev::Closed { conn, reason }) => {
            assert_eq!(conn, c);
            assert_eq!(reason, CloseReason::TimedOut);
        }
        other => return Err(format!("expected TimedOut at the lite end, got {other:?}").into()),
    }
    println!(
        "lite acceptor reported the silent initiator after {:.2} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(net.nodes[0].connection_count(), 0);
    Ok(())
}

/// And the initiator notices a crashed lite acceptor (its checks go
/// unanswered).
#[tokio::test]
async fn initiator_notices_a_silent_lite_acceptor() -> TestResult {
    let mut net = lite_pair()?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    let hung = net.nodes.remove(1);
    std::mem::forget(hung);
    match net.next_within(Duration::from_secs(10)).await? {
        Got::Event(0, Ev::Closed { conn, reason }) => {
            assert_eq!(conn, c);
            assert_eq!(reason, CloseReason::TimedOut);
        }
        other => return Err(format!("expected TimedOut at the initiator, got {other:?}").into()),
    }
    Ok(())
}
