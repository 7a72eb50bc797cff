//! The WebSocket server: an accept loop, and per connection a reader task
//! (limits, parsing, the hub) and a writer task draining a bounded queue.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use overlay_core::PeerId;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{self, Instant};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use crate::bucket::TokenBucket;
use crate::config::ServerConfig;
use crate::hub::{ConnHandle, Counters, Hub, HubLimits, Joining, Out};
use crate::wire::{self, ClientMessage, ErrorCode, Nonce, ServerFrame, ServerMessage};

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}; {hint}", hint = bind_hint(source))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

fn bind_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::AddrInUse => {
            "another program uses this port: choose another port with --listen"
        }
        io::ErrorKind::PermissionDenied => "ports below 1024 need privileges: choose a higher port",
        io::ErrorKind::AddrNotAvailable => {
            "this machine has no such address: use 127.0.0.1 or 0.0.0.0"
        }
        _ => "check the address given with --listen",
    }
}

/// A snapshot of the server's state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// WebSocket connections open now.
    pub connections: usize,
    /// Rooms open now.
    pub rooms: usize,
    /// Members in all rooms now.
    pub peers: usize,
    /// Connections accepted since the start.
    pub connections_accepted: u64,
    /// Signals relayed since the start.
    pub signals_relayed: u64,
    /// Signals dropped because their recipient's queue was full (the
    /// sender got `peer_busy`; the recipient stayed).
    pub signals_refused_busy: u64,
    /// Joins refused because the signature did not prove the peer id.
    pub joins_refused_signature: u64,
    /// Members whose session a newer proven session of the same peer
    /// replaced.
    pub sessions_replaced: u64,
    /// Contacts given since the start.
    pub contacts_given: u64,
    /// Error replies sent since the start.
    pub errors_sent: u64,
    /// Clients dropped for a limit (rate abuse, no heartbeat, full queue,
    /// oversized frame, no join in time) since the start.
    pub clients_dropped: u64,
}

