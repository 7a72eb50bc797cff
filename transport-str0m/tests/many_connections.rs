//! One node holds 200 connections on its one UDP socket, all open and
//! carrying frames, driven by the one task that polls it.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{frame, open_sockets, rss_kib, Got, Net, TestResult};
use overlay_core::{ConnId, TransportCommand as Cmd, TransportEvent as Ev};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

const LEAVES: usize = 200;

#[tokio::test]
async fn two_hundred_connections_share_one_socket() -> TestResult {
    // Leaves first, then count sockets, then the hub.
    let mut net = Net::bind(LEAVES)?;
    let before = open_sockets();
    net.nodes
        .insert(0, Str0mTransport::bind(&RtcConfig::loopback())?);
    let hub = 0;
    let rss_before = rss_kib();
    for leaf in 1..=LEAVES {
        // Half the connections are offered by the hub, half by the leaves.
        let hub_conn = ConnId(leaf as u64);
        if leaf % 2 == 0 {
            net.connect(hub, hub_conn, leaf, ConnId(0))?;
        } else {
            net.connect(leaf, ConnId(0), hub, hub_conn)?;
        }
    }
    let mut pending: Vec<(usize, ConnId)> = (1..=LEAVES)
        .flat_map(|l| [(hub, ConnId(l as u64)), (l, ConnId(0))])
        .collect();
    pending.sort();
    net.wait_open(pending).await?;
    assert_eq!(net.nodes[hub].connection_count(), LEAVES);
    assert_eq!(
        open_sockets() - before,
        1,
        "the hub's 200 connections use one socket"
    );
    let grown = rss_kib().saturating_sub(rss_before);
    println!(
        "{LEAVES} open connections ({} str0m Rtcs, both ends in this process): resident memory +{grown} KiB, {} KiB per connection end",
        2 * LEAVES,
        grown / (2 * LEAVES as u64)
    );

    // A frame each way on every connection.
    for leaf in 1..=LEAVES {
        net.cmd(
            hub,
            Cmd::Send {
                conn: ConnId(leaf as u64),
                frame: frame(leaf as u32, 300),
            },
        )?;
        net.cmd(
            leaf,
            Cmd::Send {
                conn: ConnId(0),
                frame: frame(leaf as u32, 300),
            },
        )?;
    }
    let mut at_hub = BTreeSet::new();
    let mut at_leaves = BTreeSet::new();
    while at_hub.len() < LEAVES || at_leaves.len() < LEAVES {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(0, Ev::Frame { conn, frame: f }) => {
                assert_eq!(
                    f,
                    frame(conn.0 as u32, 300),
                    "hub got leaf {}'s frame on its connection",
                    conn.0
                );
                at_hub.insert(conn.0);
            }
            Got::Event(leaf, Ev::Frame { frame: f, .. }) => {
                assert_eq!(f, frame(leaf as u32, 300));
                at_leaves.insert(leaf);
            }
            Got::Event(_, Ev::Sent { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    let stats = net.nodes[hub].stats();
    assert_eq!(stats.frames_in, LEAVES as u64);
    assert_eq!(stats.pair_collisions, 0);
    Ok(())
}
