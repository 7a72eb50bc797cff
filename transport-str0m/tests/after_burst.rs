//! A connection that just carried a burst answers a lone small frame as a
//! fresh one does: the same datagrams per round trip, and no timer wake-up
//! in the way (the receive batch drives a connection once per up to 16
//! datagrams of a read batch; a lone datagram must still be handed over in
//! the pass that read it, not at the next timeout). Counts, not wall time.

mod common;

use std::time::Duration;

use common::{frame, Got, Net, TestResult};
use overlay_core::{ConnId, Transport, TransportCommand as Cmd, TransportEvent as Ev};

const ROUND_TRIPS: u32 = 40;

/// What `ROUND_TRIPS` ping/pongs of 32-byte frames cost both nodes:
/// (datagrams written, timeouts fed).
async fn ping_pong(net: &mut Net, c: ConnId, first: u32) -> Result<(u64, u64), String> {
    let stats = |net: &Net| {
        let (a, b) = (net.nodes[0].stats(), net.nodes[1].stats());
        (a.datagrams_out + b.datagrams_out, a.timeouts + b.timeouts)
    };
    let before = stats(net);
    for i in first..first + ROUND_TRIPS {
        for (from, to) in [(0, 1), (1, 0)] {
            net.cmd(
                from,
                Cmd::Send {
                    conn: c,
                    frame: frame(i, 32),
                },
            )
            .map_err(|e| e.to_string())?;
            net.nodes[from].flush();
            loop {
                match net.next_within(Duration::from_secs(20)).await? {
                    Got::Event(n, Ev::Frame { frame: f, .. }) if n == to => {
                        assert_eq!(f, frame(i, 32), "round trip {i}: wrong frame");
                        break;
                    }
                    Got::Event(_, Ev::Sent { .. }) => {}
                    other => return Err(format!("round trip {i}: unexpected {other:?}")),
                }
            }
        }
    }
    let after = stats(net);
    Ok((after.0 - before.0, after.1 - before.1))
}

#[tokio::test]
async fn a_lone_frame_after_a_burst_costs_what_it_costs_on_a_fresh_connection() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(5);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;

    let (fresh_datagrams, fresh_timeouts) = ping_pong(&mut net, c, 0).await?;

    // The burst: 2,000 frames of 1 KiB from 0 to 1, in batches of 64.
    const BURST: u32 = 2000;
    let mut received = 0u32;
    for batch in 0..BURST / 64 {
        for i in 0..64 {
            net.cmd(
                0,
                Cmd::Send {
                    conn: c,
                    frame: frame(batch * 64 + i, 1024),
                },
            )?;
        }
        net.nodes[0].flush();
        // Keep within the transports' queues: read until this batch is in.
        while received < (batch + 1) * 64 {
            match net.next_within(Duration::from_secs(20)).await? {
                Got::Event(1, Ev::Frame { frame: f, .. }) => {
                    assert_eq!(f, frame(received, 1024), "burst frame {received}");
                    received += 1;
                }
                Got::Event(_, Ev::Sent { .. }) => {}
                other => return Err(format!("during the burst: {other:?}").into()),
            }
        }
    }

    let (datagrams, timeouts) = ping_pong(&mut net, c, BURST).await?;
    println!(
        "{ROUND_TRIPS} round trips: fresh {fresh_datagrams} datagrams, {fresh_timeouts} timeouts; after the burst {datagrams} datagrams, {timeouts} timeouts"
    );
    // A round trip is two DATA packets and, every other one, a SACK
    // (sctp-proto acknowledges every second packet; a DATA does not carry
    // a pending delayed SACK): 3 datagrams per 2 round trips. Allow the
    // burst's own last SACK and a keep-alive check or two.
    assert!(
        datagrams <= fresh_datagrams + 4,
        "after a burst {ROUND_TRIPS} round trips took {datagrams} datagrams, on the fresh connection {fresh_datagrams}"
    );
    // Each frame is handed over in the pass that read its datagram. Were a
    // lone datagram left for the next timeout, every round trip would need
    // two; a keep-alive or a delayed-ack timer may fire once or twice by
    // chance on a loaded machine.
    let few = u64::from(ROUND_TRIPS) / 4;
    assert!(
        fresh_timeouts < few,
        "{ROUND_TRIPS} round trips on a fresh connection needed {fresh_timeouts} timer wake-ups"
    );
    assert!(
        timeouts <= fresh_timeouts + 4 && timeouts < few,
        "after a burst {ROUND_TRIPS} round trips needed {timeouts} timer wake-ups (fresh: {fresh_timeouts})"
    );
    Ok(())
}
