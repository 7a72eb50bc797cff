//! Limits, each with its error reply: message size (dropped, then the hard
//! cap closes), messages per second (token bucket; repeated abuse closes),
//! peers per room, rooms count, connections count, the join deadline, and
//! the heartbeat that drops a client which stopped answering pings, and the
//! bounded queue that drops a client which stopped reading. Runs on
//! tokio's paused clock: waiting for a timeout takes no real time.

mod common;

use std::time::Duration;

use common::{envelope, peer, request_contact, server, until, Ended, Raw, TestResult};
use overlay_core::Signal;
use overlay_signaling::wire::ServerMessage;
use overlay_signaling::{ClientError, Contact, ErrorCode, Incoming, SignalingClient};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn limits_answer_with_their_error_codes() -> TestResult {
    message_size().await?;
    message_rate().await?;
    room_and_server_capacity().await?;
    join_deadline().await?;
    heartbeat().await?;
    slow_reader().await?;
    Ok(())
}

async fn message_size() -> TestResult {
    let server = server(|c| c.max_message_bytes = 1024).await?;
    let mut raw = Raw::connect(&server.url()).await?;
    raw.join("r", peer(1)).await?;
    let padded = |n: usize| {
        json!({"v": 1, "type": "requestContact", "id": 1, "pad": "x".repeat(n)}).to_string()
    };
    // Over the limit: dropped with an error reply; the connection lives on.
    raw.send_text(padded(2000)).await?;
    assert_eq!(raw.expect_error().await?, (None, ErrorCode::TooLarge));
    raw.send_text(padded(100)).await?;
    assert_eq!(raw.next_frame().await?.msg, ServerMessage::Alone);

    // Through the client: an oversized signal comes back as an error event.
    let mut client = SignalingClient::connect(&server.url(), "r", peer(2)).await?;
    assert_eq!(client.request_contact(None).await?, Contact::Peer(peer(1)));
    let huge = envelope(
        peer(2),
        1,
        Signal::Offer {
            sdp: "a".repeat(3000),
        },
    );
    client.send(peer(1), huge).await?;
    match client.recv().await? {
        Incoming::Error(ClientError::TooLarge(message)) => {
            assert!(message.contains("1024"), "{message}")
        }
        other => return Err(format!("expected a size error, got {other:?}").into()),
    }

    // Beyond four times the limit the server does not even buffer it.
    raw.send_text(padded(5000)).await?;
    assert_eq!(raw.ended().await?, Ended::Close(1009));
    client.close().await;
    server.shutdown().await;
    Ok(())
}

async fn message_rate() -> TestResult {
    let server = server(|c| {
        c.messages_per_second = 1;
        c.burst = 3;
        c.max_rate_violations = 10;
    })
    .await?;
    let mut raw = Raw::connect(&server.url()).await?;
    raw.join("r", peer(1)).await?; // takes one token
    raw.send_burst((1..=6).map(|id| request_contact(id, None)).collect())
        .await?;
    let mut limited = Vec::new();
    for _ in 1..=6 {
        let frame = raw.next_frame().await?;
        match frame.msg {
            ServerMessage::Alone => {}
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                message,
            } => {
                assert!(message.contains("slow down"), "{message}");
                limited.extend(frame.id);
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    // Two tokens were left after the join; the rest of the burst was dropped.
    assert_eq!(limited, vec![3, 4, 5, 6]);
    // Tokens come back at the configured rate.
    tokio::time::sleep(Duration::from_secs(1)).await;
    raw.send_text(request_contact(7, None)).await?;
    assert_eq!(raw.next_frame().await?.msg, ServerMessage::Alone);

    // The typed client error.
    let client = SignalingClient::connect(&server.url(), "r", peer(2)).await?;
    let mut results = Vec::new();
    for _ in 0..4 {
        results.push(client.request_contact(None).await);
    }
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(ClientError::RateLimited(_)))),
        "{results:?}"
    );

    // A client that keeps flooding is disconnected (policy violation).
    raw.send_burst((100..130).map(|id| request_contact(id, None)).collect())
        .await?;
    assert_eq!(raw.ended().await?, Ended::Close(1008));
    client.close().await;
    server.shutdown().await;
    Ok(())
}

async fn room_and_server_capacity() -> TestResult {
    let server = server(|c| {
        c.max_peers_per_room = 2;
        c.max_rooms = 1;
        c.max_connections = 3;
    })
    .await?;
    let url = server.url();
    let a = SignalingClient::connect(&url, "r", peer(1)).await?;
    let b = SignalingClient::connect(&url, "r", peer(2)).await?;
    // Peers per room.
    let full = SignalingClient::connect(&url, "r", peer(3)).await;
    assert!(
        matches!(&full, Err(ClientError::RoomFull(m)) if m.contains("2 peers")),
        "{full:?}"
    );
    until(&server, |s| s.connections == 2).await?;
    // Rooms count.
    let other = SignalingClient::connect(&url, "s", peer(3)).await;
    assert!(
        matches!(other, Err(ClientError::TooManyRooms(_))),
        "{other:?}"
    );
    until(&server, |s| s.connections == 2).await?;
    // Connections count: the third connection is served, the fourth refused.
    let mut third = Raw::connect(&url).await?;
    until(&server, |s| s.connections == 3).await?;
    let mut fourth = Raw::connect(&url).await?;
    assert_eq!(fourth.expect_error().await?, (None, ErrorCode::ServerFull));
    assert_eq!(fourth.ended().await?, Ended::Close(1013));
    // The refused connection changed nothing for the others.
    assert_eq!(
        third.join("r2", peer(4)).await?.msg,
        ServerMessage::Error {
            code: ErrorCode::TooManyRooms,
            message:
                "the server has its maximum of 1 rooms open; join an existing room or try later"
                    .into(),
        }
    );
    assert_eq!(b.request_contact(None).await?, Contact::Peer(peer(1)));
    a.close().await;
    b.close().await;
    server.shutdown().await;
    Ok(())
}

