//! The live page and the room graph, on the signaling server's own port.
//!
//! Before the WebSocket handshake of a plain `ws://` connection (with
//! [`crate::ServerConfig::tls`] set, every connection is a signaling one and
//! there is no page), the server looks at the request head
//! ([`route`]): a plain HTTP `GET` gets the page's files (HTML, CSS and the
//! built client `clients/web/dist/n2n-web.js`, compiled into this crate: no
//! CDN, no files to install), a WebSocket upgrade on `/observe` is a room
//! graph observer, and anything else is a signaling connection as before.
//!
//! **Observing** is off unless the server allows it for a room
//! ([`WebConfig::observe`]). In an observed room, each observer connection
//! (`/observe?room=R&peer=ID`) may report its peer's outview
//! (`{"type":"view","out":{"<peer id>":count,...}}`) and receives the room's
//! graph (`{"type":"graph","peers":{"<id>":{"out":{...}}}}`) when it changes,
//! at most twice a second. Limits: [`WebConfig::max_observers_per_room`]
//! connections per room, [`WebConfig::max_view_entries`] arcs per report,
//! reports over 16 KiB or more than 4 per second are dropped, and a report
//! disappears when its connection closes. Reports are not authenticated: a
//! page could claim another peer's view, so the graph is for watching a
//! demo or a test room, not for decisions. A room that is not observed
//! answers `{"type":"refused","reason":...}` and closes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{self, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const INDEX_HTML: &str = include_str!("../../clients/web/static/index.html");
const STYLE_CSS: &str = include_str!("../../clients/web/static/style.css");
const CLIENT_JS: &str = include_str!("../../clients/web/dist/n2n-web.js");

/// Longest request head read before deciding what a connection is.
const MAX_HEAD: usize = 8 * 1024;
/// Longest observer message.
const MAX_REPORT: usize = 16 * 1024;

/// Which rooms' members may report their views for the room graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObserveRooms {
    /// No room (the default): the page shows only its own arcs.
    #[default]
    None,
    /// Every room (for a demo or a test server).
    All,
    /// These rooms only.
    Named(Vec<String>),
}

impl ObserveRooms {
    fn allows(&self, room: &str) -> bool {
        match self {
            ObserveRooms::None => false,
            ObserveRooms::All => true,
            ObserveRooms::Named(rooms) => rooms.iter().any(|r| r == room),
        }
    }
}

/// The page and the room graph (a field of [`crate::ServerConfig`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebConfig {
    /// Serve the page on plain HTTP requests. Default true.
    pub serve_page: bool,
    /// Rooms that may be observed. Default none: observing is opt-in.
    pub observe: ObserveRooms,
    /// Observer connections per room. Default 64.
    pub max_observers_per_room: usize,
    /// Rooms observed at once. Default 64.
    pub max_observed_rooms: usize,
    /// Peers in one reported outview. Default 64.
    pub max_view_entries: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            serve_page: true,
            observe: ObserveRooms::None,
            max_observers_per_room: 64,
            max_observed_rooms: 64,
            max_view_entries: 64,
        }
    }
}

/// One observed room: the reported views and a version observers watch.
struct Room {
    views: BTreeMap<String, (u64, Map<String, Value>)>,
    observers: usize,
    changed: watch::Sender<u64>,
}

/// The server's observed rooms.
#[derive(Default)]
pub(crate) struct WebState {
    rooms: Mutex<HashMap<String, Room>>,
    next_key: std::sync::atomic::AtomicU64,
}

impl WebState {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn graph(&self, room: &str) -> String {
        let rooms = self.rooms();
        let mut peers = Map::new();
        if let Some(r) = rooms.get(room) {
            for (peer, (_, out)) in &r.views {
                peers.insert(peer.clone(), json!({ "out": out }));
            }
        }
        json!({"type": "graph", "room": room, "peers": peers}).to_string()
    }
}

/// What the request head says the connection is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Signaling,
    Observe { room: String, peer: Option<String> },
    Page { path: String, head: bool },
    BadMethod,
}

fn classify(head: &str) -> Kind {
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("/"),
    );
    let upgrade = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("upgrade:") && l.contains("websocket")
    });
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if upgrade {
        if path == "/observe" {
            let mut room = None;
            let mut peer = None;
            for kv in query.split('&') {
                match kv.split_once('=') {
                    Some(("room", v)) => room = Some(percent_decode(v)),
                    Some(("peer", v)) => peer = Some(v.to_ascii_lowercase()),
                    _ => {}
                }
            }
            return Kind::Observe {
                room: room.unwrap_or_else(|| "lobby".into()),
                peer: peer.filter(|p| p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit())),
            };
        }
        return Kind::Signaling;
    }
    match method {
        "GET" => Kind::Page {
            path: path.to_owned(),
            head: false,
        },
        "HEAD" => Kind::Page {
            path: path.to_owned(),
            head: true,
        },
        _ => Kind::BadMethod,
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Peek at the request head until it is complete (or `MAX_HEAD` bytes, or
/// the deadline): the bytes stay in the socket for the WebSocket handshake.
async fn peek_head(stream: &TcpStream, deadline: Instant) -> Option<String> {
    let mut buf = vec![0u8; MAX_HEAD];
    loop {
        let n = match time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return None,
        };
        if n == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&buf[..n]);
        if let Some(end) = text.find("\r\n\r\n") {
            return Some(text[..end].to_owned());
        }
        if n == buf.len() || Instant::now() >= deadline {
            // An oversized head: let the WebSocket handshake refuse it.
            return Some(text.into_owned());
        }
        time::sleep(Duration::from_millis(5)).await;
    }
}

