//! Nothing outlives a node: dropping every handle stops its task and frees
//! its transport; the other side sees the connection go.
use std::time::Duration;

use overlay_core::{
    link_out_of_band, ArcCloseReason, Event, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId,
};

#[tokio::test]
async fn dropped_node_frees_everything() -> Result<(), Box<dyn std::error::Error>> {
    let net = MemoryNetwork::new();
    let a = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let b = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let p = ProtocolId::new("drop")?;
    let (ha, ea) = a.protocol(p).await?;
    let (_hb, mut eb) = b.protocol(p).await?;
    link_out_of_band(&ha, &b).await?;
    assert_eq!(net.len(), 2);
    drop((ha, ea, a));
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match eb.recv().await {
                Some(Event::ArcClosed { reason, .. }) => return Some(reason),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await?;
    assert!(
        matches!(closed, Some(ref r) if *r != ArcCloseReason::Removed),
        "B must see A's connection end, got {closed:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while net.len() != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await?;
    b.shutdown().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while !net.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await?;
    Ok(())
}
