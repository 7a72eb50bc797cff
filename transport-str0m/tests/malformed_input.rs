//! Bad input from the network gives errors for the named connection, never
//! a panic, and leaves other connections working.

mod common;

use std::time::Duration;

use common::{frame, Got, Net, TestResult};
use overlay_core::{ConnId, Role, Signal, TransportCommand as Cmd, TransportEvent as Ev};
use transport_str0m::Str0mError;

#[tokio::test]
async fn malformed_signals_are_errors_for_their_connection() -> TestResult {
    let mut net = Net::bind(2)?;
    let good = ConnId(1);
    net.connect(0, good, 1, good)?;
    net.wait_open(vec![(0, good), (1, good)]).await?;

    // Each bad signal goes to a fresh acceptor or initiator on node 1.
    let cases: Vec<(Role, Signal, &str)> = vec![
        (
            Role::Acceptor,
            Signal::Offer {
                sdp: "v=0\r\nthis is not sdp\r\n".into(),
            },
            "sdp",
        ),
        (
            Role::Acceptor,
            Signal::Offer { sdp: String::new() },
            "empty",
        ),
        (
            Role::Acceptor,
            Signal::Answer {
                sdp: "v=0\r\n".into(),
            },
            "unexpected",
        ),
        (
            Role::Initiator,
            Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
            "unexpected",
        ),
        (
            Role::Initiator,
            Signal::Answer {
                sdp: "\u{0}\u{1}garbage".into(),
            },
            "sdp",
        ),
        (
            Role::Acceptor,
            Signal::candidate("candidate:1 1 udp notanumber 127.0.0.1 9 typ host"),
            "candidate",
        ),
        (
            Role::Acceptor,
            Signal::candidate("hello"),
            "not an ice candidate",
        ),
        (
            Role::Acceptor,
            Signal::Candidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: None,
                sdp_m_line_index: Some(3),
            },
            "media line",
        ),
    ];
    for (k, (role, signal, what)) in cases.into_iter().enumerate() {
        let conn = ConnId(100 + k as u64);
        net.cmd(1, Cmd::Open { conn, role })?;
        let err: Str0mError = match net.cmd(
            1,
            Cmd::Signal {
                conn,
                signal: signal.clone(),
            },
        ) {
            Err(e) => e,
            Ok(()) => return Err(format!("{signal:?} was accepted").into()),
        };
        let text = err.to_string().to_lowercase();
        assert!(
            text.contains(what),
            "error for {signal:?} should mention {what:?}: {text}"
        );
        // The failed connection is freed; later commands for it are ignored.
        net.cmd(
            1,
            Cmd::Signal {
                conn,
                signal: Signal::EndOfCandidates,
            },
        )?;
    }
    assert_eq!(
        net.nodes[1].connection_count(),
        1,
        "only the good connection remains"
    );

    // A signal for a connection nobody opened is ignored.
    net.cmd(
        1,
        Cmd::Signal {
            conn: ConnId(999),
            signal: Signal::Offer { sdp: "junk".into() },
        },
    )?;

    // The good connection still carries frames.
    net.cmd(
        0,
        Cmd::Send {
            conn: good,
            frame: frame(1, 100),
        },
    )?;
    loop {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(1, Ev::Frame { conn, frame: f }) => {
                assert_eq!((conn, f), (good, frame(1, 100)));
                break;
            }
            Got::Event(_, Ev::Sent { .. }) => {}
            Got::Event(1, Ev::Signal { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    Ok(())
}

#[tokio::test]
async fn garbage_datagrams_are_counted_not_fatal() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;

    let target = net.nodes[1].local_addr();
    let junk = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    // STUN-looking, DTLS-looking, RTP-looking and random datagrams.
    let datagrams: Vec<Vec<u8>> = vec![
        vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42],
        vec![22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 1, 2, 3],
        vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2],
        vec![0xff; 1400],
        vec![],
        (0..=255u8).collect(),
    ];
    for d in &datagrams {
        junk.send_to(d, target).await?;
    }
    net.cmd(
        0,
        Cmd::Send {
            conn: c,
            frame: frame(2, 2000),
        },
    )?;
    loop {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(1, Ev::Frame { frame: f, .. }) => {
                assert_eq!(f, frame(2, 2000));
                break;
            }
            Got::Event(_, Ev::Sent { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    let stats = net.nodes[1].stats();
    assert!(
        stats.malformed + stats.unrouted >= datagrams.len() as u64 - 1,
        "junk is counted: {stats:?}"
    );
    assert_eq!(net.nodes[1].connection_count(), 1);
    Ok(())
}

#[tokio::test]
async fn forged_dtls_from_a_candidate_address_does_not_kill_the_connection() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;

    // An attacker's socket, made a remote candidate of node 1's connection:
    // node 1 then sends it ICE checks, and what it sends back reaches the
    // connection (not just the unrouted counter).
    let attacker = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let port = attacker.local_addr()?.port();
    net.cmd(
        1,
        Cmd::Signal {
            conn: c,
            signal: Signal::candidate(format!(
                "candidate:9 1 udp 2130706431 127.0.0.1 {port} typ host"
            )),
        },
    )?;
    let mut buf = vec![0u8; 1500];
    let (_, victim) =
        tokio::time::timeout(Duration::from_secs(10), attacker.recv_from(&mut buf)).await??;
    // Garbage DTLS records: handshake, alert, application data, epoch 1.
    for first in [22u8, 21, 23] {
        let mut record = vec![first, 254, 253, 0, 1, 0, 0, 0, 0, 0, 9, 0, 40];
        record.extend((0..40u8).map(|b| b.wrapping_mul(37)));
        attacker.send_to(&record, victim).await?;
    }
    net.cmd(
        0,
        Cmd::Send {
            conn: c,
            frame: frame(3, 700),
        },
    )?;
    net.cmd(
        1,
        Cmd::Send {
            conn: c,
            frame: frame(4, 700),
        },
    )?;
    let mut got = 0;
    while got < 2 {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(1, Ev::Frame { frame: f, .. }) => {
                assert_eq!(f, frame(3, 700));
                got += 1;
            }
            Got::Event(0, Ev::Frame { frame: f, .. }) => {
                assert_eq!(f, frame(4, 700));
                got += 1;
            }
            Got::Event(_, Ev::Sent { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert_eq!(net.nodes[1].connection_count(), 1);
    println!("node 1 after forged records: {:?}", net.nodes[1].stats());
    Ok(())
}
