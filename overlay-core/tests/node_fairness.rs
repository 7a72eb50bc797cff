//! Fairness of the node's task: a stream the application does not read
//! holds back only the frames that feed it, so timers and other
//! connections keep running; a send parked on a full queue is released
//! when its connection closes.

use std::time::Duration;

use overlay_core::{
    link_out_of_band, Config, Event, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId,
    SendError,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Guard against hangs only (the behaviour is checked by the asserts).
const HANG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_stream_does_not_stall_other_connections() -> TestResult {
    let net = MemoryNetwork::new();
    let mut cfg = NodeConfig::default();
    cfg.event_capacity = 8;
    let a = Node::spawn(net.transport(), Keypair::generate(), cfg.clone());
    let b = Node::spawn(net.transport(), Keypair::generate(), cfg.clone());
    let c = Node::spawn(net.transport(), Keypair::generate(), cfg);
    let slow = ProtocolId::new("slow")?;
    let fast = ProtocolId::new("fast")?;
    let (ha, _ea) = a.protocol(slow).await?;
    // B registers `slow` and never reads it.
    let (_hb, _unread) = b.protocol(slow).await?;
    let (_hbf, mut b_fast) = b.protocol(fast).await?;
    link_out_of_band(&ha, &b).await?;
    // Far more messages than B buffers events for.
    for i in 0u32..6000 {
        tokio::time::timeout(HANG, ha.send(b.id(), i.to_be_bytes().to_vec()))
            .await
            .map_err(|_| "A's sends to B hang")??;
    }
    // C joins B on another protocol and talks to it: B still reads the
    // network for C's connection.
    let (hc, _ec) = c.protocol(fast).await?;
    tokio::time::timeout(HANG, link_out_of_band(&hc, &b))
        .await
        .map_err(|_| "C could not connect to B while B's slow stream is unread")??;
    hc.send(b.id(), &b"hello"[..]).await?;
    let got = tokio::time::timeout(HANG, async {
        loop {
            match b_fast.recv().await {
                Some(Event::Message { payload, .. }) => return Some(payload),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .map_err(|_| "B's fast stream got nothing")?;
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_send_is_released_when_its_connection_closes() -> TestResult {
    let net = MemoryNetwork::new();
    let engine = Config::default()
        .with_max_message_size(64 * 1024)
        .with_send_queue_limit(64 * 1024);
    let mut cfg = NodeConfig::with_engine(engine);
    cfg.event_capacity = 8;
    cfg.hold_limit = 256 * 1024;
    let a = Node::spawn(net.transport(), Keypair::generate(), cfg.clone());
    let b = Node::spawn(net.transport(), Keypair::generate(), cfg);
    let p = ProtocolId::new("bulk")?;
    let (ha, _ea) = a.protocol(p).await?;
    let (_hb, _unread) = b.protocol(p).await?;
    link_out_of_band(&ha, &b).await?;
    // B does not read: once B holds back as much as it may, A's queue
    // fills for good and a send waits.
    let mut sent = 0u32;
    let parked = loop {
        match ha.try_send(b.id(), vec![0u8; 16 * 1024]).await {
            Ok(()) => {
                sent += 1;
                assert!(sent < 100_000, "the queue never filled");
                continue;
            }
            Err(SendError::Full(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let parked = {
            let ha = ha.clone();
            let to = b.id();
            tokio::spawn(async move { ha.send(to, vec![1u8; 16 * 1024]).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !parked.is_finished() {
            break parked;
        }
        parked.await??;
    };
    b.shutdown().await;
    let r = tokio::time::timeout(HANG, parked)
        .await
        .map_err(|_| "the parked send still waits after its connection closed")??;
    assert!(
        matches!(r, Err(SendError::NotNeighbour { .. })),
        "expected NotNeighbour, got {r:?}"
    );
    Ok(())
}
