//! The client a node uses to join through a signaling server.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use overlay_core::{HandshakeId, Keypair, PeerId, SignalEnvelope};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{self, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

use crate::tls::TlsError;
use crate::wire::{
    self, ClientFrame, ClientMessage, ErrorCode, ServerFrame, ServerMessage, VERSION,
};

/// What went wrong talking to the signaling server. Every message says what
/// to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not a usable `ws://` or `wss://` URL.
    #[error("invalid signaling server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is not usable.
        reason: String,
    },
    /// The room name is not usable.
    #[error("invalid room name {room:?}: {reason}")]
    InvalidRoom {
        /// The room name given.
        room: String,
        /// Why it is not usable.
        reason: String,
    },
    /// No WebSocket connection could be made.
    #[error(
        "cannot reach the signaling server at {url}: {reason}; check that it runs (`n2n signal --listen ADDR`) and that the URL is right"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The underlying failure.
        reason: String,
    },
    /// The TLS handshake with a `wss://` server failed (most often: its
    /// certificate is not signed by a root this client trusts).
    #[error(
        "TLS with the signaling server at {url} failed: {reason}; if its certificate is self-signed or from a private authority, add that root (ClientConfig::with_root_certificate_pem)"
    )]
    Tls {
        /// The URL tried.
        url: String,
        /// The underlying failure.
        reason: String,
    },
    /// The server could not verify our join signature (a client bug, or a
    /// server of another protocol version).
    #[error("the signaling server refused our join signature: {0}")]
    BadSignature(String),
    /// A newer session of our peer id (same key) joined the room: this one
    /// was closed. Not retried: two processes share one identity.
    #[error("replaced: another session of this peer (same key) joined the room; two processes should not share one identity")]
    Replaced,
    /// The member we signaled has too many signals queued; ours was dropped.
    #[error("peer busy: {0}")]
    PeerBusy(String),
    /// A limit per client address (connections, rooms, members of one
    /// room) was reached.
    #[error("address limit: {0}")]
    AddressLimit(String),
    /// The room has the server's maximum number of members.
    #[error("room full: {0}")]
    RoomFull(String),
    /// The server has its maximum number of rooms open.
    #[error("too many rooms: {0}")]
    TooManyRooms(String),
    /// The server has its maximum number of connections.
    #[error("server full: {0}")]
    ServerFull(String),
    /// Our peer id is already registered in the room.
    #[error("duplicate peer: {0}")]
    DuplicatePeer(String),
    /// We sent too many messages per second.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The named peer is not in the room.
    #[error("unknown peer: {0}")]
    UnknownPeer(String),
    /// A signal to a peer that was not introduced to us.
    #[error("not introduced: {0}")]
    NotIntroduced(String),
    /// The message was over the server's size limit.
    #[error("message too large: {0}")]
    TooLarge(String),
    /// The server is shutting down.
    #[error("the signaling server is shutting down; connect again later (or to another server)")]
    ShuttingDown,
    /// Any other error reply (a protocol mismatch: a bug or a version skew).
    #[error("the signaling server rejected a message ({code}): {message}; client and server may run different versions")]
    Rejected {
        /// The server's error code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The server said something this client did not expect.
    #[error("unexpected reply from the signaling server: {0}; client and server may run different versions")]
    Protocol(String),
    /// No reply in time.
    #[error("the signaling server did not answer {what} within {after:?}; it may be overloaded or unreachable, try again")]
    Timeout {
        /// The request.
        what: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// The connection ended.
    #[error("the connection to the signaling server closed: {0}; connect again")]
    Closed(String),
}

impl ClientError {
    /// The error for an `error` frame from the server.
    #[must_use]
    pub fn from_server(code: ErrorCode, message: String) -> Self {
        match code {
            ErrorCode::RoomFull => ClientError::RoomFull(message),
            ErrorCode::TooManyRooms => ClientError::TooManyRooms(message),
            ErrorCode::ServerFull => ClientError::ServerFull(message),
            ErrorCode::DuplicatePeer => ClientError::DuplicatePeer(message),
            ErrorCode::RateLimited => ClientError::RateLimited(message),
            ErrorCode::UnknownPeer => ClientError::UnknownPeer(message),
            ErrorCode::NotIntroduced => ClientError::NotIntroduced(message),
            ErrorCode::TooLarge => ClientError::TooLarge(message),
            ErrorCode::ShuttingDown => ClientError::ShuttingDown,
            ErrorCode::BadSignature => ClientError::BadSignature(message),
            ErrorCode::Replaced => ClientError::Replaced,
            ErrorCode::PeerBusy => ClientError::PeerBusy(message),
            ErrorCode::AddressLimit => ClientError::AddressLimit(message),
            code => ClientError::Rejected { code, message },
        }
    }

    /// The server's error code, when the error is a server's error reply.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            ClientError::RoomFull(_) => ErrorCode::RoomFull,
            ClientError::TooManyRooms(_) => ErrorCode::TooManyRooms,
            ClientError::ServerFull(_) => ErrorCode::ServerFull,
            ClientError::DuplicatePeer(_) => ErrorCode::DuplicatePeer,
            ClientError::RateLimited(_) => ErrorCode::RateLimited,
            ClientError::UnknownPeer(_) => ErrorCode::UnknownPeer,
            ClientError::NotIntroduced(_) => ErrorCode::NotIntroduced,
            ClientError::TooLarge(_) => ErrorCode::TooLarge,
            ClientError::ShuttingDown => ErrorCode::ShuttingDown,
            ClientError::BadSignature(_) => ErrorCode::BadSignature,
            ClientError::Replaced => ErrorCode::Replaced,
            ClientError::PeerBusy(_) => ErrorCode::PeerBusy,
            ClientError::AddressLimit(_) => ErrorCode::AddressLimit,
            ClientError::Rejected { code, .. } => *code,
            _ => return None,
        })
    }
}

