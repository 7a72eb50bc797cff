//! The async node: runs an [`Engine`] over a [`Transport`] on a tokio task
//! and hands out per-protocol handles and event streams.
//!
//! Every operation returns a future that resolves when it is done (the arc
//! is open, or a typed error). The node's task lives as long as any handle
//! ([`Node`], [`ProtocolHandle`]) does; dropping them all, or calling
//! [`Node::shutdown`], closes every connection and frees the transport.

mod command;
mod driver;
mod feed;
mod out_of_band;

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

pub use command::NodeStats;
pub use feed::FeedError;
pub use out_of_band::{link_out_of_band, OutOfBand};

use crate::config::Config;
use crate::connection::ConnectionInfo;
use crate::engine::{Engine, SignalError};
use crate::error::{ArcError, ConnectError, SendError};
use crate::event::Event;
use crate::id::{Keypair, PeerId, ProtocolId};
use crate::signal::SignalEnvelope;
use crate::transport::Transport;
use command::{Command, Query};
use feed::{FeedState, SendReply};

/// Configuration of a [`Node`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The engine's limits and timeouts.
    pub engine: Config,
    /// Events buffered per protocol stream (then up to 4096 more in the
    /// node, after which frames feeding that stream are held back).
    /// Default 1024.
    pub event_capacity: usize,
    /// Bytes of frames held back for streams the application does not read
    /// fast enough, across connections, before the node stops reading the
    /// network (backpressure toward every sender). Below it, timers and
    /// other connections keep running. Default 16 MiB.
    pub hold_limit: usize,
    /// Commands buffered from handles. Default 1024.
    pub command_capacity: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            engine: Config::default(),
            event_capacity: 1024,
            hold_limit: 16 * 1024 * 1024,
            command_capacity: 1024,
        }
    }
}

impl NodeConfig {
    /// A node configuration around an engine configuration.
    pub fn with_engine(engine: Config) -> Self {
        NodeConfig {
            engine,
            ..Self::default()
        }
    }
}

/// A node-level error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A handle for this protocol is already registered (and its event
    /// stream alive). Drop the other stream first.
    #[error("protocol {0} already has a handle: drop its event stream first")]
    AlreadyRegistered(ProtocolId),
    /// An out-of-band signal was refused.
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// The node's task has stopped.
    #[error("the node has shut down")]
    NodeGone,
}

/// One side of an operation's list of peers: `None` (this node), one peer,
/// or several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers(Option<Vec<PeerId>>);

impl From<PeerId> for Peers {
    fn from(p: PeerId) -> Self {
        Peers(Some(vec![p]))
    }
}
impl From<Option<PeerId>> for Peers {
    fn from(p: Option<PeerId>) -> Self {
        Peers(p.map(|p| vec![p]))
    }
}
impl From<Vec<PeerId>> for Peers {
    fn from(p: Vec<PeerId>) -> Self {
        Peers(Some(p))
    }
}
impl From<&[PeerId]> for Peers {
    fn from(p: &[PeerId]) -> Self {
        Peers(Some(p.to_vec()))
    }
}

impl Peers {
    /// This node itself.
    pub fn me() -> Self {
        Peers(None)
    }

    fn resolve(self, me: PeerId) -> Vec<PeerId> {
        self.0.unwrap_or_else(|| vec![me])
    }
}

/// A running node. Cheap to clone; see the [module docs](self).
#[derive(Clone)]
pub struct Node {
    tx: mpsc::Sender<Command>,
    local: PeerId,
    keypair: Keypair,
    config: NodeConfig,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("id", &self.local).finish()
    }
}

async fn ask<T>(
    tx: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Option<T> {
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply)).await.ok()?;
    rx.await.ok()
}

impl Node {
    /// Start a node on the current tokio runtime, owning `transport`.
    /// Its logs carry a `node` span with its short id.
    pub fn spawn<T: Transport>(transport: T, keypair: Keypair, config: NodeConfig) -> Node {
        let local = keypair.peer_id();
        let identity = keypair.clone();
        let window = transport.send_window();
        let seed = rand::random::<u64>();
        let engine = Engine::new(config.engine.clone(), keypair, seed, window);
        let (tx, rx) = mpsc::channel(config.command_capacity.max(1));
        let span = tracing::info_span!("node", id = %local.short());
        tokio::spawn(
            driver::Driver::new(engine, transport, rx, config.hold_limit)
                .run()
                .instrument(span),
        );
        Node {
            tx,
            local,
            keypair: identity,
            config,
        }
    }

