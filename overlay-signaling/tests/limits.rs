//! Limits, each with its error reply: message size (dropped, then the hard
//! cap closes), messages per second (token bucket; repeated abuse closes),
//! peers per room, rooms count, connections count, the join deadline, and
//! the heartbeat that drops a client which stopped answering pings, and the
//! bounded queue that drops a client which stopped reading. Runs on
//! tokio's paused clock: waiting for a timeout takes no real time.

mod common;

use std::time::Duration;

use common::{envelope, join, key, peer, request_contact, server, until, Ended, Raw, TestResult};
use overlay_core::Signal;
use overlay_signaling::wire::ServerMessage;
use overlay_signaling::{ClientError, Contact, ErrorCode, Incoming};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn limits_answer_with_their_error_codes() -> TestResult {
    message_size().await?;
    message_rate().await?;
    room_and_server_capacity().await?;
    join_deadline().await?;
    heartbeat().await?;
    flooded_member_stays().await?;
    pipelined_requests_get_replies_and_close_code().await?;
    Ok(())
}

async fn message_size() -> TestResult {
    let server = server(|c| c.max_message_bytes = 1024).await?;
    let mut raw = Raw::connect(&server.url()).await?;
    raw.join("r", &key(1)).await?;
    let padded = |n: usize| {
        json!({"v": 2, "type": "requestContact", "id": 1, "pad": "x".repeat(n)}).to_string()
    };
    // Over the limit: dropped with an error reply; the connection lives on.
    raw.send_text(padded(2000)).await?;
    assert_eq!(raw.expect_error().await?, (None, ErrorCode::TooLarge));
    raw.send_text(padded(100)).await?;
    assert_eq!(raw.next_frame().await?.msg, ServerMessage::Alone);

    // Through the client: an oversized signal comes back as an error event.
    let mut client = join(&server.url(), "r", 2).await?;
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
    raw.join("r", &key(1)).await?; // takes one token
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
    let client = join(&server.url(), "r", 2).await?;
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
    let a = join(&url, "r", 1).await?;
    let b = join(&url, "r", 2).await?;
    // Peers per room.
    let full = join(&url, "r", 3).await;
    assert!(
        matches!(&full, Err(ClientError::RoomFull(m)) if m.contains("2 peers")),
        "{full:?}"
    );
    until(&server, |s| s.connections == 2).await?;
    // Rooms count.
    let other = join(&url, "s", 3).await;
    assert!(
        matches!(other, Err(ClientError::TooManyRooms(_))),
        "{other:?}"
    );
    until(&server, |s| s.connections == 2).await?;
    // Connections count: the third connection is served, the fourth refused.
    let mut third = Raw::connect(&url).await?;
    until(&server, |s| s.connections == 3).await?;
    let mut fourth = Raw::connect_unchecked(&url).await?;
    assert_eq!(fourth.expect_error().await?, (None, ErrorCode::ServerFull));
    assert_eq!(fourth.ended().await?, Ended::Close(1013));
    // The refused connection changed nothing for the others.
    assert_eq!(
        third.join("r2", &key(4)).await?.msg,
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
    let client = join(&server.url(), "r", 1).await?;
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
    dead.join("r", &key(1)).await?;
    let live = join(&url, "r", 2).await?;
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

/// Two members flood a third that reads slowly, each under the rate
/// limit: their signals are refused (`peer_busy`), the flooded member stays
/// in its room and gets every signal that was queued for it, and more once
/// it reads again. (It used to be evicted.)
async fn flooded_member_stays() -> TestResult {
    let server = server(|c| {
        c.max_message_bytes = 256 * 1024;
        c.outgoing_queue = 4;
        c.messages_per_second = 100_000;
        c.burst = 100_000;
        // Only a full queue could drop the slow reader here.
        c.heartbeat_timeout = Duration::from_secs(24 * 3600);
    })
    .await?;
    let url = server.url();
    // The slow reader joins, then stops reading for a while: its socket
    // buffers fill, then its queue on the server.
    let mut slow = Raw::connect(&url).await?;
    slow.join("r", &key(1)).await?;
    let mut senders = Vec::new();
    for n in [2, 3] {
        let sender = join(&url, "r", n).await?;
        assert_eq!(
            sender.request_contact(Some(peer(1))).await?,
            Contact::Peer(peer(1))
        );
        senders.push((n, sender));
    }
    let bystander = join(&url, "r", 4).await?;
    let mut busy = 0;
    for (n, sender) in &mut senders {
        let big = envelope(
            peer(*n),
            1,
            Signal::Offer {
                sdp: "a".repeat(200 * 1024),
            },
        );
        let mut refused = false;
        for _ in 1..=2000 {
            sender.send(peer(1), big.clone()).await?;
            // Each refusal comes back as an event; look without waiting.
            if let Ok(Ok(event)) = tokio::time::timeout(Duration::ZERO, sender.recv()).await {
                match event {
                    Incoming::RelayFailed {
                        to,
                        error: ClientError::PeerBusy(message),
                        ..
                    } => {
                        assert_eq!(to, peer(1));
                        assert!(message.contains("send it again later"), "{message}");
                        refused = true;
                        busy += 1;
                        break;
                    }
                    other => return Err(format!("unexpected {other:?}").into()),
                }
            }
            tokio::task::yield_now().await;
        }
        assert!(refused, "the flooding sender was never refused");
    }
    assert!(busy >= 2);
    let stats = server.stats();
    assert_eq!(stats.clients_dropped, 0, "nobody was dropped");
    assert!(stats.signals_refused_busy >= 2, "{stats:?}");
    // The flooded member is still in the room...
    assert_eq!(
        bystander.request_contact(Some(peer(1))).await?,
        Contact::Peer(peer(1))
    );
    let hello = envelope(peer(4), 2, Signal::Offer { sdp: "v=0".into() });
    // ...and once it reads, it gets what was queued, then new signals.
    let mut offers = 0;
    let mut sent_hello = false;
    loop {
        let frame = slow.next_json().await?;
        if frame["type"] == "signal" && frame["envelope"]["handshake"] == "0000000000000002" {
            break;
        }
        if frame["type"] == "signal" {
            offers += 1;
        }
        if !sent_hello {
            bystander.send(peer(1), hello.clone()).await?;
            sent_hello = true;
        }
    }
    assert!(offers >= 4, "the queued signals were delivered ({offers})");
    assert_eq!(server.stats().peers, 4);
    for (_, sender) in senders {
        sender.close().await;
    }
    bystander.close().await;
    server.shutdown().await;
    Ok(())
}

/// A client that pipelines far more requests than the rate allows gets,
/// in order, a reply to each request within the burst, a `rate_limited`
/// error (with its id) for each one over it, then close code 1008 once
/// it has been limited `max_rate_violations` times in a row. (Past ~70
/// pipelined requests it used to be dropped without any of that.)
async fn pipelined_requests_get_replies_and_close_code() -> TestResult {
    let server = server(|_| {}).await?; // rate 20/s, burst 40, 100 violations
    let mut raw = Raw::connect(&server.url()).await?;
    raw.join("r", &key(1)).await?; // takes one token
    raw.send_burst((1..=300).map(|id| request_contact(id, None)).collect())
        .await?;
    let (frames, end) = raw.frames_until_end().await?;
    let mut answered = Vec::new();
    let mut limited = Vec::new();
    for frame in frames {
        match frame.msg {
            ServerMessage::Alone => answered.extend(frame.id),
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited.extend(frame.id),
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert_eq!(answered, (1..=39).collect::<Vec<u64>>());
    assert_eq!(limited, (40..=139).collect::<Vec<u64>>());
    assert_eq!(end, Ended::Close(1008));
    server.shutdown().await;
    Ok(())
}