/// Client settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Time to open the WebSocket and get the join answered. Default 10 s.
    pub connect_timeout: Duration,
    /// Time for the server to answer a contact request. Default 10 s.
    pub request_timeout: Duration,
    /// If nothing (not even a ping) comes from the server for this long, the
    /// connection is considered dead. Default 60 s (the server pings every
    /// 15 s by default). `None`: never.
    pub server_silence_timeout: Option<Duration>,
    /// Incoming signals buffered for [`SignalingClient::recv`]. When full,
    /// the client stops reading the socket (and the server will eventually
    /// drop it): call `recv` regularly. Default 256.
    pub incoming_capacity: usize,
    /// Longest message accepted from the server. Default 1 MiB.
    pub max_message_bytes: usize,
    /// Let other members ask for us by name (`requestContact` naming us).
    /// Default false: only the server's random pick introduces newcomers
    /// to us.
    pub allow_named: bool,
    /// Root certificates (DER) trusted for `wss://` besides the system's.
    /// Add with [`ClientConfig::with_root_certificate_pem`].
    pub root_certificates: Vec<Vec<u8>>,
}

impl ClientConfig {
    /// Trust the certificates in `pem` (PEM text) as roots for `wss://`,
    /// besides the system's (for a self-signed server certificate, or a
    /// private authority).
    ///
    /// # Errors
    /// [`TlsError::NoCertificate`] if `pem` holds no certificate.
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, TlsError> {
        self.root_certificates
            .extend(crate::tls::pem_certificates(pem)?);
        Ok(self)
    }

    /// Let other members ask for us by name (see [`ClientConfig::allow_named`]).
    #[must_use]
    pub fn allowing_named(mut self, allow: bool) -> Self {
        self.allow_named = allow;
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            server_silence_timeout: Some(Duration::from_secs(60)),
            incoming_capacity: 256,
            max_message_bytes: 1 << 20,
            allow_named: false,
            root_certificates: Vec::new(),
        }
    }
}

/// The answer to a contact request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// Start the handshake with this member.
    Peer(PeerId),
    /// We are the only member: wait for newcomers (their offers arrive
    /// through [`SignalingClient::recv`]).
    Alone,
}