    /// This node's identity key, to prove the identity outside the overlay
    /// (a signaling server's signed join). Sign only domain-separated
    /// messages with it (see [`Keypair::sign`]).
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// This node's id.
    pub fn id(&self) -> PeerId {
        self.local
    }

    /// A handle and the event stream for `protocol`. One stream per
    /// protocol at a time.
    ///
    /// # Errors
    /// [`NodeError::AlreadyRegistered`], [`NodeError::NodeGone`].
    pub async fn protocol(
        &self,
        protocol: ProtocolId,
    ) -> Result<(ProtocolHandle, EventStream), NodeError> {
        let (etx, erx) = mpsc::channel(self.config.event_capacity.max(1));
        let ok = ask(&self.tx, |reply| Command::Register {
            protocol,
            events: etx,
            reply,
        })
        .await
        .ok_or(NodeError::NodeGone)?;
        if !ok {
            return Err(NodeError::AlreadyRegistered(protocol));
        }
        Ok((
            ProtocolHandle {
                node: self.clone(),
                protocol,
                feed: Arc::default(),
            },
            EventStream { rx: erx },
        ))
    }

    /// Feed a signal of an out-of-band handshake already under way (see
    /// [`Node::accept_out_of_band`], [`ProtocolHandle::connect_out_of_band`]).
    ///
    /// # Errors
    /// [`NodeError::Signal`] if the engine refused it.
    pub async fn handle_signal(&self, envelope: SignalEnvelope) -> Result<(), NodeError> {
        ask(&self.tx, |reply| Command::Signal {
            envelope: Box::new(envelope),
            reply,
        })
        .await
        .ok_or(NodeError::NodeGone)??;
        Ok(())
    }

    /// Accept an out-of-band handshake from its first signal (the offer).
    /// The answer and candidates come out of the returned pipe; feed the
    /// remote's later signals with [`Node::handle_signal`].
    ///
    /// # Errors
    /// [`NodeError::Signal`] if the engine refused it.
    pub async fn accept_out_of_band(
        &self,
        envelope: SignalEnvelope,
    ) -> Result<OutOfBand, NodeError> {
        let handshake = envelope.handshake;
        let (stx, srx) = mpsc::unbounded_channel();
        ask(&self.tx, |reply| Command::AcceptOutOfBand {
            envelope: Box::new(envelope),
            signals: stx,
            reply,
        })
        .await
        .ok_or(NodeError::NodeGone)??;
        Ok(OutOfBand::new(handshake, srx, None))
    }

    /// Peers with an established connection.
    pub async fn neighbours(&self) -> Result<BTreeSet<PeerId>, NodeError> {
        ask(&self.tx, |r| Command::Query(Query::Neighbours(r)))
            .await
            .ok_or(NodeError::NodeGone)
    }

    /// Every connection with its state, arcs and counters.
    pub async fn connections(&self) -> Result<Vec<ConnectionInfo>, NodeError> {
        ask(&self.tx, |r| Command::Query(Query::Connections(r)))
            .await
            .ok_or(NodeError::NodeGone)
    }

    /// Counters.
    pub async fn stats(&self) -> Result<NodeStats, NodeError> {
        ask(&self.tx, |r| Command::Query(Query::Stats(r)))
            .await
            .ok_or(NodeError::NodeGone)
    }

    /// Close every connection and stop the node's task; resolves when done.
    pub async fn shutdown(&self) {
        let _ = ask(&self.tx, |reply| Command::Shutdown { reply }).await;
    }

    /// Whether the node's task is still running.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }
}

/// Operations of one protocol on a node.
///
/// A clone is another handle for the same protocol with a pipeline of its
/// own: what [`ProtocolHandle::flush`] waits for and reports are the
/// messages fed through that clone.
#[derive(Debug)]
pub struct ProtocolHandle {
    node: Node,
    protocol: ProtocolId,
    feed: Arc<FeedState>,
}

impl Clone for ProtocolHandle {
    fn clone(&self) -> Self {
        ProtocolHandle {
            node: self.node.clone(),
            protocol: self.protocol,
            feed: Arc::default(),
        }
    }
}

