//! Joining an overlay network through a signaling server, and serving the
//! newcomers that get this node as their contact.
//!
//! A node joins a *room* of an [`overlay_signaling`] server:
//! [`join_room`] asks the server for a contact (a random member, or the one
//! named in [`JoinOptions::contact`]), opens one arc `node -> contact` with an
//! out-of-band handshake whose [`SignalEnvelope`]s the server relays, and
//! returns once that arc is open. The first member of a room is told it is
//! alone and just waits.
//!
//! Either way the node stays in the room and *serves* it: a background task
//! accepts the offers of later newcomers that got this node as contact
//! (through [`Node::accept_out_of_band`]), relays their handshakes'
//! signals, and reports each outcome as a [`RoomEvent`]. That is the only
//! use of the server: every further connection is bridged by the overlay
//! ([`ProtocolHandle::connect`] with two neighbours), so the overlay keeps
//! working, and keeps growing, when the server is gone
//! ([`RoomEvent::ServerLost`]). When the connection to the server ends, the
//! node joins the room again (with backoff) so that newcomers after a
//! server restart still find it and join the same overlay
//! ([`RoomEvent::Rejoined`]).
//!
//! The server knows the node by its [`PeerId`] and checks that the node
//! owns it (the join is signed with the node's key, [`Node::keypair`]).
//! A room member joined with [`join_room`] accepts being named as contact
//! by newcomers ([`JoinOptions::contact`]); set
//! [`ClientConfig::allow_named`] to false in [`JoinOptions::client`] to be
//! reachable only through the server's random pick.
//!
//! # Example
//! Two nodes on the in-memory transport join a room of an embedded server.
//! ```
//! use n2n_overlay::join::{join_room, JoinOptions, RoomEvent};
//! use n2n_overlay::signaling::{ServerConfig, SignalingServer};
//! use n2n_overlay::{Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = SignalingServer::bind(ServerConfig::default()).await?;
//! let net = MemoryNetwork::new();
//! let p = ProtocolId::new("demo")?;
//! let a = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
//! let b = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
//! let (ha, _ea) = a.protocol(p).await?;
//! let (hb, _eb) = b.protocol(p).await?;
//!
//! let mut first = join_room(&ha, JoinOptions::new(server.url(), "lobby")).await?;
//! assert_eq!(first.contact, None); // alone: waits for newcomers
//! let second = join_room(&hb, JoinOptions::new(server.url(), "lobby")).await?;
//! assert_eq!(second.contact, Some(a.id())); // b -> a is open
//! assert!(matches!(first.room.next_event().await, Some(RoomEvent::Accepted { peer, .. }) if peer == b.id()));
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use overlay_core::{
    ConnectError, ConnectFailure, Node, NodeError, OutOfBand, PeerId, ProtocolHandle, Signal,
    SignalEnvelope,
};
use overlay_signaling::{
    ClientConfig, ClientError, Contact, Incoming, SignalingClient, SignalingSender,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Room events buffered for the application; more are dropped (never waited for).
const EVENT_CAPACITY: usize = 256;

/// Where and how to join.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JoinOptions {
    /// The signaling server, `ws://HOST:PORT/`.
    pub url: String,
    /// The room.
    pub room: String,
    /// Ask for this member as contact instead of a random one.
    pub contact: Option<PeerId>,
    /// Join handshakes tried (each with a contact the server picks) before
    /// giving up. Default 5.
    pub attempts: u32,
    /// How long one contact has to open the connection before the next
    /// attempt asks the server for another (a member that never answers
    /// costs this, not the whole handshake timeout). Default 10 s.
    pub contact_timeout: Duration,
    /// Join the room again when the connection to the server ends (with
    /// backoff from 250 ms up to [`JoinOptions::max_backoff`]), so the
    /// node is a contact again after a server restart. Default true.
    pub reconnect: bool,
    /// Longest pause between two attempts to join again. Default 30 s.
    pub max_backoff: Duration,
    /// The signaling client's settings. [`JoinOptions::new`] sets
    /// [`ClientConfig::allow_named`]: newcomers may name this node as
    /// contact.
    pub client: ClientConfig,
}

