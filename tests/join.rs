//! Joining through the signaling server (`n2n_overlay::join`), on the
//! in-memory transport: contacts, serving newcomers, and the overlay going
//! on after the server is gone.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use n2n_overlay::join::{join_room, JoinError, JoinOptions, RoomEvent};
use n2n_overlay::signaling::wire::{self, ServerMessage};
use n2n_overlay::signaling::{ClientError, ServerConfig, SignalingServer};
use n2n_overlay::{
    EventStream, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolHandle, ProtocolId,
};
use tokio_tungstenite::tungstenite::Message;

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
    // The server is gone for good: no rejoin.
    let options = || JoinOptions::new(server.url(), "r").with_reconnect(false);
    rooms.push(join_room(&peers[0].1, options()).await?.room);
    for (_, h, _) in &peers[1..] {
        rooms.push(
            join_room(h, options().with_contact(peers[0].0.id()))
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

/// After the signaling server restarts (same address), the members join
/// their room again by themselves, so a newcomer gets one of them as
/// contact and joins the same overlay. (They used to stay away: the
/// newcomer was alone and started a second overlay.)
#[tokio::test]
async fn members_rejoin_after_a_server_restart() -> TestResult {
    let server = SignalingServer::bind(ServerConfig::default()).await?;
    let addr = server.local_addr();
    let net = MemoryNetwork::new();
    let peers = nodes(&net, 3).await?;
    let mut first = join_room(&peers[0].1, JoinOptions::new(server.url(), "r")).await?;
    let mut second = join_room(&peers[1].1, JoinOptions::new(server.url(), "r")).await?;
    assert_eq!(second.contact, Some(peers[0].0.id()));
    server.shutdown().await;
    for room in [&mut first.room, &mut second.room] {
        loop {
            match room.next_event().await {
                Some(RoomEvent::ServerLost(_)) => break,
                Some(_) => continue,
                None => return Err("serving ended without ServerLost".into()),
            }
        }
    }
    // The server comes back on the same address.
    let restarted = SignalingServer::bind(ServerConfig::new(addr)).await?;
    for room in [&mut first.room, &mut second.room] {
        match room.next_event().await {
            Some(RoomEvent::Rejoined { .. }) => {}
            other => return Err(format!("expected Rejoined, got {other:?}").into()),
        }
        assert!(room.is_serving());
    }
    assert_eq!(restarted.stats().peers, 2);
    let third = join_room(&peers[2].1, JoinOptions::new(restarted.url(), "r")).await?;
    let contact = third
        .contact
        .ok_or("the newcomer was alone: a second overlay")?;
    assert!(contact == peers[0].0.id() || contact == peers[1].0.id());
    assert_eq!(peers[2].1.outview().await?.get(&contact), Some(&1));
    restarted.shutdown().await;
    Ok(())
}

/// A thousand members that never answer (one process, every per-address
/// limit raised so they all get in) do not make a newcomer with a random
/// contact wait out its handshake timeout: the server picks members that
/// answered before. (The newcomer used to get a silent member and fail
/// after 30 s.)
#[tokio::test]
async fn silent_members_do_not_stall_a_newcomer() -> TestResult {
    let server = SignalingServer::bind(ServerConfig::for_local_clients(2000)).await?;
    let net = MemoryNetwork::new();
    let peers = nodes(&net, 3).await?;
    let _first = join_room(&peers[0].1, JoinOptions::new(server.url(), "r")).await?;
    let second = join_room(&peers[1].1, JoinOptions::new(server.url(), "r")).await?;
    assert_eq!(second.contact, Some(peers[0].0.id()));
    // A thousand silent members: they join (signed), then never answer.
    let mut silent = Vec::new();
    for i in 0..1000u32 {
        let (mut ws, _) = tokio_tungstenite::connect_async(server.url()).await?;
        let frame = next_json(&mut ws).await?;
        let ServerMessage::Challenge { nonce } = serde_json::from_value(frame)? else {
            return Err("no challenge".into());
        };
        let key = Keypair::generate();
        let join = serde_json::json!({"v": 2, "type": "join", "id": i, "room": "r",
            "peer": key.peer_id(), "signature": wire::sign_join(&key, &nonce, "r")});
        ws.send(Message::Text(join.to_string().into())).await?;
        let joined = next_json(&mut ws).await?;
        assert_eq!(joined["type"], "joined", "{joined}");
        silent.push(ws);
    }
    assert_eq!(server.stats().peers, 1002);
    // One attempt: only a contact that answers can make it.
    let mut options =
        JoinOptions::new(server.url(), "r").with_contact_timeout(Duration::from_secs(20));
    options.attempts = 1;
    let third = join_room(&peers[2].1, options).await?;
    let contact = third.contact.ok_or("alone?")?;
    assert!(contact == peers[0].0.id() || contact == peers[1].0.id());
    drop(silent);
    server.shutdown().await;
    Ok(())
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    loop {
        match ws.next().await.ok_or("connection ended")?? {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(_) => return Err("closed".into()),
            _ => {}
        }
    }
}
