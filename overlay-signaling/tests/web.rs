//! The page and the room graph on the signaling port: plain HTTP gets the
//! page's files, signaling still works on the same port, and observing is
//! refused unless the server allows the room, then bounded and kept current.

mod common;

use std::time::Duration;

use common::{peer, server, TestResult};
use futures::{SinkExt, StreamExt};
use overlay_signaling::{Contact, ObserveRooms, SignalingClient};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn http(addr: std::net::SocketAddr, request: &str) -> Res<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await??;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn next_json(ws: &mut Ws) -> Res<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await?
            .ok_or("observer closed")??;
        if let Message::Text(t) = m {
            return Ok(serde_json::from_str(&t)?);
        }
    }
}

/// The next graph whose peers satisfy `f`.
async fn graph_where(ws: &mut Ws, f: impl Fn(&Value) -> bool) -> Res<Value> {
    loop {
        let g = next_json(ws).await?;
        if g["type"] == "graph" && f(&g["peers"]) {
            return Ok(g);
        }
    }
}

#[tokio::test]
async fn page_and_signaling_share_the_port() -> TestResult {
    let server = server(|_| {}).await?;
    let addr = server.local_addr();
    let index = http(addr, "GET /?room=x HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
    assert!(index.contains("text/html") && index.contains("/n2n/n2n-web.js"));
    let js = http(addr, "GET /n2n/n2n-web.js HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(js.contains("text/javascript") && js.contains("n2n-overlay/hello/v1"));
    let css = http(addr, "GET /n2n/style.css HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(css.contains("text/css"));
    let head = http(addr, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(head.starts_with("HTTP/1.1 200") && !head.contains("<html"));
    let missing = http(addr, "GET /etc/passwd HTTP/1.1\r\n\r\n").await?;
    assert!(missing.starts_with("HTTP/1.1 404"));
    let post = http(addr, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await?;
    assert!(post.starts_with("HTTP/1.1 405"));
    // Signaling on the same port, as before.
    let _a = SignalingClient::connect(&server.url(), "r", peer(1)).await?;
    let b = SignalingClient::connect(&server.url(), "r", peer(2)).await?;
    assert_eq!(b.request_contact(None).await?, Contact::Peer(peer(1)));
    Ok(())
}

#[tokio::test]
async fn page_can_be_switched_off() -> TestResult {
    let server = server(|c| c.web.serve_page = false).await?;
    let reply = http(server.local_addr(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(!reply.contains("n2n-web.js"), "{reply}");
    Ok(())
}

#[tokio::test]
async fn observing_is_refused_unless_the_room_allows_it() -> TestResult {
    let server = server(|c| c.web.observe = ObserveRooms::Named(vec!["shown".into()])).await?;
    let url = format!("ws://{}/observe?room=hidden", server.local_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let first = next_json(&mut ws).await?;
    assert_eq!(first["type"], "refused");
    assert!(first["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("--observe-room"));
    Ok(())
}

#[tokio::test]
async fn observed_room_shows_reported_views_and_forgets_closed_ones() -> TestResult {
    let server = server(|c| {
        c.web.observe = ObserveRooms::All;
        c.web.max_view_entries = 2;
    })
    .await?;
    let (a, b) = (peer(1).to_string(), peer(2).to_string());
    let base = format!("ws://{}/observe?room=demo", server.local_addr());
    let (mut wa, _) = tokio_tungstenite::connect_async(format!("{base}&peer={a}")).await?;
    let (mut wb, _) = tokio_tungstenite::connect_async(format!("{base}&peer={b}")).await?;
    let (mut watcher, _) = tokio_tungstenite::connect_async(base.clone()).await?;
    wa.send(Message::text(
        json!({"type": "view", "out": {b.clone(): 2}}).to_string(),
    ))
    .await?;
    wb.send(Message::text(
        json!({"type": "view", "out": {a.clone(): 1}}).to_string(),
    ))
    .await?;
    let g = graph_where(&mut watcher, |p| p.get(&a).is_some() && p.get(&b).is_some()).await?;
    assert_eq!(g["peers"][&a]["out"][&b], 2);
    assert_eq!(g["peers"][&b]["out"][&a], 1);
    // Over the entry limit, a zero count, or not a peer id: ignored.
    let c = peer(3).to_string();
    let d = peer(4).to_string();
    wa.send(Message::text(
        json!({"type": "view", "out": {b.clone(): 1, c.clone(): 1, d: 1}}).to_string(),
    ))
    .await?;
    wa.send(Message::text(
        json!({"type": "view", "out": {c.clone(): 0}}).to_string(),
    ))
    .await?;
    wa.send(Message::text(
        json!({"type": "view", "out": {"me": 1}}).to_string(),
    ))
    .await?;
    // A watcher without a peer id cannot report.
    watcher
        .send(Message::text(
            json!({"type": "view", "out": {a.clone(): 1}}).to_string(),
        ))
        .await?;
    // A closed reporter's view disappears.
    wb.close(None).await?;
    let g = graph_where(&mut watcher, |p| p.get(&b).is_none()).await?;
    assert_eq!(g["peers"].as_object().map(|o| o.len()), Some(1));
    assert_eq!(
        g["peers"][&a]["out"][&b], 2,
        "the bad reports changed nothing"
    );
    Ok(())
}
