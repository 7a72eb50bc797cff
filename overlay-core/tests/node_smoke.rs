//! Two nodes over the memory transport: join out-of-band, exchange messages.
use overlay_core::{
    link_out_of_band, Direction, Event, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId,
};

#[tokio::test]
async fn two_nodes_join_and_talk() -> Result<(), Box<dyn std::error::Error>> {
    let net = MemoryNetwork::new();
    let a = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let b = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let p = ProtocolId::new("test")?;
    let (pa, mut ea) = a.protocol(p).await?;
    let (pb, mut eb) = b.protocol(p).await?;
    let remote = link_out_of_band(&pa, &b).await?;
    assert_eq!(remote, b.id());
    assert_eq!(pa.outview().await?.get(&b.id()), Some(&1));
    assert_eq!(
        ea.recv().await,
        Some(Event::ArcOpened {
            peer: b.id(),
            direction: Direction::Out,
            count: 1
        })
    );
    assert_eq!(
        eb.recv().await,
        Some(Event::ArcOpened {
            peer: a.id(),
            direction: Direction::In,
            count: 1
        })
    );
    assert_eq!(pb.inview().await?.get(&a.id()), Some(&1));
    pa.send(b.id(), &b"hello"[..]).await?;
    pb.send(a.id(), vec![7u8; 200_000]).await?;
    assert_eq!(
        eb.recv().await,
        Some(Event::Message {
            peer: a.id(),
            payload: bytes::Bytes::from_static(b"hello")
        })
    );
    match ea.recv().await {
        Some(Event::Message { peer, payload }) => {
            assert_eq!(peer, b.id());
            assert_eq!(payload.len(), 200_000);
        }
        other => panic!("expected a message, got {other:?}"),
    }
    Ok(())
}
