//! Handshakes that cannot complete end with `Closed { Failed }`, and bad
//! remote signals are refused with an error, never a panic.

mod common;

use std::time::{Duration, Instant};

use overlay_core::{
    CloseReason, ConnId, Role, Signal, Transport, TransportCommand, TransportEvent,
};
use rtc_common::RtcConfig;
use transport_webrtcrs::{Error, WebRtcTransport};

async fn next_event(t: &mut WebRtcTransport) -> TransportEvent {
    tokio::time::timeout(common::GUARD, std::future::poll_fn(|cx| t.poll_event(cx)))
        .await
        .expect("an event")
}

fn signal(t: &mut WebRtcTransport, conn: ConnId, signal: Signal) -> Result<(), Error> {
    t.handle_command(Instant::now(), TransportCommand::Signal { conn, signal })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_offer_fails_after_the_handshake_timeout() {
    common::init_tracing();
    let config = RtcConfig::loopback().with_handshake_timeout(Duration::from_secs(2));
    let mut t = WebRtcTransport::bind(&config).expect("transport");
    let conn = ConnId(7);
    t.handle_command(
        Instant::now(),
        TransportCommand::Open {
            conn,
            role: Role::Initiator,
        },
    )
    .expect("open");
    loop {
        match next_event(&mut t).await {
            TransportEvent::Signal { .. } => {}
            TransportEvent::Closed {
                conn: c,
                reason: CloseReason::Failed(why),
            } => {
                assert_eq!(c, conn);
                assert!(why.contains("not open"), "reason: {why}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let probe = t.task_probe();
    common::eventually("tasks end", || probe.live_tasks() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signals_are_errors() {
    common::init_tracing();
    let mut t = WebRtcTransport::bind(&RtcConfig::loopback()).expect("transport");
    let (ini, acc) = (ConnId(1), ConnId(2));
    let open = |t: &mut WebRtcTransport, conn, role| {
        t.handle_command(Instant::now(), TransportCommand::Open { conn, role })
            .expect("open")
    };
    open(&mut t, ini, Role::Initiator);
    open(&mut t, acc, Role::Acceptor);
    assert!(matches!(
        t.handle_command(
            Instant::now(),
            TransportCommand::Open {
                conn: ini,
                role: Role::Acceptor
            }
        ),
        Err(Error::AlreadyOpen(_))
    ));

    // Unknown connections are not errors (the engine may race a close).
    assert!(signal(
        &mut t,
        ConnId(99),
        Signal::Offer {
            sdp: "garbage".into()
        }
    )
    .is_ok());
    assert!(t
        .handle_command(
            Instant::now(),
            TransportCommand::Send {
                conn: ConnId(99),
                frame: bytes::Bytes::from_static(b"x")
            }
        )
        .is_ok());
    assert!(t
        .handle_command(Instant::now(), TransportCommand::Close { conn: ConnId(99) })
        .is_ok());

    // Each of these is refused, and the connection dropped.
    type Case = (Role, Signal, fn(&Error) -> bool);
    let cases: Vec<Case> = vec![
        (
            Role::Acceptor,
            Signal::Offer {
                sdp: "this is not SDP".into(),
            },
            |e| matches!(e, Error::BadSdp { .. }),
        ),
        (Role::Acceptor, Signal::Offer { sdp: String::new() }, |e| {
            matches!(e, Error::Signal { .. })
        }),
        (
            Role::Initiator,
            Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
            |e| matches!(e, Error::UnexpectedSignal { .. }),
        ),
        (
            Role::Acceptor,
            Signal::Answer {
                sdp: "v=0\r\n".into(),
            },
            |e| matches!(e, Error::UnexpectedSignal { .. }),
        ),
        (
            Role::Acceptor,
            Signal::candidate("candidate:1 1 udp notanumber 127.0.0.1 9 typ host"),
            |e| matches!(e, Error::BadCandidate { .. }),
        ),
        (Role::Acceptor, Signal::candidate("hello"), |e| {
            matches!(e, Error::Signal { .. })
        }),
        (
            Role::Acceptor,
            Signal::Candidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: None,
                sdp_m_line_index: Some(3),
            },
            |e| matches!(e, Error::Signal { .. }),
        ),
    ];
    for (i, (role, bad, expected)) in cases.into_iter().enumerate() {
        let conn = ConnId(100 + i as u64);
        open(&mut t, conn, role);
        let err = signal(&mut t, conn, bad.clone()).expect_err("bad signal refused");
        assert!(expected(&err), "case {i} ({bad:?}): wrong error {err}");
        assert!(!err.to_string().is_empty());
    }
    // Tolerated: browser habits (leading a=, null sdpMLineIndex, empty
    // candidate = end of candidates), candidates before the offer.
    let tolerated = [
        Signal::Candidate {
            candidate: "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n".into(),
            sdp_mid: None,
            sdp_m_line_index: None,
        },
        Signal::Candidate {
            candidate: String::new(),
            sdp_mid: None,
            sdp_m_line_index: None,
        },
        Signal::Candidate {
            candidate: "a=end-of-candidates".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        },
        Signal::EndOfCandidates,
    ];
    for s in tolerated {
        signal(&mut t, acc, s.clone()).unwrap_or_else(|e| panic!("{s:?} refused: {e}"));
    }
    // Only the two good connections remain.
    assert_eq!(t.stats().connections, 2);
}