struct Shared {
    config: ServerConfig,
    hub: Mutex<Hub>,
    counters: Arc<Counters>,
    live: AtomicUsize,
    web: Arc<crate::web::WebState>,
    /// Open connections per client address.
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

impl Shared {
    /// Count a connection from `addr`; `None` (nothing counted) when the
    /// address has its maximum already.
    fn admit(self: &Arc<Self>, addr: IpAddr) -> Option<AddressGuard> {
        let mut map = self
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = map.entry(addr).or_insert(0);
        if *count >= self.config.max_connections_per_address {
            return None;
        }
        *count += 1;
        Some(AddressGuard {
            shared: self.clone(),
            addr,
        })
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // The hub's methods do not panic; if one ever did, its state is still
        // consistent enough to serve the others.
        self.hub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running signaling server. Dropping it stops it too, without waiting;
/// [`SignalingServer::shutdown`] closes every connection cleanly first.
#[must_use = "dropping the server stops it"]
pub struct SignalingServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SignalingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalingServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl SignalingServer {
    /// Listen on `config.listen` and serve in the background (on the current
    /// tokio runtime).
    ///
    /// # Errors
    /// [`ServerError::Bind`] if the address cannot be bound (in use, no
    /// permission, not local).
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let counters = Arc::new(Counters::default());
        let limits = HubLimits {
            max_peers_per_room: config.max_peers_per_room,
            max_rooms: config.max_rooms,
            max_rooms_per_address: config.max_rooms_per_address,
            max_members_per_address: config.max_members_per_address,
            relay_requires_introduction: config.relay_requires_introduction,
            reply_reserve: config.reply_reserve.max(1),
            max_queued_per_sender: config.max_queued_per_sender,
        };
        let shared = Arc::new(Shared {
            hub: Mutex::new(Hub::new(limits, counters.clone())),
            config,
            counters,
            live: AtomicUsize::new(0),
            web: Arc::default(),
            per_address: Mutex::new(HashMap::new()),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let span = tracing::info_span!("signaling", addr = %local_addr);
        let task =
            tokio::spawn(accept_loop(listener, shared.clone(), shutdown_rx).instrument(span));
        tracing::info!(addr = %local_addr, "signaling server listening");
        Ok(SignalingServer {
            local_addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    /// The address the server listens on (with the real port when bound to
    /// port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL clients connect to: `ws://ADDR/`, or `wss://ADDR/` with
    /// [`ServerConfig::tls`].
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.shared.config.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/", self.local_addr)
    }

    /// Current state and counters.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        let (rooms, peers) = {
            let hub = self.shared.hub();
            (hub.room_count(), hub.peer_count())
        };
        let c = &self.shared.counters;
        ServerStats {
            connections: self.shared.live.load(Ordering::Relaxed),
            rooms,
            peers,
            connections_accepted: c.connections_accepted.load(Ordering::Relaxed),
            signals_relayed: c.signals_relayed.load(Ordering::Relaxed),
            signals_refused_busy: c.signals_refused_busy.load(Ordering::Relaxed),
            joins_refused_signature: c.joins_refused_signature.load(Ordering::Relaxed),
            sessions_replaced: c.sessions_replaced.load(Ordering::Relaxed),
            contacts_given: c.contacts_given.load(Ordering::Relaxed),
            errors_sent: c.errors_sent.load(Ordering::Relaxed),
            clients_dropped: c.clients_dropped.load(Ordering::Relaxed),
        }
    }

    /// Stop accepting, send every client an `error` frame with code
    /// `shutting_down` and a close frame (1001), wait up to
    /// [`ServerConfig::shutdown_grace`] for them, then return.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!("signaling accept loop ended abnormally: {e}");
            }
        }
        tracing::info!(addr = %self.local_addr, "signaling server stopped");
    }
}

impl Drop for SignalingServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let mut next_key: u64 = 0;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    next_key += 1;
                    Counters::bump(&shared.counters.connections_accepted);
                    let span = tracing::debug_span!("conn", id = next_key, %addr);
                    conns.spawn(serve(stream, addr.ip(), next_key, shared.clone(), shutdown.clone()).instrument(span));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    shared.hub().close_all();
    let grace = shared.config.shutdown_grace;
    if time::timeout(grace, async { while conns.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::debug!(
            left = conns.len(),
            "grace period over; aborting remaining connections"
        );
        conns.shutdown().await;
    }
}

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed or the socket broke.
    Gone,
    /// The server shuts down.
    Shutdown,
    /// No join in time.
    JoinTimeout,
    /// Nothing heard for the heartbeat timeout.
    Dead,
    /// Its own replies found its queue full for the heartbeat timeout.
    Slow,
    /// A newer proven session of the same peer took its place.
    Replaced,
    /// Rate-limited too many times in a row.
    RateAbuse,
    /// A message over the hard size cap.
    TooBig,
    /// It speaks another protocol version.
    BadVersion,
}

impl End {
    /// Whether the server dropped the client for a limit (counted in
    /// [`ServerStats::clients_dropped`]).
    fn counts_as_drop(self) -> bool {
        !matches!(
            self,
            End::Gone | End::Shutdown | End::Replaced | End::BadVersion
        )
    }

