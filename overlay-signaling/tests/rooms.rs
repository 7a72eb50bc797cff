//! Rooms: the first member is alone, a newcomer gets a random member or the
//! member it names, rooms are separate, a peer id registers once per room,
//! and a member that leaves is no longer given as contact.

mod common;

use std::collections::HashSet;

use common::{join, peer, server, until, TestResult};
use overlay_signaling::{ClientError, Contact, ErrorCode};

#[tokio::test]
async fn rooms_hand_out_contacts() -> TestResult {
    // Many contact requests in a row: a generous rate limit.
    let server = server(|c| {
        c.messages_per_second = 10_000;
        c.burst = 10_000;
    })
    .await?;
    let url = server.url();

    // The first member is alone and told so.
    let a = join(&url, "r", 1).await?;
    assert_eq!(a.members_at_join(), 0);
    assert_eq!(a.request_contact(None).await?, Contact::Alone);

    let mut b_old = join(&url, "r", 2).await?;
    assert_eq!(b_old.members_at_join(), 1);
    let c = join(&url, "r", 3).await?;
    assert_eq!(c.members_at_join(), 2);
    let d = join(&url, "r", 4).await?;

    // A newcomer gets a random member: never itself, and every member in turn
    // (missing one in 90 draws has probability 3 * (2/3)^90, about 1e-16).
    let mut seen = HashSet::new();
    for _ in 0..90 {
        match d.request_contact(None).await? {
            Contact::Peer(p) => {
                assert_ne!(p, peer(4), "never its own contact");
                seen.insert(p);
            }
            Contact::Alone => return Err("a room of four is not lonely".into()),
        }
    }
    assert_eq!(seen, HashSet::from([peer(1), peer(2), peer(3)]));

    // Or the member it names.
    assert_eq!(
        d.request_contact(Some(peer(2))).await?,
        Contact::Peer(peer(2))
    );
    let absent = d.request_contact(Some(peer(9))).await;
    assert!(
        matches!(absent, Err(ClientError::UnknownPeer(_))),
        "{absent:?}"
    );
    let itself = d.request_contact(Some(peer(4))).await;
    assert_eq!(
        itself.map_err(|e| e.code()),
        Err(Some(ErrorCode::BadMessage))
    );

    // Rooms are separate: the same server, another room, alone again; the
    // same peer id may be in two rooms.
    let elsewhere = join(&url, "other", 1).await?;
    assert_eq!(elsewhere.members_at_join(), 0);
    assert_eq!(elsewhere.request_contact(None).await?, Contact::Alone);

    // A peer id is in a room once: a second proven session of it replaces
    // the first, which is told why it closes.
    let b = join(&url, "r", 2).await?;
    assert_eq!(b.members_at_join(), 3);
    assert_eq!(b_old.recv().await, Err(ClientError::Replaced));
    assert_eq!(server.stats().sessions_replaced, 1);

    // A member that leaves is no longer a contact.
    a.close().await;
    until(&server, |s| s.peers == 4).await?;
    let gone = d.request_contact(Some(peer(1))).await;
    assert!(matches!(gone, Err(ClientError::UnknownPeer(_))), "{gone:?}");
    for _ in 0..30 {
        assert_ne!(d.request_contact(None).await?, Contact::Peer(peer(1)));
    }
    // Its id is free again in that room.
    let again = join(&url, "r", 1).await?;
    assert_eq!(again.members_at_join(), 3);

    let stats = server.stats();
    assert_eq!((stats.rooms, stats.peers), (2, 5));
    // Closing does not wait for sending handles; they report the close.
    let b_sender = b.sender();
    b.close().await;
    let after = b_sender.request_contact(None).await;
    assert!(matches!(after, Err(ClientError::Closed(_))), "{after:?}");
    for client in [c, d, elsewhere, again] {
        client.close().await;
    }
    server.shutdown().await;
    Ok(())
}