/// Something the server sent us on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A signal relayed to us; `from` was checked by the server. An offer
    /// from a peer we never heard of is a newcomer that got us as contact.
    Signal(SignalEnvelope),
    /// A signal we sent could not be relayed (the peer left, or was never
    /// introduced to us).
    RelayFailed {
        /// The peer we sent to.
        to: PeerId,
        /// The handshake the signal belonged to.
        handshake: HandshakeId,
        /// Why.
        error: ClientError,
    },
    /// The server rejected a message we sent that we cannot tell apart
    /// (for example one over the size limit, whose id it did not read).
    Error(ClientError),
}

type Reply = Result<ServerMessage, ClientError>;

#[derive(Debug)]
enum Command {
    Request {
        msg: ClientMessage,
        reply: oneshot::Sender<Reply>,
    },
    Signal {
        to: PeerId,
        envelope: SignalEnvelope,
    },
}

/// A cloneable handle that sends requests and signals through the client's
/// connection (for tasks other than the one calling
/// [`SignalingClient::recv`]).
#[derive(Debug, Clone)]
pub struct SignalingSender {
    commands: mpsc::Sender<Command>,
    closed: Arc<Mutex<Option<ClientError>>>,
    request_timeout: Duration,
}

impl SignalingSender {
    fn closed_error(&self) -> ClientError {
        closed_reason(&self.closed)
    }

    /// Ask the server for a contact: `want` if named, else a random member.
    ///
    /// # Errors
    /// [`ClientError::UnknownPeer`] if `want` is not in the room,
    /// [`ClientError::RateLimited`], [`ClientError::Timeout`],
    /// [`ClientError::Closed`].
    pub async fn request_contact(&self, want: Option<PeerId>) -> Result<Contact, ClientError> {
        let (reply, answer) = oneshot::channel();
        let msg = ClientMessage::RequestContact { peer: want };
        self.commands
            .send(Command::Request { msg, reply })
            .await
            .map_err(|_| self.closed_error())?;
        match time::timeout(self.request_timeout, answer).await {
            Err(_) => Err(ClientError::Timeout {
                what: "the contact request",
                after: self.request_timeout,
            }),
            Ok(Err(_)) => Err(self.closed_error()),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Ok(Ok(ServerMessage::Contact { peer }))) => Ok(Contact::Peer(peer)),
            Ok(Ok(Ok(ServerMessage::Alone))) => Ok(Contact::Alone),
            Ok(Ok(Ok(other))) => Err(ClientError::Protocol(format!(
                "{other:?} in answer to requestContact"
            ))),
        }
    }

    /// Relay `envelope` to `to` (a member introduced to us). Returns once
    /// the signal is queued; a relay failure comes back later as
    /// [`Incoming::RelayFailed`].
    ///
    /// # Errors
    /// [`ClientError::Closed`] if the connection is gone.
    pub async fn send(&self, to: PeerId, envelope: SignalEnvelope) -> Result<(), ClientError> {
        self.commands
            .send(Command::Signal { to, envelope })
            .await
            .map_err(|_| self.closed_error())
    }
}

fn closed_reason(closed: &Mutex<Option<ClientError>>) -> ClientError {
    closed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_else(|| ClientError::Closed("the client was closed".to_owned()))
}

