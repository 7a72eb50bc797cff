//! Relay: a newcomer's offer and candidates reach its contact, the answer and
//! the contact's candidates come back, in order, with a checked sender; the
//! server relays between introduced peers only; on shutdown, members are
//! told why the connection ends.

mod common;

use common::{envelope, join, peer, server, until, TestResult};
use overlay_core::Signal;
use overlay_signaling::{ClientError, Contact, Incoming};

#[tokio::test]
async fn signals_cross_the_server_both_ways() -> TestResult {
    let server = server(|_| {}).await?;
    let url = server.url();
    let mut contact = join(&url, "r", 1).await?;
    assert_eq!(contact.request_contact(None).await?, Contact::Alone);
    let mut newcomer = join(&url, "r", 2).await?;
    assert_eq!(
        newcomer.request_contact(None).await?,
        Contact::Peer(peer(1))
    );

    // Newcomer -> contact: offer, candidates, end of candidates, in order.
    let outbound = [
        envelope(
            peer(2),
            77,
            Signal::Offer {
                sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n".into(),
            },
        ),
        envelope(
            peer(2),
            77,
            Signal::candidate("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"),
        ),
        envelope(
            peer(2),
            77,
            Signal::candidate("candidate:2 1 udp 2130706431 127.0.0.1 40001 typ host"),
        ),
        envelope(peer(2), 77, Signal::EndOfCandidates),
    ];
    for e in &outbound {
        newcomer.send(peer(1), e.clone()).await?;
    }
    for e in &outbound {
        assert_eq!(contact.recv().await?, Incoming::Signal(e.clone()));
    }

    // Contact -> newcomer: the answer and its candidates (the contact never
    // asked for the newcomer: being picked is its introduction).
    let inbound = [
        envelope(
            peer(1),
            77,
            Signal::Answer {
                sdp: "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\n".into(),
            },
        ),
        envelope(
            peer(1),
            77,
            Signal::candidate("candidate:3 1 udp 2130706431 127.0.0.1 40002 typ host"),
        ),
    ];
    for e in &inbound {
        contact.send(peer(2), e.clone()).await?;
    }
    for e in &inbound {
        assert_eq!(newcomer.recv().await?, Incoming::Signal(e.clone()));
    }
    until(&server, |s| s.signals_relayed == 6).await?;

    // Nothing else: a third member that was introduced to nobody cannot
    // signal the others...
    let mut stranger = join(&url, "r", 3).await?;
    stranger
        .send(
            peer(1),
            envelope(peer(3), 5, Signal::Offer { sdp: "v=0".into() }),
        )
        .await?;
    match stranger.recv().await? {
        Incoming::RelayFailed {
            to,
            handshake,
            error: ClientError::NotIntroduced(message),
        } => {
            assert_eq!((to, handshake.0), (peer(1), 5));
            assert!(message.contains("requestContact"), "{message}");
        }
        other => return Err(format!("expected a refused relay, got {other:?}").into()),
    }
    // ...until it asks for one as contact.
    assert_eq!(
        stranger.request_contact(Some(peer(1))).await?,
        Contact::Peer(peer(1))
    );
    let offer = envelope(peer(3), 6, Signal::Offer { sdp: "v=0".into() });
    stranger.send(peer(1), offer.clone()).await?;
    assert_eq!(contact.recv().await?, Incoming::Signal(offer));
    // The refused signal was not relayed.
    until(&server, |s| s.signals_relayed == 7).await?;

    // Shutdown: every member learns why its connection ends.
    server.shutdown().await;
    for client in [&mut contact, &mut newcomer, &mut stranger] {
        assert_eq!(client.recv().await, Err(ClientError::ShuttingDown));
    }
    let after = newcomer.request_contact(None).await;
    assert_eq!(after, Err(ClientError::ShuttingDown));
    Ok(())
}