    /// What the client is told as it goes: an error frame, a close frame.
    /// A dead or slow client gets nothing: it would not read it.
    #[allow(clippy::type_complexity)]
    fn farewell(
        self,
    ) -> (
        Option<(ErrorCode, &'static str)>,
        Option<(u16, &'static str)>,
    ) {
        match self {
            End::Shutdown => (
                Some((
                    ErrorCode::ShuttingDown,
                    "the signaling server is shutting down; connect again later",
                )),
                Some((1001, "server shutting down")),
            ),
            End::JoinTimeout => (
                Some((
                    ErrorCode::JoinTimeout,
                    "no join in time: send a join message right after connecting",
                )),
                Some((1008, "no join in time")),
            ),
            End::Replaced => (
                Some((
                    ErrorCode::Replaced,
                    "a newer session of this peer (proven with the same key) joined the room; this one closes",
                )),
                Some((4001, "replaced by a newer session of this peer")),
            ),
            End::RateAbuse => (None, Some((1008, "rate limit exceeded repeatedly"))),
            End::TooBig => (None, Some((1009, "message too big"))),
            End::BadVersion => (None, Some((1002, "protocol version 2 required"))),
            End::Gone | End::Dead | End::Slow => (None, None),
        }
    }
}

/// Uncounts a connection of its client address when it ends.
struct AddressGuard {
    shared: Arc<Shared>,
    addr: IpAddr,
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.addr) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.addr);
            }
        }
    }
}

/// Decrements the live-connection count when the connection ends.
struct LiveGuard<'a>(&'a AtomicUsize);

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The hard cap on a message: beyond it tungstenite refuses to buffer.
fn hard_cap(config: &ServerConfig) -> usize {
    config.max_message_bytes.saturating_mul(4).max(1024)
}

async fn serve(
    stream: TcpStream,
    addr: IpAddr,
    key: u64,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let join_deadline = Instant::now() + shared.config.join_timeout;
    match shared.config.tls.clone() {
        None => {
            // The page and the room graph share the port (web.rs; plain
            // ws:// only: with TLS every connection is a signaling one).
            let Some(stream) =
                crate::web::route(stream, &shared.config.web, &shared.web, join_deadline).await
            else {
                return;
            };
            serve_stream(stream, addr, key, shared, shutdown, join_deadline).await
        }
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
            match time::timeout_at(join_deadline, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    serve_stream(stream, addr, key, shared, shutdown, join_deadline).await
                }
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake not finished in time"),
            }
        }
    }
}

