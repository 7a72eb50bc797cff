//! Spray on a [`overlay_core::Node`]: a tokio task drives a
//! [`Spray`] with a [`ProtocolHandle`]'s events and applies its actions
//! through the handle (`connect`, `pin`, `send`...). Works on any
//! transport: memory, str0m, webrtc-rs.

use std::collections::BTreeMap;

use bytes::Bytes;
use overlay_core::{
    link_out_of_band, ConnectError, EventStream, Node, NodeError, PeerId, ProtocolHandle,
    ProtocolId,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

use crate::protocol::{Action, Spray, SprayConfig, SprayStats, Token};

/// The Spray task stopped (its node shut down, or it left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the Spray task has stopped (its node shut down or it left the network)")]
pub struct Stopped;

enum Command {
    Join(PeerId),
    Broadcast(Bytes, oneshot::Sender<u64>),
    View(oneshot::Sender<BTreeMap<PeerId, u32>>),
    Stats(oneshot::Sender<SprayStats>),
    Leave(oneshot::Sender<()>),
}

/// A broadcast that reached this peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The neighbour it came from.
    pub from: PeerId,
    /// Its id.
    pub id: u64,
    /// What its origin sent.
    pub payload: Bytes,
}

/// Controls a running Spray peer (cheap to clone).
#[derive(Debug, Clone)]
pub struct SprayHandle {
    tx: mpsc::Sender<Command>,
    local: PeerId,
    handle: ProtocolHandle,
}