/// A connection to a signaling server, joined to a room.
///
/// See the crate docs for an example.
#[derive(Debug)]
pub struct SignalingClient {
    sender: SignalingSender,
    incoming: mpsc::Receiver<Incoming>,
    task: JoinHandle<()>,
    /// Dropped or fired: the driver closes the connection.
    close: oneshot::Sender<()>,
    room: String,
    peer: PeerId,
    members_at_join: usize,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl SignalingClient {
    /// Connect to `url` (`ws://host:port/` or `wss://host:port/`) and join
    /// `room` as `keypair`'s peer id, proving it with a signature over the
    /// server's challenge; with the default [`ClientConfig`].
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`], [`ClientError::InvalidRoom`], [`ClientError::Unreachable`],
    /// [`ClientError::Tls`], [`ClientError::RoomFull`], [`ClientError::TooManyRooms`],
    /// [`ClientError::ServerFull`], [`ClientError::AddressLimit`],
    /// [`ClientError::BadSignature`], [`ClientError::Timeout`].
    pub async fn connect(url: &str, room: &str, keypair: &Keypair) -> Result<Self, ClientError> {
        Self::connect_with(url, room, keypair, ClientConfig::default()).await
    }

    /// [`SignalingClient::connect`] with explicit settings.
    ///
    /// # Errors
    /// As [`SignalingClient::connect`].
    pub async fn connect_with(
        url: &str,
        room: &str,
        keypair: &Keypair,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let peer = keypair.peer_id();
        crate::wire::check_room_name(room).map_err(|reason| ClientError::InvalidRoom {
            room: room.to_owned(),
            reason,
        })?;
        let secure = check_url(url)?;
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(config.max_message_bytes))
            .max_frame_size(Some(config.max_message_bytes));
        let connector = if secure {
            let tls = crate::tls::client_config(&config.root_certificates).map_err(|e| {
                ClientError::Tls {
                    url: url.to_owned(),
                    reason: e.to_string(),
                }
            })?;
            Some(Connector::Rustls(tls))
        } else {
            Some(Connector::Plain)
        };
        let connecting =
            tokio_tungstenite::connect_async_tls_with_config(url, Some(ws_config), true, connector);
        let mut ws = match time::timeout(config.connect_timeout, connecting).await {
            Err(_) => {
                return Err(ClientError::Timeout {
                    what: "the WebSocket connection",
                    after: config.connect_timeout,
                })
            }
            Ok(Err(e)) => return Err(connect_error(url, e)),
            Ok(Ok((ws, _response))) => ws,
        };
        let joining = join_room(&mut ws, keypair, room, config.allow_named);
        let members_at_join = match time::timeout(config.connect_timeout, joining).await {
            Err(_) => {
                return Err(ClientError::Timeout {
                    what: "the join",
                    after: config.connect_timeout,
                })
            }
            Ok(result) => result?,
        };
        tracing::debug!(room, peer = %peer.short(), members_at_join, "joined signaling room");
        let (commands, command_rx) = mpsc::channel(64);
        let (incoming_tx, incoming) = mpsc::channel(config.incoming_capacity.max(1));
        let closed = Arc::new(Mutex::new(None));
        let (close, close_rx) = oneshot::channel();
        let driver = Driver {
            ws,
            close: close_rx,
            commands: command_rx,
            incoming: incoming_tx,
            closed: closed.clone(),
            requests: HashMap::new(),
            sent_signals: VecDeque::new(),
            next_id: 1,
            silence: config.server_silence_timeout,
        };
        let span = tracing::debug_span!("signaling-client", peer = %peer.short());
        let task = tokio::spawn(driver.run().instrument(span));
        Ok(SignalingClient {
            sender: SignalingSender {
                commands,
                closed,
                request_timeout: config.request_timeout,
            },
            incoming,
            task,
            close,
            room: room.to_owned(),
            peer,
            members_at_join,
        })
    }

    /// Our peer id.
    #[must_use]
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// The room we joined.
    #[must_use]
    pub fn room(&self) -> &str {
        &self.room
    }

    /// How many other members the room had when we joined (0: we are the
    /// first; we wait for newcomers).
    #[must_use]
    pub fn members_at_join(&self) -> usize {
        self.members_at_join
    }

    /// A cloneable sending handle.
    #[must_use]
    pub fn sender(&self) -> SignalingSender {
        self.sender.clone()
    }

    /// See [`SignalingSender::request_contact`].
    ///
    /// # Errors
    /// As [`SignalingSender::request_contact`].
    pub async fn request_contact(&self, want: Option<PeerId>) -> Result<Contact, ClientError> {
        self.sender.request_contact(want).await
    }

    /// See [`SignalingSender::send`].
    ///
    /// # Errors
    /// As [`SignalingSender::send`].
    pub async fn send(&self, to: PeerId, envelope: SignalEnvelope) -> Result<(), ClientError> {
        self.sender.send(to, envelope).await
    }

    /// The next thing the server sent us on its own: a relayed signal, or a
    /// failed relay.
    ///
    /// # Errors
    /// [`ClientError::Closed`] (or [`ClientError::ShuttingDown`]) once the
    /// connection has ended, with the reason.
    pub async fn recv(&mut self) -> Result<Incoming, ClientError> {
        match self.incoming.recv().await {
            Some(incoming) => Ok(incoming),
            None => Err(self.sender.closed_error()),
        }
    }

    /// Close the connection (the room forgets us) and wait for it to end.
    /// [`SignalingSender`] handles return [`ClientError::Closed`] from then
    /// on. Dropping the client closes the connection too, without waiting.
    pub async fn close(self) {
        let SignalingClient { close, task, .. } = self;
        let _ = close.send(());
        if let Err(e) = task.await {
            tracing::debug!("signaling client task ended abnormally: {e}");
        }
    }
}

/// Whether `url` is `wss://` (`ws://` otherwise).
fn check_url(url: &str) -> Result<bool, ClientError> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("ws") => Ok(false),
        Some("wss") => Ok(true),
        _ => Err(ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: "a signaling server URL starts with ws:// or wss:// (expected ws://HOST:PORT/)"
                .to_owned(),
        }),
    }
}