impl JoinOptions {
    /// Join `room` on the server at `url`, with a random contact.
    #[must_use]
    pub fn new(url: impl Into<String>, room: impl Into<String>) -> Self {
        JoinOptions {
            url: url.into(),
            room: room.into(),
            contact: None,
            attempts: 5,
            contact_timeout: Duration::from_secs(10),
            reconnect: true,
            max_backoff: Duration::from_secs(30),
            client: ClientConfig::default().allowing_named(true),
        }
    }

    /// Give each contact `timeout` to open the connection.
    #[must_use]
    pub fn with_contact_timeout(mut self, timeout: Duration) -> Self {
        self.contact_timeout = timeout;
        self
    }

    /// Whether to join the room again when the server connection ends.
    #[must_use]
    pub fn with_reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Ask for `contact` as contact.
    #[must_use]
    pub fn with_contact(mut self, contact: PeerId) -> Self {
        self.contact = Some(contact);
        self
    }

    /// Set the signaling client's settings.
    #[must_use]
    pub fn with_client_config(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }
}

/// Why a join failed. The text says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The signaling server refused or could not be reached.
    #[error(transparent)]
    Signaling(#[from] ClientError),
    /// The handshake with the contact failed (every attempt).
    #[error("could not connect to contact {contact:?} through the signaling server: {error}")]
    Handshake {
        /// The last contact tried.
        contact: PeerId,
        /// What failed.
        error: ConnectError,
    },
    /// The node has shut down.
    #[error("the node has shut down")]
    NodeGone,
}

/// What the serving task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// A newcomer that got this node as contact is connected: the arc
    /// `peer -> this node` is open.
    Accepted {
        /// The newcomer.
        peer: PeerId,
        /// From its offer to the open connection.
        took: Duration,
    },
    /// A newcomer's handshake did not open a connection.
    AcceptFailed {
        /// The newcomer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The server could not relay a signal of ours (the peer left).
    RelayFailed {
        /// The peer we sent to.
        to: PeerId,
        /// Why.
        error: ClientError,
    },
    /// The connection to the signaling server ended. The node keeps its
    /// connections and can still grow the overlay by bridging; newcomers
    /// cannot get it as contact until it has joined again
    /// ([`RoomEvent::Rejoined`]; with [`JoinOptions::reconnect`] off, or
    /// after [`ClientError::Replaced`], serving ends here).
    ServerLost(ClientError),
    /// The node joined the room again after [`RoomEvent::ServerLost`].
    Rejoined {
        /// Other members of the room at that moment.
        members: usize,
        /// Attempts it took.
        attempts: u32,
    },
}

/// Membership of a room: the serving task and its events. Dropping it
/// stops serving and leaves the room (the node's connections stay).
#[derive(Debug)]
#[must_use = "dropping the Room leaves it: the node stops serving newcomers"]
pub struct Room {
    /// The current connection's sender (replaced on each rejoin).
    sender: Arc<Mutex<SignalingSender>>,
    events: mpsc::Receiver<RoomEvent>,
    task: JoinHandle<()>,
}

impl Room {
    /// The next event; `None` once serving has stopped (after
    /// [`RoomEvent::ServerLost`]).
    pub async fn next_event(&mut self) -> Option<RoomEvent> {
        self.events.recv().await
    }

    /// A handle that talks to the server through this membership's
    /// current connection.
    #[must_use]
    pub fn sender(&self) -> SignalingSender {
        current(&self.sender)
    }

    /// Whether the serving task still runs (the server connection is up).
    #[must_use]
    pub fn is_serving(&self) -> bool {
        !self.task.is_finished()
    }

