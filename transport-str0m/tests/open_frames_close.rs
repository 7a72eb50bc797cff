//! Two transports: open, frames both ways whole and in order, local close
//! seen by the remote, nothing more from the closed connection.

mod common;

use std::time::Duration;

use common::{frame, Got, Net, TestResult};
use overlay_core::{CloseReason, ConnId, Transport, TransportCommand as Cmd, TransportEvent as Ev};

#[tokio::test]
async fn open_frames_both_ways_then_close() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(7);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;

    const N: u32 = 1000;
    let size = |i: u32| {
        if i % 97 == 5 {
            60_000
        } else {
            1 + (i as usize * 37) % 1500
        }
    };
    let window = net.nodes[0].send_window();
    let mut next_send = [0u32; 2];
    let mut in_flight = [0usize; 2];
    let mut next_recv = [0u32; 2];
    let mut sent_bytes = [0usize; 2];
    let mut credited = [0usize; 2];
    while next_recv != [N, N] {
        for side in 0..2 {
            while next_send[side] < N && in_flight[side] + size(next_send[side]) <= window {
                let f = frame(next_send[side], size(next_send[side]));
                in_flight[side] += f.len();
                sent_bytes[side] += f.len();
                net.cmd(side, Cmd::Send { conn: c, frame: f })?;
                next_send[side] += 1;
            }
        }
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(node, Ev::Sent { conn, bytes }) => {
                assert_eq!(conn, c);
                assert!(
                    bytes <= in_flight[node],
                    "more credit returned than was used"
                );
                in_flight[node] -= bytes;
                credited[node] += bytes;
            }
            Got::Event(node, Ev::Frame { conn, frame: got }) => {
                assert_eq!(conn, c);
                let from = 1 - node;
                let i = next_recv[from];
                assert_eq!(
                    got,
                    frame(i, size(i)),
                    "frame {i} from node {from} wrong or out of order"
                );
                next_recv[from] += 1;
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    // Every byte handed over is credited back once it left the queue.
    while credited != sent_bytes {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(node, Ev::Sent { bytes, .. }) => credited[node] += bytes,
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }

    net.cmd(0, Cmd::Close { conn: c })?;
    assert_eq!(
        net.nodes[0].connection_count(),
        0,
        "a closed connection is freed at once"
    );
    match net.next_within(Duration::from_secs(20)).await? {
        Got::Event(1, Ev::Closed { conn, reason }) => {
            assert_eq!(conn, c);
            assert_eq!(reason, CloseReason::Remote);
        }
        other => return Err(format!("expected the remote to see the close, got {other:?}").into()),
    }
    assert_eq!(net.nodes[1].connection_count(), 0);
    // Commands for the closed connection are ignored, not errors, and
    // nothing more is reported for it.
    net.cmd(
        0,
        Cmd::Send {
            conn: c,
            frame: frame(0, 10),
        },
    )?;
    net.cmd(0, Cmd::Close { conn: c })?;
    if let Ok(got) = tokio::time::timeout(Duration::from_millis(500), net.next()).await {
        return Err(format!("nothing expected after the close, got {got:?}").into());
    }
    Ok(())
}

/// Frames handed over just before a close reach the remote before it sees
/// the close: the frames and the DTLS close_notify leave together and may
/// be read in one batch, and the close must not end the remote's connection
/// before it delivered them (the receive batch once lost them).
#[tokio::test]
async fn frames_sent_right_before_a_close_all_arrive() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(9);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;

    const N: u32 = 8;
    for i in 0..N {
        net.cmd(
            0,
            Cmd::Send {
                conn: c,
                frame: frame(i, 200),
            },
        )?;
    }
    net.cmd(0, Cmd::Close { conn: c })?;
    let mut got = 0u32;
    loop {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(1, Ev::Frame { conn, frame: f }) => {
                assert_eq!(conn, c);
                assert_eq!(f, frame(got, 200), "frame {got} wrong or out of order");
                got += 1;
            }
            Got::Event(1, Ev::Closed { conn, .. }) => {
                assert_eq!(conn, c);
                break;
            }
            Got::Event(_, Ev::Sent { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert_eq!(got, N, "frames sent before the close were lost");
    Ok(())
}