fn connect_error(url: &str, e: WsError) -> ClientError {
    match e {
        WsError::Url(e) => ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: format!("{e} (expected ws://HOST:PORT/ or wss://HOST:PORT/)"),
        },
        WsError::Tls(e) => ClientError::Tls {
            url: url.to_owned(),
            reason: e.to_string(),
        },
        WsError::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            ClientError::Tls {
                url: url.to_owned(),
                reason: e.to_string(),
            }
        }
        e => ClientError::Unreachable {
            url: url.to_owned(),
            reason: e.to_string(),
        },
    }
}

/// The next JSON frame during the join.
async fn next_frame(ws: &mut Ws) -> Result<ServerFrame, ClientError> {
    loop {
        let message = match ws.next().await {
            None => {
                return Err(ClientError::Closed(
                    "the server closed the connection during the join".to_owned(),
                ))
            }
            Some(Err(e)) => return Err(ClientError::Closed(e.to_string())),
            Some(Ok(message)) => message,
        };
        let Message::Text(text) = message else {
            if let Message::Close(frame) = message {
                return Err(ClientError::Closed(close_text(frame.as_ref())));
            }
            continue;
        };
        return serde_json::from_str(text.as_str()).map_err(|e| {
            ClientError::Protocol(format!(
                "{e} (this client speaks version {VERSION} of the signaling protocol)"
            ))
        });
    }
}

/// Take the server's challenge, send the signed join, read the answer.
async fn join_room(
    ws: &mut Ws,
    keypair: &Keypair,
    room: &str,
    allow_named: bool,
) -> Result<usize, ClientError> {
    let first = next_frame(ws).await?;
    let nonce = match first.msg {
        ServerMessage::Challenge { nonce } => nonce,
        ServerMessage::Error { code, message } => {
            return Err(ClientError::from_server(code, message))
        }
        other => {
            return Err(ClientError::Protocol(format!(
                "{other:?} instead of the join challenge (this client speaks version {VERSION})"
            )))
        }
    };
    let join = ClientFrame {
        v: VERSION,
        id: Some(0),
        msg: ClientMessage::Join {
            room: room.to_owned(),
            peer: keypair.peer_id(),
            signature: wire::sign_join(keypair, &nonce, room),
            allow_named,
        },
    };
    let text = serde_json::to_string(&join).map_err(|e| ClientError::Protocol(e.to_string()))?;
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| ClientError::Closed(e.to_string()))?;
    let frame = next_frame(ws).await?;
    match frame.msg {
        ServerMessage::Joined { members, .. } => Ok(members),
        ServerMessage::Error { code, message } => Err(ClientError::from_server(code, message)),
        other => Err(ClientError::Protocol(format!(
            "{other:?} in answer to join"
        ))),
    }
}

fn close_text(frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) => format!("closed by the server ({}: {})", u16::from(f.code), f.reason),
        None => "closed by the server".to_owned(),
    }
}

/// Signals remembered to attribute a late relay error.
const REMEMBERED_SIGNALS: usize = 512;

struct Driver {
    ws: Ws,
    close: oneshot::Receiver<()>,
    commands: mpsc::Receiver<Command>,
    incoming: mpsc::Sender<Incoming>,
    closed: Arc<Mutex<Option<ClientError>>>,
    requests: HashMap<u64, oneshot::Sender<Reply>>,
    sent_signals: VecDeque<(u64, PeerId, HandshakeId)>,
    next_id: u64,
    silence: Option<Duration>,
}