    /// Stop serving and leave the room.
    pub async fn leave(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A joined room.
#[derive(Debug)]
#[non_exhaustive]
pub struct Joined {
    /// The member this node connected to; `None` if it was alone.
    pub contact: Option<PeerId>,
    /// From the first contact request to the open arc (zero when alone).
    pub setup: Duration,
    /// Handshakes tried (1 unless a contact failed).
    pub attempts: u32,
    /// The membership, serving later newcomers.
    pub room: Room,
}

/// Join a room with `handle`'s node and open one arc of `handle`'s
/// protocol to a contact; then keep serving the room (see the [module
/// docs](self)).
///
/// # Errors
/// [`JoinError::Signaling`] when the server is unreachable or refuses
/// (room full, duplicate peer...), [`JoinError::Handshake`] when no contact
/// could be reached through it.
pub async fn join_room(handle: &ProtocolHandle, options: JoinOptions) -> Result<Joined, JoinError> {
    let node = handle.node().clone();
    let client = SignalingClient::connect_with(
        &options.url,
        &options.room,
        node.keypair(),
        options.client.clone(),
    )
    .await?;
    let start = Instant::now();
    let rejoin = options.reconnect.then(|| Rejoin {
        url: options.url.clone(),
        room: options.room.clone(),
        client: options.client.clone(),
        max_backoff: options.max_backoff,
    });
    let room = serve(&node, client, rejoin);
    let mut last = None;
    for attempt in 1..=options.attempts.max(1) {
        let want = if attempt == 1 { options.contact } else { None };
        let sender = room.sender();
        let contact = match sender.request_contact(want).await? {
            Contact::Alone => {
                return Ok(Joined {
                    contact: None,
                    setup: Duration::ZERO,
                    attempts: attempt,
                    room,
                })
            }
            Contact::Peer(p) => p,
        };
        let attempt_result = tokio::time::timeout(
            options.contact_timeout,
            connect_through(handle, &sender, contact),
        )
        .await
        .unwrap_or(Err(ConnectError::Failed(ConnectFailure::Timeout)));
        match attempt_result {
            Ok(()) => {
                return Ok(Joined {
                    contact: Some(contact),
                    setup: start.elapsed(),
                    attempts: attempt,
                    room,
                })
            }
            Err(ConnectError::NodeGone) => return Err(JoinError::NodeGone),
            Err(error) => {
                tracing::info!(contact = %contact.short(), %error, attempt, "join handshake failed");
                last = Some(JoinError::Handshake { contact, error });
            }
        }
    }
    // The loop ran at least once and only falls through with an error.
    Err(last.unwrap_or(JoinError::NodeGone))
}

/// Serve a room this node's `client` has joined: accept the newcomers'
/// offers and relay their signals (see the [module docs](self)). Serving
/// ends with the client's connection (no rejoin: [`join_room`] rejoins).
/// [`join_room`] calls it; call it yourself to serve without joining.
pub fn serve_room(node: &Node, client: SignalingClient) -> Room {
    serve(node, client, None)
}

/// How to join again after the server connection ends.
#[derive(Debug, Clone)]
struct Rejoin {
    url: String,
    room: String,
    client: ClientConfig,
    max_backoff: Duration,
}

fn current(sender: &Mutex<SignalingSender>) -> SignalingSender {
    sender
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

fn serve(node: &Node, client: SignalingClient, rejoin: Option<Rejoin>) -> Room {
    let (tx, events) = mpsc::channel(EVENT_CAPACITY);
    let sender = Arc::new(Mutex::new(client.sender()));
    let span = tracing::info_span!("room", room = client.room(), peer = %node.id().short());
    let task = tokio::spawn(tracing::Instrument::instrument(
        serve_loop(node.clone(), client, tx, rejoin, sender.clone()),
        span,
    ));
    Room {
        sender,
        events,
        task,
    }
}

async fn serve_loop(
    node: Node,
    mut client: SignalingClient,
    events: mpsc::Sender<RoomEvent>,
    rejoin: Option<Rejoin>,
    current_sender: Arc<Mutex<SignalingSender>>,
) {
    loop {
        let lost = serve_connection(&node, client, &events).await;
        let Some(error) = lost else {
            return; // the node is gone
        };
        let final_error = matches!(error, ClientError::Replaced) || rejoin.is_none();
        report(&events, RoomEvent::ServerLost(error));
        let Some(rejoin) = rejoin.as_ref().filter(|_| !final_error) else {
            return;
        };
        let Some((again, attempts)) = join_again(&node, rejoin).await else {
            return;
        };
        *current_sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = again.sender();
        tracing::info!(
            attempts,
            members = again.members_at_join(),
            "joined the room again"
        );
        report(
            &events,
            RoomEvent::Rejoined {
                members: again.members_at_join(),
                attempts,
            },
        );
        client = again;
    }
}

/// Connect and join again, with exponential backoff and jitter; `None` if
/// the node is gone or the server says this identity is in use elsewhere.
async fn join_again(node: &Node, rejoin: &Rejoin) -> Option<(SignalingClient, u32)> {
    let mut backoff = Duration::from_millis(250);
    let mut attempts = 0;
    loop {
        if !node.is_running() {
            return None;
        }
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        tokio::time::sleep(backoff.mul_f64(jitter)).await;
        attempts += 1;
        match SignalingClient::connect_with(
            &rejoin.url,
            &rejoin.room,
            node.keypair(),
            rejoin.client.clone(),
        )
        .await
        {
            Ok(client) => return Some((client, attempts)),
            Err(ClientError::Replaced) => return None,
            Err(e) => {
                tracing::debug!(error = %e, attempts, "joining the room again failed; retrying");
                backoff = (backoff * 2).min(rejoin.max_backoff.max(Duration::from_millis(250)));
            }
        }
    }
}

/// Open one arc `handle -> contact` with the signals relayed through the
/// server; the replies come back through the serving task.
async fn connect_through(
    handle: &ProtocolHandle,
    sender: &SignalingSender,
    contact: PeerId,
) -> Result<(), ConnectError> {
    let mut oob = handle.connect_out_of_band().await?;
    while let Some(envelope) = oob.next_signal().await {
        if let Err(e) = sender.send(contact, envelope).await {
            // The pending timeout ends the handshake.
            tracing::debug!(error = %e, "cannot relay a join signal");
        }
    }
    let remote = oob.finished().await?;
    if remote != contact {
        tracing::warn!(expected = %contact.short(), got = %remote.short(), "contact answered with another identity");
    }
    Ok(())
}

/// Serve one server connection until it ends: `Some(why)`, or `None` when
/// the node is gone.
async fn serve_connection(
    node: &Node,
    mut client: SignalingClient,
    events: &mpsc::Sender<RoomEvent>,
) -> Option<ClientError> {
    let sender = client.sender();
    loop {
        let incoming = match client.recv().await {
            Ok(i) => i,
            Err(e) => {
                tracing::info!(error = %e, "signaling server connection ended; the overlay goes on without it");
                return Some(e);
            }
        };
        match incoming {
            Incoming::Signal(envelope) if matches!(envelope.signal, Signal::Offer { .. }) => {
                let from = envelope.from;
                match node.accept_out_of_band(envelope).await {
                    Ok(oob) => {
                        tokio::spawn(relay_accepted(
                            node.clone(),
                            oob,
                            from,
                            sender.clone(),
                            events.clone(),
                        ));
                    }
                    Err(NodeError::NodeGone) => return None,
                    Err(e) => {
                        report(
                            events,
                            RoomEvent::AcceptFailed {
                                peer: from,
                                reason: e.to_string(),
                            },
                        );
                    }
                }
            }
            Incoming::Signal(envelope) => {
                if let Err(e) = route_signal(node, envelope).await {
                    if e == NodeError::NodeGone {
                        return None;
                    }
                    tracing::debug!(error = %e, "relayed signal refused");
                }
            }
            Incoming::RelayFailed { to, error, .. } => {
                report(events, RoomEvent::RelayFailed { to, error });
            }
            Incoming::Error(error) => tracing::warn!(%error, "signaling server reported an error"),
            other => tracing::debug!(?other, "ignored message from the signaling server"),
        }
    }
}

async fn route_signal(node: &Node, envelope: SignalEnvelope) -> Result<(), NodeError> {
    node.handle_signal(envelope).await
}

/// Carry an accepted handshake's answer and candidates back to the newcomer.
async fn relay_accepted(
    node: Node,
    mut oob: OutOfBand,
    peer: PeerId,
    sender: SignalingSender,
    events: mpsc::Sender<RoomEvent>,
) {
    let start = Instant::now();
    while let Some(envelope) = oob.next_signal().await {
        if let Err(e) = sender.send(peer, envelope).await {
            tracing::debug!(error = %e, "cannot relay an answer signal");
        }
    }
    let event = match node.neighbours().await {
        Ok(n) if n.contains(&peer) => RoomEvent::Accepted {
            peer,
            took: start.elapsed(),
        },
        Ok(_) => RoomEvent::AcceptFailed {
            peer,
            reason: "the handshake ended without a connection".into(),
        },
        Err(_) => return,
    };
    report(&events, event);
}

/// Hand `event` to the application without ever blocking the serving task:
/// when the application does not read its events, the oldest unread stay
/// and new ones are dropped (logged).
fn report(events: &mpsc::Sender<RoomEvent>, event: RoomEvent) {
    if let Err(mpsc::error::TrySendError::Full(event)) = events.try_send(event) {
        tracing::debug!(
            ?event,
            "room event dropped: the application does not read them"
        );
    }
}
