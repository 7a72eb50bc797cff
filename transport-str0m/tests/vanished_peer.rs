//! A peer that stops answering (a crash: no close message) is reported
//! `TimedOut` within seconds (`RtcConfig::silence_timeout`, 4 s by
//! default); a dropped transport is such a crash; a local `Close` is
//! reported to the remote at once as a graceful close. The idle keep-alive
//! traffic that the detection costs is printed, and an idle connection
//! wakes only to send it.

mod common;

use std::time::{Duration, Instant};

use common::{Got, Net, TestResult};
use overlay_core::{CloseReason, ConnId, TransportCommand as Cmd, TransportEvent as Ev};
use rtc_common::RtcConfig;

/// Generous bound on noticing a silent remote: the default silence timeout
/// is 4 s (str0m's own ICE took ~15.5 s here before it). Not a timing goal:
/// a guard that the detection is the silence timer's, not ICE's.
const NOTICE_BOUND: Duration = Duration::from_secs(10);

async fn expect_closed(net: &mut Net, node: usize, c: ConnId, want: CloseReason) -> TestResult {
    let start = Instant::now();
    match net.next_within(NOTICE_BOUND).await? {
        Got::Event(n, Ev::Closed { conn, reason }) if n == node => {
            assert_eq!(conn, c);
            assert_eq!(reason, want);
        }
        other => return Err(format!("expected {want:?} at node {node}, got {other:?}").into()),
    }
    println!(
        "node {node} reported {want:?} after {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::test]
async fn silent_peer_times_out() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    // Node 1 hangs: its socket stays bound but nobody reads or answers.
    let hung = net.nodes.remove(1);
    std::mem::forget(hung);
    expect_closed(&mut net, 0, c, CloseReason::TimedOut).await?;
    assert_eq!(net.nodes[0].connection_count(), 0);
    Ok(())
}

/// The acceptor end, which keeps alive less often than the initiator,
/// still notices a silent initiator within its silence timeout.
#[tokio::test]
async fn silent_initiator_times_out() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    // Node 0 (the initiator) hangs; node 1 is now `nodes[0]`.
    let hung = net.nodes.remove(0);
    std::mem::forget(hung);
    expect_closed(&mut net, 0, c, CloseReason::TimedOut).await?;
    assert_eq!(net.nodes[0].connection_count(), 0);
    Ok(())
}

#[tokio::test]
async fn dropped_transport_is_a_crash() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    drop(net.nodes.remove(1));
    expect_closed(&mut net, 0, c, CloseReason::TimedOut).await?;
    assert_eq!(net.nodes[0].connection_count(), 0);
    Ok(())
}

#[tokio::test]
async fn local_close_is_seen_at_once() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    net.cmd(1, Cmd::Close { conn: c })?;
    expect_closed(&mut net, 0, c, CloseReason::Remote).await
}

#[tokio::test]
async fn a_shorter_silence_timeout_is_honoured() -> TestResult {
    let config = RtcConfig::loopback()
        .with_silence_timeout(Duration::from_millis(1500))
        .with_keepalive_interval(Duration::from_millis(400));
    let mut net = Net::bind_with(2, &config)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    // Idle for longer than the silence timeout: keep-alives hold it open.
    if let Ok(got) = tokio::time::timeout(Duration::from_secs(3), net.next()).await {
        return Err(format!("an idle but live connection must stay open, got {got:?}").into());
    }
    std::mem::forget(net.nodes.remove(1));
    expect_closed(&mut net, 0, c, CloseReason::TimedOut).await
}

/// What the detection costs: datagrams per second one end of an idle open
/// connection sends (keep-alives and their answers), at the defaults.
#[tokio::test]
async fn idle_keepalive_traffic() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    let window = Duration::from_secs(6);
    let (before, after) = net.idle_stats(window).await?;
    let wakes = |i: usize| after[i].timeouts - before[i].timeouts;
    let mut total = 0.0;
    for (i, b) in before.iter().enumerate() {
        let sent = after[i].datagrams_out - b.datagrams_out;
        let per_s = sent as f64 / window.as_secs_f64();
        println!(
            "idle connection, end {i}: {sent} datagrams, {} timer wake-ups in {window:?} ({per_s:.2} datagrams/s)",
            wakes(i)
        );
        total += per_s;
        assert!(sent > 0, "an idle connection must keep proving it is alive");
        // An end sends one check per wake-up and answers each of the
        // other's: a timer that wakes a connection for no traffic
        // (str0m's statistics, say) leaves it sending less than that.
        assert!(
            sent + 1 >= wakes(i) + wakes(1 - i),
            "end {i}: {sent} datagrams for {} wake-ups here and {} there: a timer wakes the idle connection for nothing",
            wakes(i),
            wakes(1 - i)
        );
    }
    println!("idle connection, both ends: {total:.2} datagrams/s");
    // The initiator (node 0) checks every keep-alive interval; the acceptor
    // (node 1) every half silence timeout, twice as long at the defaults.
    let (initiator, acceptor) = (wakes(0), wakes(1));
    assert!(
        acceptor * 2 <= initiator + 1,
        "the acceptor checked {acceptor} times, the initiator {initiator}"
    );
    Ok(())
}
