//! A slow receiver slows the sender down: bounded queues, nothing dropped.
use overlay_core::{
    link_out_of_band, Config, Event, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId,
    SendError,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_reports_full_then_drains_in_order() -> Result<(), Box<dyn std::error::Error>> {
    let net = MemoryNetwork::new();
    let engine = Config::default()
        .with_max_message_size(64 * 1024)
        .with_send_queue_limit(64 * 1024);
    let mut cfg = NodeConfig::with_engine(engine);
    cfg.event_capacity = 8;
    let a = Node::spawn(net.transport(), Keypair::generate(), cfg.clone());
    let b = Node::spawn(net.transport(), Keypair::generate(), cfg);
    let p = ProtocolId::new("bulk")?;
    let (ha, _ea) = a.protocol(p).await?;
    let (_hb, mut eb) = b.protocol(p).await?;
    link_out_of_band(&ha, &b).await?;

    // B does not read its events: A must hit a full queue with try_send.
    let mut sent: u32 = 0;
    let full = loop {
        match ha.try_send(b.id(), sent.to_be_bytes().repeat(256)).await {
            Ok(()) => sent += 1,
            Err(SendError::Full(peer)) => break peer,
            Err(e) => return Err(e.into()),
        }
        assert!(
            sent < 1_000_000,
            "the queue never filled: unbounded buffering somewhere"
        );
    };
    assert_eq!(full, b.id());
    // A waiting send completes once B reads.
    let waiting = {
        let ha = ha.clone();
        let to = b.id();
        let last = sent;
        tokio::spawn(async move { ha.send(to, last.to_be_bytes().repeat(256)).await })
    };
    sent += 1;
    let mut next: u32 = 0;
    while next < sent {
        match eb.recv().await {
            Some(Event::Message { payload, .. }) => {
                assert_eq!(payload.len(), 1024);
                assert_eq!(
                    &payload[..4],
                    &next.to_be_bytes(),
                    "message out of order or lost"
                );
                next += 1;
            }
            Some(_) => {}
            None => panic!("B stopped"),
        }
    }
    waiting.await??;
    Ok(())
}
