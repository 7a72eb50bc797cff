//! Signed joins (protocol version 2): a client proves it owns the key of
//! the peer id it registers by signing the server's per-connection
//! challenge. An impostor gets `bad_signature` and never locks the owner
//! out; a signature seen on one connection (or for another room) is
//! worthless on another; a second proven session of a peer replaces the
//! first; a version-1 client is told to update and closed with 1002.

mod common;

use common::{join, key, peer, server, until, Ended, Raw, TestResult};
use overlay_signaling::wire::{self, ServerMessage};
use overlay_signaling::{ClientError, Contact, ErrorCode};
use serde_json::json;

fn signed_join(
    id: u64,
    room: &str,
    peer_hex: impl serde::Serialize,
    signature: impl serde::Serialize,
) -> String {
    json!({"v": 2, "type": "join", "id": id, "room": room, "peer": peer_hex, "signature": signature})
        .to_string()
}

#[tokio::test]
async fn only_the_key_owner_joins_under_its_id() -> TestResult {
    let server = server(|_| {}).await?;
    let url = server.url();

    // An impostor claims peer 1's id, signing with its own key: refused,
    // and it registered nothing.
    let mut impostor = Raw::connect(&url).await?;
    let forged = wire::sign_join(&key(3), &impostor.nonce, "r");
    impostor
        .send_text(signed_join(1, "r", peer(1), forged))
        .await?;
    assert_eq!(
        impostor.expect_error().await?,
        (Some(1), ErrorCode::BadSignature)
    );
    assert_eq!(server.stats().peers, 0);
    assert_eq!(server.stats().joins_refused_signature, 1);

    // The owner joins as usual: it was not locked out.
    let owner = join(&url, "r", 1).await?;
    assert_eq!(owner.members_at_join(), 0);

    // A signature the owner made on its own connection (the impostor saw
    // it on the wire) is worthless on another connection: other nonce.
    let mut watched = Raw::connect(&url).await?;
    let seen = wire::sign_join(&key(1), &watched.nonce, "r");
    impostor
        .send_text(signed_join(2, "r", peer(1), seen))
        .await?;
    assert_eq!(
        impostor.expect_error().await?,
        (Some(2), ErrorCode::BadSignature)
    );
    // And a signature for another room does not join this one.
    let other_room = wire::sign_join(&key(5), &watched.nonce, "elsewhere");
    watched
        .send_text(signed_join(3, "r", peer(5), other_room))
        .await?;
    assert_eq!(
        watched.expect_error().await?,
        (Some(3), ErrorCode::BadSignature)
    );
    // A peer id that is no valid key never verifies.
    watched
        .send_text(signed_join(4, "r", "00".repeat(32), "00".repeat(64)))
        .await?;
    assert_eq!(
        watched.expect_error().await?,
        (Some(4), ErrorCode::BadSignature)
    );
    // A join without a signature (a version-1 join in version-2 dress).
    watched
        .send_text(
            json!({"v": 2, "type": "join", "id": 5, "room": "r", "peer": peer(5)}).to_string(),
        )
        .await?;
    assert_eq!(
        watched.expect_error().await?,
        (Some(5), ErrorCode::BadMessage)
    );

    // None of it touched the owner: still the room's only member, still a contact.
    assert_eq!(server.stats().peers, 1);
    assert_eq!(server.stats().sessions_replaced, 0);
    let newcomer = join(&url, "r", 2).await?;
    assert_eq!(
        newcomer.request_contact(None).await?,
        Contact::Peer(peer(1))
    );

    // A failed join leaves the connection usable: the impostor may join
    // under its own id.
    let own = wire::sign_join(&key(3), &impostor.nonce, "r");
    impostor
        .send_text(signed_join(6, "r", peer(3), own))
        .await?;
    let joined = impostor.next_frame().await?;
    assert!(
        matches!(joined.msg, ServerMessage::Joined { members: 2, .. }),
        "{joined:?}"
    );
    assert_eq!(server.stats().joins_refused_signature, 4);

    // Through the client, a refused join is a typed error.
    let refused = ClientError::from_server(ErrorCode::BadSignature, "x".into());
    assert!(matches!(refused, ClientError::BadSignature(_)));

    owner.close().await;
    newcomer.close().await;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_second_proven_session_replaces_the_first() -> TestResult {
    let server = server(|_| {}).await?;
    let url = server.url();
    let mut first = Raw::connect(&url).await?;
    first.join("r", &key(1)).await?;
    let other = join(&url, "r", 2).await?;
    assert_eq!(
        other.request_contact(Some(peer(1))).await?,
        Contact::Peer(peer(1))
    );
    // The owner reconnects (its old connection is half-dead, say): the new
    // session takes the place at once.
    let second = join(&url, "r", 1).await?;
    assert_eq!(second.members_at_join(), 1);
    // The old one is told why, then closed with 4001.
    assert_eq!(first.expect_error().await?, (None, ErrorCode::Replaced));
    assert_eq!(first.ended().await?, Ended::Close(4001));
    until(&server, |s| s.connections == 2 && s.peers == 2).await?;
    assert_eq!(server.stats().sessions_replaced, 1);
    assert_eq!(server.stats().clients_dropped, 0);
    second.close().await;
    other.close().await;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_version_1_client_is_told_to_update() -> TestResult {
    let server = server(|_| {}).await?;
    let mut old = Raw::connect_unchecked(&server.url()).await?;
    // What a version-1 client sends right after connecting.
    old.send_text(
        json!({"v": 1, "type": "join", "id": 1, "room": "r", "peer": peer(1)}).to_string(),
    )
    .await?;
    let (frames, end) = old.frames_until_end().await?;
    // It sees the challenge it does not know, then the reason, then 1002.
    assert!(
        matches!(
            frames.first().map(|f| &f.msg),
            Some(ServerMessage::Challenge { .. })
        ),
        "{frames:?}"
    );
    match frames.get(1).map(|f| (&f.id, &f.msg)) {
        Some((
            Some(1),
            ServerMessage::Error {
                code: ErrorCode::BadVersion,
                message,
            },
        )) => {
            assert!(message.contains("update the client"), "{message}");
        }
        other => return Err(format!("expected bad_version, got {other:?}").into()),
    }
    assert_eq!(end, Ended::Close(1002));
    assert_eq!(server.stats().peers, 0);
    server.shutdown().await;
    Ok(())
}