impl ProtocolHandle {
    /// The protocol.
    pub fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Open arcs from every peer of `from` to every peer of `to`
    /// (`None` is this node): `connect(a, c)` bridges neighbour `a` to
    /// neighbour `c`; `connect(None, c)` adds an arc to neighbour `c`;
    /// `connect(a, None)` asks neighbour `a` for an arc to this node.
    /// Resolves when every arc is open at its owner (the `from` side); the
    /// other end's inview follows as soon as the control message in flight
    /// arrives (views agree once the network is quiet).
    ///
    /// # Errors
    /// [`ConnectError`]: at once for a self connection or a peer that is
    /// not a neighbour; later [`ConnectError::Failed`] with the reason.
    pub async fn connect(
        &self,
        from: impl Into<Peers>,
        to: impl Into<Peers>,
    ) -> Result<(), ConnectError> {
        let me = self.node.local;
        let (from, to) = (from.into().resolve(me), to.into().resolve(me));
        let protocol = self.protocol;
        ask(&self.node.tx, |reply| Command::Connect {
            protocol,
            from,
            to,
            reply,
        })
        .await
        .ok_or(ConnectError::NodeGone)??;
        Ok(())
    }

    /// Start an out-of-band handshake for one arc from this node. Carry
    /// the signals of the returned pipe to the remote peer (which calls
    /// [`Node::accept_out_of_band`] with the first one), and feed its
    /// replies to [`Node::handle_signal`]; [`OutOfBand::finished`] resolves
    /// with the remote's id once the arc is open.
    ///
    /// # Errors
    /// [`ConnectError::Busy`], [`ConnectError::NodeGone`].
    pub async fn connect_out_of_band(&self) -> Result<OutOfBand, ConnectError> {
        let (stx, srx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel();
        let protocol = self.protocol;
        let h = ask(&self.node.tx, |started| Command::ConnectOutOfBand {
            protocol,
            count: 1,
            signals: stx,
            started,
            done: done_tx,
        })
        .await
        .ok_or(ConnectError::NodeGone)??;
        Ok(OutOfBand::new(h, srx, Some(done_rx)))
    }

    /// Send `payload` to `peer`, waiting while the connection's queue is
    /// full; resolves once the node has queued the message (or refused it).
    ///
    /// Each call waits for the node's answer: a sender that streams many
    /// messages gets more throughput from [`ProtocolHandle::feed`].
    ///
    /// # Errors
    /// [`SendError::NotNeighbour`], [`SendError::TooLarge`], [`SendError::NodeGone`].
    pub async fn send(&self, peer: PeerId, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_inner(peer, payload.into(), true).await
    }

    /// Send without waiting: [`SendError::Full`] when the queue is full.
    ///
    /// # Errors
    /// As [`ProtocolHandle::send`], plus [`SendError::Full`].
    pub async fn try_send(&self, peer: PeerId, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_inner(peer, payload.into(), false).await
    }

    async fn send_inner(&self, peer: PeerId, payload: Bytes, wait: bool) -> Result<(), SendError> {
        let protocol = self.protocol;
        ask(&self.node.tx, |reply| Command::Send {
            protocol,
            peer,
            payload,
            wait,
            reply: SendReply::Await(reply),
        })
        .await
        .ok_or(SendError::NodeGone)?
    }

    /// Queue `payload` to `peer` without waiting for the node's answer: the
    /// pipelined form of [`ProtocolHandle::send`], for streaming. Returns
    /// as soon as the message is in the node's command queue, so a sender
    /// hands the node many messages per wake-up (the node then queues them
    /// on their connection in one pass, and the transport sends them in one
    /// batch).
    ///
    /// Messages keep their order with each other and with `send`s of the
    /// same handle. Bounded: fed messages not yet handed to the engine hold
    /// up to 1 MiB of credit per handle (a larger message holds all of it);
    /// `feed` waits for credit beyond that, and, like `send`, a message
    /// waits in the node while its connection's queue is full.
    ///
    /// A fed message that the node refuses (the peer is not a neighbour,
    /// the node stopped before queueing it) is reported by the next
    /// [`ProtocolHandle::flush`] of this handle: call it at the end of a
    /// burst, and before relying on the messages having been queued.
    ///
    /// ```
    /// # use overlay_core::{link_out_of_band, Event, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let net = MemoryNetwork::new();
    /// let a = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    /// let b = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    /// let p = ProtocolId::new("stream")?;
    /// let (ha, _ea) = a.protocol(p).await?;
    /// let (_hb, mut eb) = b.protocol(p).await?;
    /// link_out_of_band(&ha, &b).await?;
    ///
    /// for i in 0..100u32 {
    ///     ha.feed(b.id(), i.to_be_bytes().to_vec()).await?;
    /// }
    /// // Every message fed above is queued (or the error says which failed).
    /// ha.flush().await?;
    ///
    /// let mut next = 0u32;
    /// while next < 100 {
    ///     if let Some(Event::Message { payload, .. }) = eb.recv().await {
    ///         assert_eq!(payload[..], next.to_be_bytes());
    ///         next += 1;
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// At once: [`SendError::TooLarge`], [`SendError::NodeGone`] for this
    /// message (it was not queued). Later failures: see
    /// [`ProtocolHandle::flush`].
    pub async fn feed(&self, peer: PeerId, payload: impl Into<Bytes>) -> Result<(), SendError> {
        let payload = payload.into();
        let limit = self.node.config.engine.max_message_size();
        if payload.len() > limit {
            return Err(SendError::TooLarge {
                size: payload.len(),
                limit,
            });
        }
        let ticket = self
            .feed
            .credit(payload.len())
            .await
            .ok_or(SendError::NodeGone)?;
        let cmd = Command::Send {
            protocol: self.protocol,
            peer,
            payload,
            wait: true,
            reply: SendReply::Fed(ticket),
        };
        match self.node.tx.send(cmd).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(cmd)) => {
                if let Command::Send {
                    reply: SendReply::Fed(ticket),
                    ..
                } = cmd
                {
                    ticket.disarm();
                }
                Err(SendError::NodeGone)
            }
        }
    }

    /// Wait until every message fed through this handle (see
    /// [`ProtocolHandle::feed`]) has been queued on its connection or
    /// refused, then report the refusals since the last `flush`.
    ///
    /// Like a successful `send`, a queued message is the engine's to
    /// deliver: a connection that fails later loses what it still held, as
    /// it would for `send`.
    ///
    /// # Errors
    /// [`FeedError`]: how many fed messages were not queued, and why the
    /// first was not ([`SendError::NotNeighbour`], [`SendError::NodeGone`]).
    pub async fn flush(&self) -> Result<(), FeedError> {
        self.feed.flush().await
    }

    /// Remove one arc to `peer`.
    ///
    /// # Errors
    /// [`ArcError`].
    pub async fn disconnect(&self, peer: PeerId) -> Result<(), ArcError> {
        let protocol = self.protocol;
        ask(&self.node.tx, |reply| Command::Disconnect {
            protocol,
            peer,
            reply,
        })
        .await
        .ok_or(ArcError::NodeGone)?
    }

    /// Remove every unpinned arc of this protocol; how many were removed.
    ///
    /// # Errors
    /// [`ArcError::NodeGone`].
    pub async fn disconnect_all(&self) -> Result<u32, ArcError> {
        let protocol = self.protocol;
        ask(&self.node.tx, |reply| Command::DisconnectAll {
            protocol,
            reply,
        })
        .await
        .ok_or(ArcError::NodeGone)
    }

    /// Pin one arc to `peer` (it cannot be removed until unpinned).
    ///
    /// # Errors
    /// [`ArcError`].
    pub async fn pin(&self, peer: PeerId) -> Result<(), ArcError> {
        let protocol = self.protocol;
        ask(&self.node.tx, |reply| Command::Pin {
            protocol,
            peer,
            pin: true,
            reply,
        })
        .await
        .ok_or(ArcError::NodeGone)?
    }

    /// Unpin one arc to `peer`.
    ///
    /// # Errors
    /// [`ArcError`].
    pub async fn unpin(&self, peer: PeerId) -> Result<(), ArcError> {
        let protocol = self.protocol;
        ask(&self.node.tx, |reply| Command::Pin {
            protocol,
            peer,
            pin: false,
            reply,
        })
        .await
        .ok_or(ArcError::NodeGone)?
    }

    /// Incoming arcs: peer -> multiplicity.
    ///
    /// # Errors
    /// [`NodeError::NodeGone`].
    pub async fn inview(&self) -> Result<BTreeMap<PeerId, u32>, NodeError> {
        let p = self.protocol;
        ask(&self.node.tx, |r| Command::Query(Query::Inview(p, r)))
            .await
            .ok_or(NodeError::NodeGone)
    }

    /// Outgoing arcs: peer -> multiplicity.
    ///
    /// # Errors
    /// [`NodeError::NodeGone`].
    pub async fn outview(&self) -> Result<BTreeMap<PeerId, u32>, NodeError> {
        let p = self.protocol;
        ask(&self.node.tx, |r| Command::Query(Query::Outview(p, r)))
            .await
            .ok_or(NodeError::NodeGone)
    }
}

/// The events of one protocol, as a [`Stream`].
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Event>,
}

impl EventStream {
    /// The next event; `None` once the node has stopped.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

impl Stream for EventStream {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
