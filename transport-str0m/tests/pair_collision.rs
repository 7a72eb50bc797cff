//! Two connections between the same two sockets: the documented limit.
//! The second fails cleanly (its handshake cannot complete: str0m routes
//! the remote socket's packets to the first); the first keeps working.

mod common;

use std::time::Duration;

use common::{frame, Got, Net, TestResult};
use overlay_core::{CloseReason, ConnId, TransportCommand as Cmd, TransportEvent as Ev};

#[tokio::test]
async fn second_connection_to_the_same_socket_fails_cleanly() -> TestResult {
    let config = rtc_common::RtcConfig::loopback().with_handshake_timeout(Duration::from_secs(3));
    let mut net = Net::bind_with(2, &config)?;
    let first = ConnId(1);
    net.connect(0, first, 1, first)?;
    net.wait_open(vec![(0, first), (1, first)]).await?;

    let second = ConnId(2);
    net.connect(0, second, 1, second)?;
    let mut failed = 0;
    let mut opened = Vec::new();
    while failed == 0 {
        match net.next_within(Duration::from_secs(40)).await? {
            Got::Event(node, Ev::Closed { conn, reason }) => {
                assert_eq!(
                    conn, second,
                    "only the second connection may fail (node {node}): {reason}"
                );
                assert!(matches!(reason, CloseReason::Failed(_)), "{reason:?}");
                failed += 1;
            }
            Got::Event(node, Ev::Opened { conn, .. }) => opened.push((node, conn)),
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    // The first connection is intact.
    net.cmd(
        1,
        Cmd::Send {
            conn: first,
            frame: frame(9, 500),
        },
    )?;
    loop {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(0, Ev::Frame { conn, frame: f }) => {
                assert_eq!((conn, f), (first, frame(9, 500)));
                break;
            }
            Got::Event(_, Ev::Closed { conn, .. }) if conn == second => {}
            Got::Event(_, Ev::Opened { conn, .. }) if conn == second => {}
            Got::Event(_, Ev::Sent { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    Ok(())
}
