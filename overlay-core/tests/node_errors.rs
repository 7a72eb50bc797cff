//! Operations that cannot be done fail at once with a typed error.
use overlay_core::{
    link_out_of_band, ArcError, ConnectError, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId,
    SendError,
};

#[tokio::test]
async fn impossible_operations_fail_at_once() -> Result<(), Box<dyn std::error::Error>> {
    let net = MemoryNetwork::new();
    let spawn = || Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let (a, b, stranger) = (spawn(), spawn(), spawn());
    let p = ProtocolId::new("errors")?;
    let (ha, _ea) = a.protocol(p).await?;
    let (_hb, _eb) = b.protocol(p).await?;
    link_out_of_band(&ha, &b).await?;

    // connect(p, p) and a bridge with from == to.
    assert_eq!(
        ha.connect(b.id(), b.id()).await,
        Err(ConnectError::SelfConnection(b.id()))
    );
    assert_eq!(
        ha.connect(None, None).await,
        Err(ConnectError::SelfConnection(a.id()))
    );
    assert_eq!(
        ha.connect(vec![b.id(), a.id()], a.id()).await,
        Err(ConnectError::SelfConnection(a.id()))
    );
    // Bridge or direct arc toward a peer that is not a neighbour.
    assert_eq!(
        ha.connect(b.id(), stranger.id()).await,
        Err(ConnectError::NotNeighbour(stranger.id()))
    );
    assert_eq!(
        ha.connect(None, stranger.id()).await,
        Err(ConnectError::NotNeighbour(stranger.id()))
    );
    assert_eq!(
        ha.connect(Vec::new(), b.id()).await,
        Err(ConnectError::Empty)
    );
    // Nothing was started by the failed calls.
    assert_eq!(a.stats().await?.engine.handshakes_started, 1);

    // Sends.
    assert_eq!(
        ha.send(stranger.id(), "x").await,
        Err(SendError::NotNeighbour {
            peer: stranger.id(),
            protocol: p
        })
    );
    let other = ProtocolId::new("other")?;
    let (ho, _eo) = a.protocol(other).await?;
    assert_eq!(
        ho.send(b.id(), "x").await,
        Err(SendError::NotNeighbour {
            peer: b.id(),
            protocol: other
        })
    );
    let big = vec![0u8; 1024 * 1024 + 1];
    assert_eq!(
        ha.send(b.id(), big).await,
        Err(SendError::TooLarge {
            size: 1024 * 1024 + 1,
            limit: 1024 * 1024
        })
    );

    // Arcs: pinned arcs stay, missing arcs are reported.
    assert_eq!(
        ho.disconnect(b.id()).await,
        Err(ArcError::NoArc {
            peer: b.id(),
            protocol: other
        })
    );
    ha.pin(b.id()).await?;
    assert_eq!(
        ha.disconnect(b.id()).await,
        Err(ArcError::Pinned {
            peer: b.id(),
            protocol: p
        })
    );
    assert_eq!(
        ha.pin(b.id()).await,
        Err(ArcError::NoArc {
            peer: b.id(),
            protocol: p
        })
    );
    ha.unpin(b.id()).await?;
    assert_eq!(
        ha.unpin(b.id()).await,
        Err(ArcError::NotPinned {
            peer: b.id(),
            protocol: p
        })
    );
    ha.disconnect(b.id()).await?;
    assert!(ha.outview().await?.is_empty());

    // A second handle for a registered protocol is refused.
    assert!(a.protocol(p).await.is_err());
    Ok(())
}
