//! Frames handed over in one batch of commands are driven through str0m
//! once for the batch (written to the data channel together, then str0m's
//! output drained once): small frames share SCTP packets instead of going
//! out one datagram per frame, and they still arrive whole and in order,
//! with every byte credited back once.

mod common;

use std::time::Duration;

use common::{frame, Got, Net, TestResult};
use overlay_core::{ConnId, TransportCommand as Cmd, TransportEvent as Ev};

#[tokio::test]
async fn a_batch_of_small_frames_shares_packets_and_arrives_in_order() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(3);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;

    const N: u32 = 64;
    const SIZE: usize = 100;
    for round in 0..3u32 {
        let before = net.nodes[0].stats().datagrams_out;
        // One batch: every command before the transport is polled again.
        for i in 0..N {
            net.cmd(
                0,
                Cmd::Send {
                    conn: c,
                    frame: frame(round * N + i, SIZE),
                },
            )?;
        }
        let (mut received, mut credited) = (0u32, 0usize);
        while received < N || credited < N as usize * SIZE {
            match net.next_within(Duration::from_secs(20)).await? {
                Got::Event(0, Ev::Sent { bytes, .. }) => credited += bytes,
                Got::Event(1, Ev::Frame { frame: f, .. }) => {
                    let i = round * N + received;
                    assert_eq!(f, frame(i, SIZE), "frame {i} wrong or out of order");
                    received += 1;
                }
                other => return Err(format!("unexpected {other:?}").into()),
            }
        }
        assert_eq!(credited, N as usize * SIZE, "every byte credited once");
        let datagrams = net.nodes[0].stats().datagrams_out - before;
        // 64 frames of 100 bytes fill ~6 SCTP packets of ~1.1 KB (plus
        // perhaps a keep-alive check); driven once per frame, the first
        // ~35 (until the congestion window is full) go out one per datagram.
        assert!(
            datagrams <= 16,
            "round {round}: {N} frames of {SIZE} bytes took {datagrams} datagrams: not batched"
        );
    }
    Ok(())
}
