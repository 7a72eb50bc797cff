//! Joining through the signaling server (`n2n_overlay::join`), on the
//! in-memory transport: contacts, serving newcomers, and the overlay going
//! on after the server is gone.

use n2n_overlay::join::{join_room, JoinError, JoinOptions, RoomEvent};
use n2n_overlay::signaling::{ClientError, ServerConfig, SignalingServer};
use n2n_overlay::{
    EventStream, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolHandle, ProtocolId,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn nodes(
    net: &MemoryNetwork,
    n: usize,
) -> Result<Vec<(Node, ProtocolHandle, EventStream)>, Box<dyn std::error::Error>> {
    let p = ProtocolId::new("join-test")?;
    let mut out = Vec::new();
    for _ in 0..n {
        let node = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
        let (h, e) = node.protocol(p).await?;
        out.push((node, h, e));
    }
    Ok(out)
}

#[tokio::test]
async fn newcomers_get_a_contact_and_the_contact_reports_them() -> TestResult {
    let server = SignalingServer::bind(ServerConfig::default()).await?;
    let net = MemoryNetwork::new();
    let peers = nodes(&net, 3).await?;
    let mut first = join_room(&peers[0].1, JoinOptions::new(server.url(), "r")).await?;
    assert_eq!(first.contact, None);
    let second = join_room(&peers[1].1, JoinOptions::new(server.url(), "r")).await?;
    assert_eq!(second.contact, Some(peers[0].0.id()));
    assert_eq!(peers[1].1.outview().await?.get(&peers[0].0.id()), Some(&1));
    assert_eq!(peers[0].1.inview().await?.get(&peers[1].0.id()), Some(&1));
    match first.room.next_event().await {
        Some(RoomEvent::Accepted { peer, .. }) => assert_eq!(peer, peers[1].0.id()),
        other => return Err(format!("expected Accepted, got {other:?}").into()),
    }
    // A named contact: the third joins through the second.
    let third = join_room(
        &peers[2].1,
        JoinOptions::new(server.url(), "r").with_contact(peers[1].0.id()),
    )
    .await?;
    assert_eq!(third.contact, Some(peers[1].0.id()));
    assert_eq!(peers[1].1.inview().await?.get(&peers[2].0.id()), Some(&1));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_overlay_grows_by_bridges_after_the_server_is_gone() -> TestResult {
    let server = SignalingServer::bind(ServerConfig::default()).await?;
    let net = MemoryNetwork::new();
    let peers = nodes(&net, 3).await?;
    let mut rooms = Vec::new();
    rooms.push(
        join_room(&peers[0].1, JoinOptions::new(server.url(), "r"))
            .await?
            .room,
    );
    for (_, h, _) in &peers[1..] {
        rooms.push(
            join_room(
                h,
                JoinOptions::new(server.url(), "r").with_contact(peers[0].0.id()),
            )
            .await?
            .room,
        );
    }
    server.shutdown().await;
    for room in &mut rooms {
        // Skip the Accepted events; the server's end comes last.
        loop {
            match room.next_event().await {
                Some(RoomEvent::ServerLost(_)) => break,
                Some(_) => continue,
                None => return Err("serving ended without ServerLost".into()),
            }
        }
        assert_eq!(room.next_event().await, None);
    }
    let (a, b, c) = (&peers[0], &peers[1], &peers[2]);
    a.1.connect(b.0.id(), c.0.id()).await?;
    assert_eq!(b.1.outview().await?.get(&c.0.id()), Some(&1));
    assert_eq!(c.1.inview().await?.get(&b.0.id()), Some(&1));
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_a_signaling_error() -> TestResult {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let net = MemoryNetwork::new();
    let peers = nodes(&net, 1).await?;
    match join_room(
        &peers[0].1,
        JoinOptions::new(format!("ws://127.0.0.1:{port}/"), "r"),
    )
    .await
    {
        Err(JoinError::Signaling(ClientError::Unreachable { .. })) => Ok(()),
        other => Err(format!("expected Unreachable, got {other:?}").into()),
    }
}

#[tokio::test]
async fn a_full_room_is_reported() -> TestResult {
    let mut config = ServerConfig::default();
    config.max_peers_per_room = 1;
    let server = SignalingServer::bind(config).await?;
    let net = MemoryNetwork::new();
    let peers = nodes(&net, 2).await?;
    let _first = join_room(&peers[0].1, JoinOptions::new(server.url(), "r")).await?;
    match join_room(&peers[1].1, JoinOptions::new(server.url(), "r")).await {
        Err(JoinError::Signaling(ClientError::RoomFull(_))) => Ok(()),
        other => Err(format!("expected RoomFull, got {other:?}").into()),
    }
}
