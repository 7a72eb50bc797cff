//! A datagram from an address no connection knows is dropped and counted
//! (`Stats::unrouted`), reaches no connection (none rejects it, none
//! closes) and leaves every open connection carrying frames.

mod common;

use std::time::Duration;

use common::{frame, Got, Net, TestResult};
use overlay_core::{ConnId, Signal, TransportCommand as Cmd, TransportEvent as Ev};

/// A STUN message of class/method `kind` with these attributes and a
/// MESSAGE-INTEGRITY nobody can check (the sender knows no password).
fn stun(kind: [u8; 2], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in attrs.iter().chain([&(0x0008, &[0xab; 20][..])]) {
        body.extend(t.to_be_bytes());
        body.extend(u16::try_from(v.len()).unwrap_or(0).to_be_bytes());
        body.extend(*v);
        body.resize((body.len() + 3) & !3, 0);
    }
    let mut d = kind.to_vec();
    d.extend(u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
    d.extend([0x21, 0x12, 0xa4, 0x42]);
    d.extend([7u8; 12]);
    d.extend(body);
    d
}

/// A Binding request (a connectivity check) for `ufrag`.
fn check(ufrag: &str) -> Vec<u8> {
    let user = format!("{ufrag}:remote");
    stun(
        [0x00, 0x01],
        &[(0x0006, user.as_bytes()), (0x0024, &[0x6e, 0, 0x1e, 0xff])],
    )
}

#[tokio::test]
async fn a_datagram_from_an_unknown_address_is_dropped_and_counted() -> TestResult {
    // Node 1 holds two connections (to nodes 0 and 2).
    let mut net = Net::bind(3)?;
    let (a, b) = (ConnId(1), ConnId(2));
    net.connect(0, a, 1, a)?;
    net.connect(2, b, 1, b)?;
    net.wait_open(vec![(0, a), (1, a), (2, b), (1, b)]).await?;
    // Let the handshakes' last datagrams land before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = net.nodes[1].stats();

    let target = net.nodes[1].local_addr();
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    // Node 1's ufrag for connection `a`, from its answer.
    let ufrag = net
        .signals_seen
        .iter()
        .find_map(|(node, conn, signal)| match signal {
            Signal::Answer { sdp } if *node == 1 && *conn == a => sdp
                .lines()
                .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
                .map(str::to_owned),
            _ => None,
        })
        .ok_or("no answer from node 1 seen")?;
    let datagrams: Vec<Vec<u8>> = vec![
        // A check for a ufrag nobody has.
        check("nosuchufrag0000x"),
        // A check naming connection `a`'s ufrag, with a forged integrity.
        check(&ufrag),
        // A DTLS ClientHello-looking record.
        vec![
            22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 13, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0,
        ],
        // A Binding success for a transaction nobody started.
        stun(
            [0x01, 0x01],
            &[(0x0020, &[0, 1, 0x21, 0x13, 0x5e, 0x12, 0xa4, 0x43])],
        ),
    ];
    for d in &datagrams {
        stranger.send_to(d, target).await?;
    }
    // Frames on both connections still flow, both ways.
    net.cmd(
        0,
        Cmd::Send {
            conn: a,
            frame: frame(1, 300),
        },
    )?;
    net.cmd(
        2,
        Cmd::Send {
            conn: b,
            frame: frame(2, 300),
        },
    )?;
    net.cmd(
        1,
        Cmd::Send {
            conn: a,
            frame: frame(3, 300),
        },
    )?;
    let mut got = 0;
    while got < 3 {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(1, Ev::Frame { conn, frame: f }) => {
                let want = if conn == a {
                    frame(1, 300)
                } else {
                    frame(2, 300)
                };
                assert_eq!(f, want);
                got += 1;
            }
            Got::Event(0, Ev::Frame { frame: f, .. }) => {
                assert_eq!(f, frame(3, 300));
                got += 1;
            }
            Got::Event(_, Ev::Sent { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    let after = net.nodes[1].stats();
    let n = datagrams.len() as u64;
    assert_eq!(
        (
            after.unrouted - before.unrouted,
            after.malformed - before.malformed
        ),
        (n, 0),
        "every stranger's datagram parses, is dropped and counted: {before:?} -> {after:?}"
    );
    assert_eq!(
        after.rejected_input, before.rejected_input,
        "no connection was handed a stranger's datagram"
    );
    assert_eq!(net.nodes[1].connection_count(), 2);
    Ok(())
}