/// Look at a new connection before the signaling handshake. Returns the
/// stream when it is a signaling connection; serves the page or an
/// observer itself (and returns `None`) otherwise.
pub(crate) async fn route(
    mut stream: TcpStream,
    config: &WebConfig,
    state: &Arc<WebState>,
    deadline: Instant,
) -> Option<TcpStream> {
    let head = peek_head(&stream, deadline).await?;
    match classify(&head) {
        Kind::Signaling => Some(stream),
        Kind::Page { .. } | Kind::BadMethod if !config.serve_page => Some(stream),
        Kind::Page { path, head } => {
            let (status, ctype, body) = match path.as_str() {
                "/" | "/index.html" => ("200 OK", "text/html; charset=utf-8", INDEX_HTML),
                "/n2n/n2n-web.js" => ("200 OK", "text/javascript; charset=utf-8", CLIENT_JS),
                "/n2n/style.css" => ("200 OK", "text/css; charset=utf-8", STYLE_CSS),
                "/favicon.ico" => ("204 No Content", "image/x-icon", ""),
                _ => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "not found: the page is at /\n",
                ),
            };
            respond(&mut stream, status, ctype, body, head).await;
            None
        }
        Kind::BadMethod => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain; charset=utf-8",
                "use GET\n",
                false,
            )
            .await;
            None
        }
        Kind::Observe { room, peer } => {
            observe(stream, room, peer, config, state).await;
            None
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, ctype: &str, body: &str, head_only: bool) {
    // Drain the request head (it was only peeked).
    let mut sink = vec![0u8; MAX_HEAD];
    let _ = time::timeout(Duration::from_millis(100), async {
        use tokio::io::AsyncReadExt;
        let _ = stream.read(&mut sink).await;
    })
    .await;
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).await;
    if !head_only {
        let _ = stream.write_all(body.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

/// Registration of one observer; unregisters (and removes its report) on drop.
struct Registration<'a> {
    state: &'a WebState,
    room: String,
    key: String,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut rooms = self.state.rooms();
        if let Some(r) = rooms.get_mut(&self.room) {
            r.observers = r.observers.saturating_sub(1);
            let before = r.views.len();
            r.views.retain(|_, (k, _)| format!("{k}") != self.key);
            if r.views.len() != before {
                r.changed.send_modify(|v| *v += 1);
            }
            if r.observers == 0 {
                rooms.remove(&self.room);
            }
        }
    }
}

async fn observe(
    stream: TcpStream,
    room: String,
    peer: Option<String>,
    config: &WebConfig,
    state: &Arc<WebState>,
) {
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_REPORT))
        .max_frame_size(Some(MAX_REPORT));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config)).await
    else {
        return;
    };
    let refusal = if !config.observe.allows(&room) {
        Some("this room is not observed (the server allows observing with `n2n signal --observe-room NAME` or --observe-all)")
    } else {
        None
    };
    let key = state
        .next_key
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let admitted: Result<watch::Receiver<u64>, &str> = match refusal {
        Some(reason) => Err(reason),
        None => {
            let mut rooms = state.rooms();
            let full_rooms = !rooms.contains_key(&room) && rooms.len() >= config.max_observed_rooms;
            let full_room = rooms
                .get(&room)
                .is_some_and(|r| r.observers >= config.max_observers_per_room);
            if full_rooms {
                Err("too many observed rooms")
            } else if full_room {
                Err("too many observers in this room")
            } else {
                let r = rooms.entry(room.clone()).or_insert_with(|| Room {
                    views: BTreeMap::new(),
                    observers: 0,
                    changed: watch::channel(0).0,
                });
                r.observers += 1;
                Ok(r.changed.subscribe())
            }
        }
    };
    let mut changed = match admitted {
        Ok(rx) => rx,
        Err(reason) => {
            let _ = ws
                .send(Message::text(
                    json!({"type":"refused","reason":reason}).to_string(),
                ))
                .await;
            let _ = ws.close(None).await;
            return;
        }
    };
    let _registration = Registration {
        state,
        room: room.clone(),
        key: key.to_string(),
    };
    changed.mark_changed();
    let mut last_sent = Instant::now() - Duration::from_secs(1);
    let mut window = (Instant::now(), 0u32);
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    if now.duration_since(window.0) >= Duration::from_secs(1) {
                        window = (now, 0);
                    }
                    window.1 += 1;
                    if window.1 > 4 {
                        continue;
                    }
                    let Some(peer) = peer.as_ref() else { continue };
                    let Some(out) = parse_view(&text, config.max_view_entries) else { continue };
                    if let Some(r) = state.rooms().get_mut(&room) {
                        r.views.insert(peer.clone(), (key, out));
                        r.changed.send_modify(|v| *v += 1);
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            res = changed.changed() => {
                if res.is_err() {
                    break;
                }
                // At most two graphs a second per observer.
                let wait = (last_sent + Duration::from_millis(500)).saturating_duration_since(Instant::now());
                time::sleep(wait).await;
                changed.borrow_and_update();
                last_sent = Instant::now();
                let graph = state.graph(&room);
                if time::timeout(Duration::from_secs(5), ws.send(Message::text(graph))).await.map_or(true, |r| r.is_err()) {
                    break;
                }
            }
        }
    }
}

