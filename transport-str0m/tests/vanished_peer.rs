//! A peer that stops answering (no close message) is reported
//! `TimedOut` by ICE, within seconds; a graceful drop is reported at once.

mod common;

use std::time::{Duration, Instant};

use common::{Got, Net, TestResult};
use overlay_core::{CloseReason, ConnId, TransportEvent as Ev};

#[tokio::test]
async fn silent_peer_times_out() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    // Node 1 hangs: its socket stays bound but nobody reads or answers.
    let hung = net.nodes.remove(1);
    std::mem::forget(hung);
    let start = Instant::now();
    match net.next_within(Duration::from_secs(40)).await? {
        Got::Event(0, Ev::Closed { conn, reason }) => {
            assert_eq!(conn, c);
            assert_eq!(reason, CloseReason::TimedOut);
        }
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    println!(
        "silent peer detected after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(net.nodes[0].connection_count(), 0);
    Ok(())
}

#[tokio::test]
async fn dropped_transport_is_a_remote_close() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    drop(net.nodes.remove(1));
    match net.next_within(Duration::from_secs(20)).await? {
        Got::Event(0, Ev::Closed { conn, reason }) => {
            assert_eq!(conn, c);
            assert_eq!(reason, CloseReason::Remote);
        }
        other => return Err(format!("expected a remote close, got {other:?}").into()),
    }
    Ok(())
}