/// Serve one connection, plain or TLS: the WebSocket handshake, the limits
/// on connections, then the session.
async fn serve_stream<S>(
    stream: S,
    addr: IpAddr,
    key: u64,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    join_deadline: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &shared.config;
    let cap = hard_cap(config);
    // Small I/O buffers: signaling messages are small, and thousands of
    // idle members should cost little memory.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(Some(cap))
        .max_frame_size(Some(cap));
    let ws = match time::timeout_at(
        join_deadline,
        tokio_tungstenite::accept_async_with_config(stream, Some(ws_config)),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!("WebSocket handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("WebSocket handshake not finished in time");
            return;
        }
    };
    let live = shared.live.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = LiveGuard(&shared.live);
    if live > config.max_connections {
        tracing::warn!(
            max = config.max_connections,
            "connection refused: server full"
        );
        let message = format!(
            "the server has its maximum of {} connections; try later",
            config.max_connections
        );
        reject(
            ws,
            ErrorCode::ServerFull,
            message,
            1013,
            "server full",
            &shared.counters,
        )
        .await;
        return;
    }
    let Some(_address) = shared.admit(addr) else {
        tracing::info!(%addr, "connection refused: too many from this address");
        let message = format!(
            "your address {addr} has its maximum of {} connections open; close some first",
            config.max_connections_per_address
        );
        reject(
            ws,
            ErrorCode::AddressLimit,
            message,
            1008,
            "too many connections from this address",
            &shared.counters,
        )
        .await;
        return;
    };
    tracing::debug!("client connected");
    let (sink, stream) = ws.split();
    let (tx, rx) = mpsc::channel(
        config
            .outgoing_queue
            .max(1)
            .saturating_add(config.reply_reserve.max(1)),
    );
    let writer = tokio::spawn(write_loop(sink, rx).in_current_span());
    let conn = ConnHandle {
        key,
        tx,
        kick: Arc::new(Notify::new()),
        replaced: Arc::default(),
    };
    let mut session = Session {
        shared: &shared,
        conn: conn.clone(),
        addr,
        nonce: Nonce::random(),
        joined: None,
        bucket: TokenBucket::new(config.messages_per_second, config.burst, Instant::now()),
        violations: 0,
    };
    let (end, mut stream) = session.run(stream, shutdown, join_deadline).await;
    if let Some((room, peer)) = session.joined.take() {
        shared.hub().leave(&room, peer, key);
    }
    if end.counts_as_drop() {
        Counters::bump(&shared.counters.clients_dropped);
    }
    if end == End::Gone {
        // Let tungstenite answer the client's close frame.
        let _ = time::timeout(Duration::from_secs(1), stream.next()).await;
    }
    tracing::debug!(?end, "client disconnected");
    let (error, close) = end.farewell();
    let ConnHandle { tx, .. } = conn;
    drop(session);
    // The farewell waits for queue room (a pipelining client's replies may
    // fill it), within the grace period.
    let grace = config.shutdown_grace;
    let _ = time::timeout(grace, async {
        if let Some((code, message)) = error {
            Counters::bump(&shared.counters.errors_sent);
            let _ = tx
                .send(Out::Text(ServerFrame::error(None, code, message).to_json()))
                .await;
        }
        if let Some((code, reason)) = close {
            let _ = tx.send(Out::Close(code, reason.to_owned())).await;
        }
    })
    .await;
    // The writer ends once it has sent what is queued (the hub no longer
    // holds this connection's sender), unless the client does not read.
    drop(tx);
    let mut writer = writer;
    if matches!(end, End::Dead | End::Slow) || time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Refuse a connection: an error frame, then a close frame.
async fn reject<S>(
    mut ws: WebSocketStream<S>,
    code: ErrorCode,
    message: String,
    close_code: u16,
    reason: &'static str,
    counters: &Counters,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = ServerFrame::error(None, code, message);
    Counters::bump(&counters.errors_sent);
    let close = CloseFrame {
        code: CloseCode::from(close_code),
        reason: reason.into(),
    };
    let _ = time::timeout(Duration::from_secs(1), async {
        let _ = ws.send(Message::Text(frame.to_json().into())).await;
        let _ = ws.close(Some(close)).await;
    })
    .await;
}

type WsSink<S> = futures::stream::SplitSink<WebSocketStream<S>, Message>;
type WsStream<S> = futures::stream::SplitStream<WebSocketStream<S>>;

async fn write_loop<S>(mut sink: WsSink<S>, mut rx: mpsc::Receiver<Out>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(out) = rx.recv().await {
        let result = match out {
            Out::Text(text) => sink.send(Message::Text(text.into())).await,
            Out::Relayed(text, queued) => {
                queued.fetch_sub(1, Ordering::Relaxed);
                sink.send(Message::Text(text.into())).await
            }
            Out::Ping => sink.send(Message::Ping(Default::default())).await,
            Out::Close(code, reason) => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        if let Err(e) = result {
            tracing::debug!("write failed: {e}");
            break;
        }
    }
    let _ = sink.close().await;
}

/// One connection's state, seen from its reader task.
struct Session<'a> {
    shared: &'a Shared,
    conn: ConnHandle,
    addr: IpAddr,
    /// The challenge this connection's join signs.
    nonce: Nonce,
    joined: Option<(String, PeerId)>,
    bucket: TokenBucket,
    violations: u32,
}

enum Flow {
    Continue,
    Stop(End),
}

impl Session<'_> {
    async fn run<S>(
        &mut self,
        mut stream: WsStream<S>,
        mut shutdown: watch::Receiver<bool>,
        join_deadline: Instant,
    ) -> (End, WsStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = &self.shared.config;
        let ping_every = config.ping_interval.max(Duration::from_millis(10));
        let mut ping = time::interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(time::MissedTickBehavior::Delay);
        let join_timer = time::sleep_until(join_deadline);
        tokio::pin!(join_timer);
        let mut last_seen = Instant::now();
        let kick = self.conn.kick.clone();
        let challenge = ServerFrame::new(None, ServerMessage::Challenge { nonce: self.nonce });
        if let Flow::Stop(end) = self.reply(challenge).await {
            return (end, stream);
        }
        let end = loop {
            tokio::select! {
                biased;
                _ = kick.notified() => {
                    break if *shutdown.borrow() {
                        End::Shutdown
                    } else if self.conn.replaced.load(Ordering::Relaxed) {
                        End::Replaced
                    } else {
                        End::Gone
                    };
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break End::Shutdown;
                    }
                }
                _ = &mut join_timer, if self.joined.is_none() => break End::JoinTimeout,
                _ = ping.tick() => {
                    if last_seen.elapsed() >= config.heartbeat_timeout {
                        tracing::info!("no pong or message for {:?}: dropping client", config.heartbeat_timeout);
                        break End::Dead;
                    }
                    // Pings use the reserve of the queue that relayed
                    // signals cannot take; a full queue here means the
                    // client does not even read its own replies.
                    if self.conn.tx.try_send(Out::Ping).is_err() {
                        break End::Slow;
                    }
                }
                frame = stream.next() => match frame {
                    None => break End::Gone,
                    Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                        tracing::info!(size, max_size, "message over the hard size cap: closing");
                        break End::TooBig;
                    }
                    Some(Err(e)) => {
                        tracing::debug!("read failed: {e}");
                        break End::Gone;
                    }
                    Some(Ok(message)) => {
                        last_seen = Instant::now();
                        if let Flow::Stop(end) = self.on_message(message).await {
                            break end;
                        }
                    }
                },
            }
        };
        (end, stream)
    }

    /// Queue a frame for the client, waiting for room: a client that sends
    /// faster than it reads is slowed down (its socket is not read
    /// meanwhile), never dropped silently. One that does not read at all
    /// for the heartbeat timeout is dropped.
    async fn reply(&self, frame: ServerFrame) -> Flow {
        if matches!(frame.msg, ServerMessage::Error { .. }) {
            Counters::bump(&self.shared.counters.errors_sent);
        }
        let wait = self.shared.config.heartbeat_timeout;
        match time::timeout(wait, self.conn.tx.send(Out::Text(frame.to_json()))).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) => Flow::Stop(End::Gone),
            Err(_) => Flow::Stop(End::Slow),
        }
    }

    async fn error(&self, id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Flow {
        let message = message.into();
        tracing::debug!(%code, %message, "error reply");
        self.reply(ServerFrame::error(id, code, message)).await
    }

    async fn on_message(&mut self, message: Message) -> Flow {
        let config = &self.shared.config;
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                if let Some(flow) = self.over_rate(None).await {
                    return flow;
                }
                return self
                    .error(
                        None,
                        ErrorCode::BinaryFrame,
                        "binary messages are not used: send JSON as text messages",
                    )
                    .await;
            }
            Message::Ping(_) => {
                // tungstenite answers pings; they count toward the rate, silently.
                if !self.bucket.try_take(Instant::now()) {
                    self.violations += 1;
                    if self.violations > config.max_rate_violations {
                        return Flow::Stop(End::RateAbuse);
                    }
                }
                return Flow::Continue;
            }
            Message::Close(_) => return Flow::Stop(End::Gone),
            Message::Pong(_) | Message::Frame(_) => return Flow::Continue,
        };
        if text.len() > config.max_message_bytes {
            if let Some(flow) = self.over_rate(None).await {
                return flow;
            }
            return self
                .error(
                    None,
                    ErrorCode::TooLarge,
                    format!(
                        "the message has {} bytes; the limit is {} bytes",
                        text.len(),
                        config.max_message_bytes
                    ),
                )
                .await;
        }
        let parsed = wire::parse_client_frame(text.as_str());
        let id = match &parsed {
            Ok((id, _)) => *id,
            Err(rejection) => rejection.id,
        };
        if let Some(flow) = self.over_rate(id).await {
            return flow;
        }
        match parsed {
            Ok((id, msg)) => self.on_request(id, msg).await,
            Err(rejection) => {
                tracing::debug!(code = %rejection.code, "rejected message");
                let version = rejection.code == ErrorCode::BadVersion;
                let flow = self.reply(rejection.into_frame()).await;
                // A client of another protocol version understands nothing
                // more we say: the error, then close code 1002.
                if version && matches!(flow, Flow::Continue) {
                    return Flow::Stop(End::BadVersion);
                }
                flow
            }
        }
    }

    /// Take a token; `Some` (the reply, or a stop) if there was none.
    async fn over_rate(&mut self, id: Option<u64>) -> Option<Flow> {
        if self.bucket.try_take(Instant::now()) {
            self.violations = 0;
            return None;
        }
        self.violations += 1;
        let config = &self.shared.config;
        if self.violations > config.max_rate_violations {
            tracing::info!(
                "rate limit exceeded {} times in a row: closing",
                self.violations
            );
            return Some(Flow::Stop(End::RateAbuse));
        }
        Some(
            self.error(
                id,
                ErrorCode::RateLimited,
                format!(
                    "more than {} messages per second (bursts of {}): this message was dropped; slow down",
                    config.messages_per_second, config.burst
                ),
            )
            .await,
        )
    }

    async fn on_request(&mut self, id: Option<u64>, msg: ClientMessage) -> Flow {
        match msg {
            ClientMessage::Join {
                room,
                peer,
                signature,
                allow_named,
            } => {
                if let Some((joined, me)) = &self.joined {
                    let message = format!("this connection already joined room {joined:?} as {}; open another connection", me.short());
                    return self.error(id, ErrorCode::AlreadyJoined, message).await;
                }
                if !wire::verify_join(&self.nonce, &room, &peer, &signature) {
                    Counters::bump(&self.shared.counters.joins_refused_signature);
                    tracing::info!(room, peer = %peer.short(), "join refused: the signature does not prove the peer id");
                    let message = format!(
                        "the join signature does not prove ownership of peer {}: sign this connection's challenge, the room and the peer id with the peer's Ed25519 key (docs/SIGNALING.md, \"The join proof\")",
                        peer.short()
                    );
                    return self.error(id, ErrorCode::BadSignature, message).await;
                }
                let joining = Joining {
                    peer,
                    addr: self.addr,
                    conn: self.conn.clone(),
                    allow_named,
                };
                let result = self.shared.hub().join(&room, joining);
                match result {
                    Ok(members) => {
                        tracing::info!(room, peer = %peer.short(), members, "joined");
                        self.joined = Some((room.clone(), peer));
                        self.reply(ServerFrame::new(
                            id,
                            ServerMessage::Joined {
                                room,
                                peer,
                                members,
                            },
                        ))
                        .await
                    }
                    Err(e) => self.error(id, e.code, e.message).await,
                }
            }
            ClientMessage::RequestContact { peer: want } => {
                let Some((room, me)) = &self.joined else {
                    return self
                        .error(id, ErrorCode::NotJoined, "send a join message first")
                        .await;
                };
                let result = self.shared.hub().contact(room, *me, want);
                match result {
                    Ok(Some(peer)) => {
                        tracing::debug!(room, me = %me.short(), contact = %peer.short(), "contact given");
                        self.reply(ServerFrame::new(id, ServerMessage::Contact { peer }))
                            .await
                    }
                    Ok(None) => self.reply(ServerFrame::new(id, ServerMessage::Alone)).await,
                    Err(e) => self.error(id, e.code, e.message).await,
                }
            }
            ClientMessage::Signal { to, envelope } => {
                let Some((room, me)) = &self.joined else {
                    return self
                        .error(id, ErrorCode::NotJoined, "send a join message first")
                        .await;
                };
                let result = self.shared.hub().relay(room, *me, to, envelope);
                match result {
                    Ok(()) => Flow::Continue,
                    Err(e) => self.error(id, e.code, e.message).await,
                }
            }
        }
    }
}
