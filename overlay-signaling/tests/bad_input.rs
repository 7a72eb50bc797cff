//! Bad input: bad JSON, wrong version, unknown type, bad fields, binary
//! frames, requests out of order, relays to a peer not in the room or with a
//! forged sender, and a connection that is not WebSocket at all. Each gets its
//! error reply (with the request's id when it had one) and the connection
//! stays usable; meanwhile two well-behaved members are not affected.

mod common;

use common::{
    envelope, join, key, peer, request_contact, server, signal_to, Ended, Raw, TestResult,
};
use overlay_core::Signal;
use overlay_signaling::wire;
use overlay_signaling::wire::ServerMessage;
use overlay_signaling::{Contact, ErrorCode, Incoming};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn bad_input_gets_error_replies_and_hurts_no_one() -> TestResult {
    let server = server(|_| {}).await?;
    let url = server.url();
    let mut good_contact = join(&url, "r", 1).await?;
    let good_newcomer = join(&url, "r", 2).await?;
    assert_eq!(
        good_newcomer.request_contact(None).await?,
        Contact::Peer(peer(1))
    );

    let mut bad = Raw::connect(&url).await?;
    // Before joining.
    bad.send_text("{not json").await?;
    assert_eq!(bad.expect_error().await?, (None, ErrorCode::BadJson));
    bad.send_text("[1, 2, 3]").await?;
    assert_eq!(bad.expect_error().await?, (None, ErrorCode::BadJson));
    bad.send_text(json!({"v": 2, "type": "teleport", "id": 3}).to_string())
        .await?;
    assert_eq!(bad.expect_error().await?, (Some(3), ErrorCode::UnknownType));
    bad.send_text(json!({"v": 2, "id": 4}).to_string()).await?;
    assert_eq!(bad.expect_error().await?, (Some(4), ErrorCode::BadMessage));
    bad.send_text(
        json!({"v": 2, "type": "join", "id": 5, "room": "r", "peer": "not-hex"}).to_string(),
    )
    .await?;
    assert_eq!(bad.expect_error().await?, (Some(5), ErrorCode::BadMessage));
    bad.send_text(
        json!({"v": 2, "type": "join", "id": 6, "room": "bell\u{7}", "peer": peer(3)}).to_string(),
    )
    .await?;
    assert_eq!(bad.expect_error().await?, (Some(6), ErrorCode::BadMessage));
    bad.send_binary(vec![0xde, 0xad, 0xbe, 0xef]).await?;
    assert_eq!(bad.expect_error().await?, (None, ErrorCode::BinaryFrame));
    bad.send_text(request_contact(7, None)).await?;
    assert_eq!(bad.expect_error().await?, (Some(7), ErrorCode::NotJoined));
    let offer = envelope(peer(3), 1, Signal::Offer { sdp: "v=0".into() });
    bad.send_text(signal_to(8, peer(1), &offer)).await?;
    assert_eq!(bad.expect_error().await?, (Some(8), ErrorCode::NotJoined));

    // Joined, it still misbehaves.
    let joined = bad.join("r", &key(3)).await?;
    assert!(
        matches!(joined.msg, ServerMessage::Joined { members: 2, .. }),
        "{joined:?}"
    );
    let signature = wire::sign_join(&key(4), &bad.nonce, "s");
    bad.send_text(
        json!({"v": 2, "type": "join", "id": 9, "room": "s", "peer": peer(4), "signature": signature})
            .to_string(),
    )
    .await?;
    assert_eq!(
        bad.expect_error().await?,
        (Some(9), ErrorCode::AlreadyJoined)
    );
    // A relay to a peer that is not in the room.
    bad.send_text(signal_to(10, peer(9), &offer)).await?;
    assert_eq!(
        bad.expect_error().await?,
        (Some(10), ErrorCode::UnknownPeer)
    );
    // A relay with a forged sender (it claims to be peer 2).
    bad.send_text(request_contact(11, Some(peer(1)))).await?;
    assert_eq!(
        bad.next_frame().await?.msg,
        ServerMessage::Contact { peer: peer(1) }
    );
    let forged = envelope(peer(2), 1, Signal::Offer { sdp: "v=0".into() });
    bad.send_text(signal_to(12, peer(1), &forged)).await?;
    assert_eq!(bad.expect_error().await?, (Some(12), ErrorCode::BadSender));
    // A signal envelope that is not one.
    bad.send_text(
        json!({"v": 2, "type": "signal", "id": 13, "to": peer(1), "envelope": {"sdp": 1}})
            .to_string(),
    )
    .await?;
    assert_eq!(bad.expect_error().await?, (Some(13), ErrorCode::BadMessage));
    // After all that, its connection still works.
    bad.send_text(signal_to(14, peer(1), &offer)).await?;
    assert_eq!(good_contact.recv().await?, Incoming::Signal(offer));

    // Not WebSocket at all: the server drops that connection...
    let mut junk = tokio::net::TcpStream::connect(server.local_addr()).await?;
    junk.write_all(b"\x16\x03\x01 definitely not HTTP\r\n\r\n")
        .await?;
    let mut sink = Vec::new();
    let _ = junk.read_to_end(&mut sink).await;

    // ...and the well-behaved members never noticed any of it.
    let answer = envelope(peer(1), 42, Signal::Answer { sdp: "v=0".into() });
    good_contact.send(peer(2), answer.clone()).await?;
    let mut good_newcomer = good_newcomer;
    assert_eq!(good_newcomer.recv().await?, Incoming::Signal(answer));
    let late = join(&url, "r", 5).await?;
    assert!(matches!(
        late.request_contact(None).await?,
        Contact::Peer(_)
    ));
    // Another protocol version: the error, then close code 1002.
    let mut unversioned = Raw::connect(&url).await?;
    unversioned
        .send_text(json!({"type": "join", "id": 1}).to_string())
        .await?;
    assert_eq!(
        unversioned.expect_error().await?,
        (Some(1), ErrorCode::BadVersion)
    );
    assert_eq!(unversioned.ended().await?, Ended::Close(1002));
    let mut future = Raw::connect(&url).await?;
    future
        .send_text(json!({"v": 3, "type": "join", "id": 2}).to_string())
        .await?;
    assert_eq!(
        future.expect_error().await?,
        (Some(2), ErrorCode::BadVersion)
    );
    assert_eq!(future.ended().await?, Ended::Close(1002));
    assert_eq!(
        server.stats().errors_sent,
        15,
        "one error reply per bad message"
    );

    for client in [good_contact, good_newcomer, late] {
        client.close().await;
    }
    server.shutdown().await;
    Ok(())
}