/// Why a peer could not join through a contact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The out-of-band arc to the contact did not open.
    #[error("the arc to the contact did not open: {0}")]
    Connect(#[from] ConnectError),
    /// The Spray task stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

impl SprayHandle {
    /// Start Spray on `handle` (whose events come on `events`) on the
    /// current tokio runtime. Broadcasts that reach this peer come on the
    /// returned receiver (dropping it is fine).
    pub fn spawn(
        handle: ProtocolHandle,
        events: EventStream,
        config: SprayConfig,
        seed: u64,
    ) -> (SprayHandle, mpsc::UnboundedReceiver<Delivery>) {
        let local = handle.node().id();
        let (tx, rx) = mpsc::channel(64);
        let (dtx, drx) = mpsc::unbounded_channel();
        let spray = Spray::new(local, config, seed);
        tokio::spawn(run(spray, handle.clone(), events, rx, dtx));
        (SprayHandle { tx, local, handle }, drx)
    }

    /// Register `protocol` on `node` and start Spray on it.
    ///
    /// # Errors
    /// [`NodeError`] if the protocol is taken or the node is gone.
    pub async fn start(
        node: &Node,
        protocol: ProtocolId,
        config: SprayConfig,
        seed: u64,
    ) -> Result<(SprayHandle, mpsc::UnboundedReceiver<Delivery>), NodeError> {
        let (handle, events) = node.protocol(protocol).await?;
        Ok(Self::spawn(handle, events, config, seed))
    }

    /// The protocol handle Spray drives.
    pub fn protocol_handle(&self) -> &ProtocolHandle {
        &self.handle
    }

    /// Join the network through `contact`, a node in this process: open an
    /// arc to it (signals carried in process), then [`SprayHandle::join`].
    /// Across processes, open the arc with a signaling server (or any
    /// channel) and call [`SprayHandle::join`] yourself.
    ///
    /// # Errors
    /// [`JoinError`].
    pub async fn join_via(&self, contact: &Node) -> Result<(), JoinError> {
        let peer = link_out_of_band(&self.handle, contact).await?;
        self.join(peer).await?;
        Ok(())
    }

    /// This peer.
    pub fn id(&self) -> PeerId {
        self.local
    }

    /// The out-of-band arc to `contact` is open: ask it to bridge us in,
    /// and start shuffling.
    ///
    /// # Errors
    /// [`Stopped`].
    pub async fn join(&self, contact: PeerId) -> Result<(), Stopped> {
        self.tx
            .send(Command::Join(contact))
            .await
            .map_err(|_| Stopped)
    }

    /// Flood `payload` over the overlay; its id.
    ///
    /// # Errors
    /// [`Stopped`].
    pub async fn broadcast(&self, payload: impl Into<Bytes>) -> Result<u64, Stopped> {
        let (r, rx) = oneshot::channel();
        self.tx
            .send(Command::Broadcast(payload.into(), r))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// The partial view (neighbour -> arcs).
    ///
    /// # Errors
    /// [`Stopped`].
    pub async fn view(&self) -> Result<BTreeMap<PeerId, u32>, Stopped> {
        let (r, rx) = oneshot::channel();
        self.tx.send(Command::View(r)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Spray's counters.
    ///
    /// # Errors
    /// [`Stopped`].
    pub async fn stats(&self) -> Result<SprayStats, Stopped> {
        let (r, rx) = oneshot::channel();
        self.tx.send(Command::Stats(r)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Leave gracefully: hand the inview over to the outview, then shut the
    /// node down. Resolves when done.
    ///
    /// # Errors
    /// [`Stopped`].
    pub async fn leave(&self) -> Result<(), Stopped> {
        let (r, rx) = oneshot::channel();
        self.tx.send(Command::Leave(r)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }
}

async fn run(
    mut spray: Spray,
    handle: ProtocolHandle,
    mut events: EventStream,
    mut commands: mpsc::Receiver<Command>,
    deliveries: mpsc::UnboundedSender<Delivery>,
) {
    // Spray's clock is std's; tokio's (pausable in tests) drives it.
    let origin = TokioInstant::now();
    let std_origin = std::time::Instant::now();
    let now = move || std_origin + origin.elapsed();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Token, bool)>();
    let mut leaving: Option<oneshot::Sender<()>> = None;
    let mut open = true;
    loop {
        let sleep = spray
            .poll_timeout()
            .map(|t| origin + t.saturating_duration_since(std_origin));
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => spray.handle_event(now(), &ev),
                None => return,
            },
            Some((token, ok)) = done_rx.recv() => spray.handle_connect_result(now(), token, ok),
            cmd = commands.recv(), if open => match cmd {
                Some(Command::Join(c)) => spray.join(now(), c),
                Some(Command::Broadcast(p, r)) => { let _ = r.send(spray.broadcast(p)); }
                Some(Command::View(r)) => { let _ = r.send(spray.view()); }
                Some(Command::Stats(r)) => { let _ = r.send(spray.stats()); }
                Some(Command::Leave(r)) => { leaving = Some(r); spray.leave(now()); }
                // Every SprayHandle dropped: keep running for the network.
                None => open = false,
            },
            () = async {
                match sleep {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => spray.handle_timeout(now()),
        }
        while let Some(action) = spray.poll_action() {
            match action {
                Action::Connect { token, from, to } => {
                    let h = handle.clone();
                    let done = done_tx.clone();
                    tokio::spawn(async move {
                        let ok = h.connect(from, to).await.is_ok();
                        let _ = done.send((token, ok));
                    });
                }
                Action::Disconnect { peer } => log(handle.disconnect(peer).await),
                Action::Pin { peer } => log(handle.pin(peer).await),
                Action::Unpin { peer } => log(handle.unpin(peer).await),
                Action::Send { peer, payload } => log(handle.try_send(peer, payload).await),
                Action::Deliver { from, id, payload } => {
                    let _ = deliveries.send(Delivery { from, id, payload });
                }
                Action::Left => {
                    handle.node().shutdown().await;
                    if let Some(r) = leaving.take() {
                        let _ = r.send(());
                    }
                    return;
                }
            }
        }
    }
}

fn log<E: std::fmt::Display>(r: Result<(), E>) {
    if let Err(e) = r {
        tracing::debug!("spray action refused: {e}");
    }
}