/// `{"type":"view","out":{"<64 hex>":count}}` → the outview, or `None`.
fn parse_view(text: &str, max_entries: usize) -> Option<Map<String, Value>> {
    let v: Value = serde_json::from_str(text).ok()?;
    if v.get("type")?.as_str()? != "view" {
        return None;
    }
    let out = v.get("out")?.as_object()?;
    if out.len() > max_entries {
        return None;
    }
    let mut clean = Map::new();
    for (k, n) in out {
        let ok = k.len() == 64 && k.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let n = n.as_u64().filter(|n| (1..=u32::MAX as u64).contains(n))?;
        if !ok {
            return None;
        }
        clean.insert(k.clone(), Value::from(n));
    }
    Some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_requests() {
        assert_eq!(
            classify("GET / HTTP/1.1\r\nHost: x"),
            Kind::Page {
                path: "/".into(),
                head: false
            }
        );
        assert_eq!(
            classify("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"),
            Kind::Signaling
        );
        assert_eq!(
            classify("GET /observe?room=a%20b&peer=AB HTTP/1.1\r\nupgrade: WebSocket"),
            Kind::Observe {
                room: "a b".into(),
                peer: None
            }
        );
        assert_eq!(classify("POST / HTTP/1.1\r\n"), Kind::BadMethod);
    }

    #[test]
    fn views_are_bounded_and_checked() {
        let p = "ab".repeat(32);
        assert!(parse_view(&format!(r#"{{"type":"view","out":{{"{p}":2}}}}"#), 4).is_some());
        assert!(parse_view(&format!(r#"{{"type":"view","out":{{"{p}":0}}}}"#), 4).is_none());
        assert!(parse_view(r#"{"type":"view","out":{"zz":1}}"#, 4).is_none());
        assert!(parse_view(&format!(r#"{{"type":"view","out":{{"{p}":1}}}}"#), 0).is_none());
        assert!(parse_view("not json", 4).is_none());
    }
}

/// Reports one peer's outview to an observed room of a signaling server
/// (what the page does; for native peers that want to appear in the
/// room graph, like `n2n demo --web`).
pub struct ViewReporter {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
}

impl std::fmt::Debug for ViewReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewReporter").finish_non_exhaustive()
    }
}

/// Observing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// The server could not be reached or the WebSocket failed.
    #[error("cannot reach the observer endpoint: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server does not allow observing this room.
    #[error("the server refused: {0}")]
    Refused(String),
}

impl ViewReporter {
    /// Connect to `ws://HOST:PORT/` (the signaling URL) as `peer` in `room`.
    ///
    /// # Errors
    /// [`ObserveError`] if the server cannot be reached.
    pub async fn connect(
        signaling_url: &str,
        room: &str,
        peer: overlay_core::PeerId,
    ) -> Result<Self, ObserveError> {
        let base = signaling_url.trim_end_matches('/');
        let room: String = room
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let url = format!("{base}/observe?room={room}&peer={peer}");
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(ViewReporter { ws })
    }

    /// Report the outview (peer -> arc count).
    ///
    /// # Errors
    /// [`ObserveError::Refused`] if the room is not observed (the server
    /// said so and closed), [`ObserveError::WebSocket`] if the connection
    /// is gone.
    pub async fn report(
        &mut self,
        outview: &BTreeMap<overlay_core::PeerId, u32>,
    ) -> Result<(), ObserveError> {
        // Drain what the server sent: a refusal ends reporting.
        while let Some(Some(msg)) = self.ws.next().now_or_never() {
            if let Message::Text(t) = msg? {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    if v["type"] == "refused" {
                        return Err(ObserveError::Refused(
                            v["reason"].as_str().unwrap_or_default().to_owned(),
                        ));
                    }
                }
            }
        }
        let out: Map<String, Value> = outview
            .iter()
            .map(|(p, n)| (p.to_string(), Value::from(*n)))
            .collect();
        self.ws
            .send(Message::text(
                json!({"type": "view", "out": out}).to_string(),
            ))
            .await?;
        Ok(())
    }
}