async fn join_deadline() -> TestResult {
    let server = server(|c| c.join_timeout = Duration::from_secs(10)).await?;
    let mut silent = Raw::connect(&server.url()).await?;
    // It never joins: after the deadline it is told why, then closed.
    assert_eq!(silent.expect_error().await?, (None, ErrorCode::JoinTimeout));
    assert_eq!(silent.ended().await?, Ended::Close(1008));
    // A client that joined in time is not affected by the deadline.
    let client = SignalingClient::connect(&server.url(), "r", peer(1)).await?;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(client.request_contact(None).await?, Contact::Alone);
    client.close().await;
    server.shutdown().await;
    Ok(())
}

async fn heartbeat() -> TestResult {
    let server = server(|c| {
        c.ping_interval = Duration::from_secs(5);
        c.heartbeat_timeout = Duration::from_secs(15);
    })
    .await?;
    let url = server.url();
    // The dead client joins, then never reads again: it answers no ping.
    let mut dead = Raw::connect(&url).await?;
    dead.join("r", peer(1)).await?;
    let live = SignalingClient::connect(&url, "r", peer(2)).await?;
    assert_eq!(
        live.request_contact(Some(peer(1))).await?,
        Contact::Peer(peer(1))
    );
    // Minutes of virtual time: the live client answers pings and stays; the
    // dead one is dropped from the room.
    let mut dropped = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match live.request_contact(Some(peer(1))).await {
            Ok(Contact::Peer(_)) => {}
            Err(ClientError::UnknownPeer(_)) => {
                dropped = true;
                break;
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert!(dropped, "the dead client was never dropped");
    assert_eq!(server.stats().clients_dropped, 1);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(live.request_contact(None).await?, Contact::Alone);
    assert_eq!(server.stats().peers, 1);
    live.close().await;
    server.shutdown().await;
    Ok(())
}

async fn slow_reader() -> TestResult {
    let server = server(|c| {
        c.max_message_bytes = 256 * 1024;
        c.outgoing_queue = 4;
        c.messages_per_second = 100_000;
        c.burst = 100_000;
        // Only the full queue may drop the slow reader here.
        c.heartbeat_timeout = Duration::from_secs(24 * 3600);
    })
    .await?;
    let url = server.url();
    // The slow reader joins, then never reads: its socket buffers fill, then
    // its queue on the server.
    let mut slow = Raw::connect(&url).await?;
    slow.join("r", peer(1)).await?;
    let mut sender = SignalingClient::connect(&url, "r", peer(2)).await?;
    assert_eq!(
        sender.request_contact(Some(peer(1))).await?,
        Contact::Peer(peer(1))
    );
    let bystander = SignalingClient::connect(&url, "r", peer(3)).await?;
    let big = envelope(
        peer(2),
        1,
        Signal::Offer {
            sdp: "a".repeat(200 * 1024),
        },
    );
    let mut failed = None;
    for sent in 1..=2000 {
        sender.send(peer(1), big.clone()).await?;
        // Each relay failure comes back as an event; look without waiting.
        if let Ok(Ok(event)) = tokio::time::timeout(Duration::ZERO, sender.recv()).await {
            failed = Some((sent, event));
            break;
        }
        tokio::task::yield_now().await;
    }
    match failed {
        Some((
            _,
            Incoming::RelayFailed {
                to,
                error: ClientError::UnknownPeer(message),
                ..
            },
        )) => {
            assert_eq!(to, peer(1));
            assert!(
                message.contains("could not take more messages"),
                "{message}"
            );
        }
        other => return Err(format!("the slow reader was never dropped: {other:?}").into()),
    }
    assert_eq!(server.stats().clients_dropped, 1);
    // Nobody else noticed.
    assert_eq!(
        bystander.request_contact(Some(peer(2))).await?,
        Contact::Peer(peer(2))
    );
    let hello = envelope(peer(3), 2, Signal::Offer { sdp: "v=0".into() });
    bystander.send(peer(2), hello.clone()).await?;
    loop {
        match sender.recv().await? {
            // Signals still in flight when the slow reader was dropped.
            Incoming::RelayFailed {
                to,
                error: ClientError::UnknownPeer(_),
                ..
            } if to == peer(1) => {}
            other => {
                assert_eq!(other, Incoming::Signal(hello));
                break;
            }
        }
    }
    assert_eq!(slow.ended().await?, Ended::Dropped);
    sender.close().await;
    bystander.close().await;
    server.shutdown().await;
    Ok(())
}
