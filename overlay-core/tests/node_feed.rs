//! The pipelined send path (`ProtocolHandle::feed` + `flush`): a fed
//! message is queued without waiting for the node's answer, order is kept
//! (with `send` too), the credit is bounded, and a fed message the node
//! refuses is reported by the next `flush`, once.

use std::time::Duration;

use futures::FutureExt;
use overlay_core::{
    link_out_of_band, Event, EventStream, Keypair, MemoryNetwork, Node, NodeConfig, PeerId,
    ProtocolHandle, ProtocolId, SendError,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Guard against hangs only (the behaviour is checked by the asserts).
const HANG: Duration = Duration::from_secs(60);

async fn linked() -> Result<(Node, ProtocolHandle, Node, EventStream), Box<dyn std::error::Error>> {
    let net = MemoryNetwork::new();
    let a = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let b = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let p = ProtocolId::new("feed")?;
    let (ha, _ea) = a.protocol(p).await?;
    let (_hb, eb) = b.protocol(p).await?;
    link_out_of_band(&ha, &b).await?;
    Ok((a, ha, b, eb))
}

/// The index in the first four bytes of a message.
fn index(payload: &[u8]) -> u32 {
    let head = payload.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok());
    u32::from_be_bytes(head.expect("a message of at least 4 bytes"))
}

async fn expect_in_order(eb: &mut EventStream, from: u32, to: u32) -> TestResult {
    let mut next = from;
    tokio::time::timeout(HANG, async {
        while next < to {
            match eb.recv().await {
                Some(Event::Message { payload, .. }) => {
                    assert_eq!(index(&payload), next, "message lost or out of order");
                    next += 1;
                }
                Some(_) => {}
                None => panic!("B stopped"),
            }
        }
    })
    .await
    .map_err(|_| format!("only {} of {} messages arrived", next - from, to - from))?;
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn feed_returns_before_the_node_answers() -> TestResult {
    let (_a, ha, b, mut eb) = linked().await?;
    // On this one thread the node's task cannot run while this task does:
    // a `send` cannot complete without it, a `feed` does.
    let sent = ha.send(b.id(), 0u32.to_be_bytes().to_vec()).now_or_never();
    assert!(sent.is_none(), "send waits for the node's answer");
    // That send's command was queued before it waited: it is message 0.
    // (30 feeds: tokio's cooperative budget makes any task yield after
    // ~128 channel operations.)
    for i in 1..=30u32 {
        let fed = ha.feed(b.id(), i.to_be_bytes().to_vec()).now_or_never();
        assert!(
            matches!(fed, Some(Ok(()))),
            "feed {i} did not return at once: {fed:?}"
        );
    }
    ha.flush().await?;
    expect_in_order(&mut eb, 0, 31).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fed_and_sent_messages_keep_their_order() -> TestResult {
    let (_a, ha, b, mut eb) = linked().await?;
    const N: u32 = 20_000;
    let to = b.id();
    let sender = tokio::spawn(async move {
        for i in 0..N {
            let mut m = i.to_be_bytes().to_vec();
            m.resize(64 + (i as usize * 31) % 2000, 0);
            if i % 100 == 0 {
                ha.send(to, m).await?;
            } else {
                ha.feed(to, m).await?;
            }
        }
        ha.flush().await.map_err(|e| e.first)?;
        Ok::<_, SendError>(ha)
    });
    expect_in_order(&mut eb, 0, N).await?;
    sender.await??;
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn fed_credit_is_bounded() -> TestResult {
    let (_a, ha, b, mut eb) = linked().await?;
    // 64 KiB messages: 16 fit the 1 MiB budget while the node has not
    // taken any (it cannot run while this task does).
    let big = |i: u32| {
        let mut m = i.to_be_bytes().to_vec();
        m.resize(64 * 1024, 7);
        m
    };
    let mut fed = 0u32;
    while fed < 100 {
        match ha.feed(b.id(), big(fed)).now_or_never() {
            Some(r) => r?,
            None => break,
        }
        fed += 1;
    }
    assert_eq!(fed, 16, "fed messages held credit beyond the 1 MiB budget");
    // Once the node has taken them, feeding goes on.
    ha.feed(b.id(), big(fed)).await?;
    ha.flush().await?;
    expect_in_order(&mut eb, 0, fed + 1).await
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_fed_message_is_reported_by_the_next_flush_once() -> TestResult {
    let (_a, ha, b, mut eb) = linked().await?;
    let stranger: PeerId = Keypair::generate().peer_id();
    ha.feed(b.id(), 0u32.to_be_bytes().to_vec()).await?;
    // Accepted into the queue: the node refuses them later.
    ha.feed(stranger, &b"lost"[..]).await?;
    ha.feed(stranger, &b"lost too"[..]).await?;
    ha.feed(b.id(), 1u32.to_be_bytes().to_vec()).await?;
    let err = ha.flush().await.expect_err("two fed messages were refused");
    assert_eq!(err.failed, 2);
    assert!(
        matches!(err.first, SendError::NotNeighbour { peer, .. } if peer == stranger),
        "{err}"
    );
    // Reported once; the messages around them went through.
    ha.flush().await?;
    expect_in_order(&mut eb, 0, 2).await?;
    // A clone has a pipeline of its own: it does not see the other's refusals.
    let other = ha.clone();
    ha.feed(stranger, &b"x"[..]).await?;
    other.flush().await?;
    assert_eq!(ha.flush().await.map_err(|e| e.failed), Err(1));
    // Too large: refused at once, not queued.
    let limit = NodeConfig::default().engine.max_message_size();
    let e = ha.feed(b.id(), vec![0u8; limit + 1]).await;
    assert!(matches!(e, Err(SendError::TooLarge { .. })), "{e:?}");
    ha.flush().await?;
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn fed_messages_of_a_stopped_node_are_reported_lost() -> TestResult {
    let (a, ha, b, _eb) = linked().await?;
    // The shutdown command is queued first (the node cannot run while this
    // task does), then five fed messages behind it: the node stops without
    // taking them, and each is reported, none lost silently.
    let mut shutdown = std::pin::pin!(a.shutdown());
    assert!(futures::poll!(shutdown.as_mut()).is_pending());
    for i in 0..5u32 {
        let fed = ha.feed(b.id(), i.to_be_bytes().to_vec()).now_or_never();
        assert!(matches!(fed, Some(Ok(()))), "feed {i}: {fed:?}");
    }
    shutdown.await;
    let err = ha
        .flush()
        .await
        .expect_err("five fed messages were never queued");
    assert_eq!(
        (err.first.clone(), err.failed),
        (SendError::NodeGone, 5),
        "{err}"
    );
    // After the node is gone, `feed` says so itself.
    let e = ha.feed(b.id(), &b"late"[..]).await;
    assert_eq!(e, Err(SendError::NodeGone));
    ha.flush().await?;
    Ok(())
}
