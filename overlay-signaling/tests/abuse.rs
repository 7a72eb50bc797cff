//! Attacks from one client address or one room member (issue 10): one
//! address cannot open connections without bound, take every room or fill
//! one; naming a member that did not agree to be named introduces nobody
//! and gives no right to signal it.

mod common;

use common::{envelope, join, key, peer, server, signal_to, until, Ended, Raw, TestResult};
use overlay_core::Signal;
use overlay_signaling::wire::ServerMessage;
use overlay_signaling::{ClientConfig, ClientError, Contact, ErrorCode, Incoming, SignalingClient};

#[tokio::test]
async fn one_address_is_capped() -> TestResult {
    let server = server(|c| {
        c.max_connections_per_address = 3;
        c.max_rooms_per_address = 2;
        c.max_members_per_address = 2;
    })
    .await?;
    let url = server.url();
    // Connections: the fourth from this address is refused.
    let a = join(&url, "r", 1).await?;
    let b = join(&url, "r", 2).await?;
    let mut c = Raw::connect(&url).await?;
    until(&server, |s| s.connections == 3).await?;
    let mut fourth = Raw::connect_unchecked(&url).await?;
    assert_eq!(
        fourth.expect_error().await?,
        (None, ErrorCode::AddressLimit)
    );
    assert_eq!(fourth.ended().await?, Ended::Close(1008));
    // Members of one room: two from this address, no more.
    match c.join("r", &key(3)).await?.msg {
        ServerMessage::Error {
            code: ErrorCode::AddressLimit,
            message,
        } => {
            assert!(message.contains("cannot fill a room"), "{message}")
        }
        other => return Err(format!("expected address_limit, got {other:?}").into()),
    }
    // Rooms: this address is in "r"; one more room, then no more.
    let mut d_in_s = c;
    let joined = d_in_s.join("s", &key(4)).await?;
    assert!(
        matches!(joined.msg, ServerMessage::Joined { .. }),
        "{joined:?}"
    );
    b.close().await;
    until(&server, |s| s.connections == 2).await?;
    let third_room = join(&url, "t", 5).await;
    assert!(
        matches!(third_room, Err(ClientError::AddressLimit(_))),
        "{third_room:?}"
    );
    // Closing frees the address's share.
    a.close().await;
    until(&server, |s| s.connections == 1).await?;
    let again = join(&url, "t", 5).await?;
    assert_eq!(again.members_at_join(), 0);
    again.close().await;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn naming_a_member_needs_its_consent() -> TestResult {
    let server = server(|_| {}).await?;
    let url = server.url();
    // Peer 1 did not agree to be named (the client's default).
    let mut shy = SignalingClient::connect(&url, "r", &key(1)).await?;
    let mut open = join(&url, "r", 2).await?;
    let mut attacker = Raw::connect(&url).await?;
    attacker.join("r", &key(3)).await?;
    attacker
        .send_text(common::request_contact(1, Some(peer(1))))
        .await?;
    assert_eq!(
        attacker.expect_error().await?,
        (Some(1), ErrorCode::UnknownPeer)
    );
    // The refused naming gave no right to signal it.
    let offer = envelope(peer(3), 7, Signal::Offer { sdp: "v=0".into() });
    attacker.send_text(signal_to(2, peer(1), &offer)).await?;
    assert_eq!(
        attacker.expect_error().await?,
        (Some(2), ErrorCode::NotIntroduced)
    );
    // A member that agreed can be named, and signaled.
    attacker
        .send_text(common::request_contact(3, Some(peer(2))))
        .await?;
    assert_eq!(
        attacker.next_frame().await?.msg,
        ServerMessage::Contact { peer: peer(2) }
    );
    let to_open = envelope(peer(3), 8, Signal::Offer { sdp: "v=0".into() });
    attacker.send_text(signal_to(4, peer(2), &to_open)).await?;
    assert_eq!(open.recv().await?, Incoming::Signal(to_open));
    // The shy member is still reachable through the server's own pick:
    // it is the only other member for a newcomer in a room of two.
    let newcomer =
        SignalingClient::connect_with(&url, "s", &key(4), ClientConfig::default()).await?;
    let shy_in_s = SignalingClient::connect(&url, "s", &key(5)).await?;
    assert_eq!(
        newcomer.request_contact(None).await?,
        Contact::Peer(peer(5))
    );
    let hello = envelope(peer(4), 9, Signal::Offer { sdp: "v=0".into() });
    newcomer.send(peer(5), hello.clone()).await?;
    let mut shy_in_s = shy_in_s;
    assert_eq!(shy_in_s.recv().await?, Incoming::Signal(hello));
    // Nothing ever reached peer 1.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), shy.recv())
            .await
            .is_err()
    );
    for client in [shy, open, newcomer, shy_in_s] {
        client.close().await;
    }
    server.shutdown().await;
    Ok(())
}