impl Driver {
    async fn run(mut self) {
        let mut last_heard = Instant::now();
        let far = Duration::from_secs(365 * 24 * 3600);
        let reason = loop {
            let silence_deadline = last_heard + self.silence.unwrap_or(far);
            tokio::select! {
                _ = &mut self.close => {
                    let _ = time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
                    break ClientError::Closed("the client was closed".to_owned());
                }
                command = self.commands.recv() => match command {
                    None => {
                        let _ = time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
                        break ClientError::Closed("the client was closed".to_owned());
                    }
                    Some(command) => {
                        if let Err(e) = self.on_command(command).await {
                            break e;
                        }
                    }
                },
                message = self.ws.next() => match message {
                    None => break ClientError::Closed("the server closed the connection".to_owned()),
                    Some(Err(e)) => break ClientError::Closed(e.to_string()),
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        if let Some(end) = self.on_message(message).await {
                            break end;
                        }
                    }
                },
                _ = time::sleep_until(silence_deadline) => {
                    break ClientError::Closed(format!("nothing heard from the server for {:?}", self.silence.unwrap_or(far)));
                }
            }
        };
        tracing::debug!("signaling connection ended: {reason}");
        let mut closed = self
            .closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if closed.is_none() {
            *closed = Some(reason.clone());
        }
        drop(closed);
        for (_, reply) in self.requests.drain() {
            let _ = reply.send(Err(reason.clone()));
        }
    }

    async fn on_command(&mut self, command: Command) -> Result<(), ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = match command {
            Command::Request { msg, reply } => {
                self.requests.retain(|_, r| !r.is_closed());
                self.requests.insert(id, reply);
                msg
            }
            Command::Signal { to, envelope } => {
                if self.sent_signals.len() >= REMEMBERED_SIGNALS {
                    self.sent_signals.pop_front();
                }
                self.sent_signals.push_back((id, to, envelope.handshake));
                ClientMessage::Signal { to, envelope }
            }
        };
        let text = serde_json::to_string(&ClientFrame {
            v: VERSION,
            id: Some(id),
            msg,
        })
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.ws
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| ClientError::Closed(e.to_string()))
    }

    /// Handle one message; `Some` ends the connection.
    async fn on_message(&mut self, message: Message) -> Option<ClientError> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                let fatal = self
                    .closed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                return Some(
                    fatal.unwrap_or_else(|| ClientError::Closed(close_text(frame.as_ref()))),
                );
            }
            _ => return None,
        };
        let frame: ServerFrame = match serde_json::from_str(text.as_str()) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!("unreadable message from the signaling server dropped: {e}");
                return None;
            }
        };
        match (frame.id, frame.msg) {
            (_, ServerMessage::Signal { envelope }) => {
                // Waits when the application does not read: backpressure.
                let _ = self.incoming.send(Incoming::Signal(envelope)).await;
            }
            (id, ServerMessage::Error { code, message }) => {
                let error = ClientError::from_server(code, message);
                if matches!(
                    code,
                    ErrorCode::ShuttingDown | ErrorCode::JoinTimeout | ErrorCode::Replaced
                ) {
                    // The close frame follows; remember why.
                    *self
                        .closed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error.clone());
                    return None;
                }
                if let Some(reply) = id.and_then(|id| self.requests.remove(&id)) {
                    let _ = reply.send(Err(error));
                } else if let Some(pos) =
                    id.and_then(|id| self.sent_signals.iter().position(|s| s.0 == id))
                {
                    let (_, to, handshake) = self.sent_signals.remove(pos)?;
                    let _ = self
                        .incoming
                        .send(Incoming::RelayFailed {
                            to,
                            handshake,
                            error,
                        })
                        .await;
                } else {
                    let _ = self.incoming.send(Incoming::Error(error)).await;
                }
            }
            (Some(id), msg) => match self.requests.remove(&id) {
                Some(reply) => {
                    let _ = reply.send(Ok(msg));
                }
                None => tracing::debug!(id, "late or unknown reply dropped"),
            },
            (None, msg) => tracing::debug!(?msg, "unsolicited message dropped"),
        }
        None
    }
}
