//! Out-of-band handshakes: the application carries the signals.

use tokio::sync::{mpsc, oneshot};

use super::{Node, NodeError, ProtocolHandle};
use crate::error::ConnectError;
use crate::id::{HandshakeId, PeerId};
use crate::signal::SignalEnvelope;

/// One out-of-band handshake: the signals to carry to the remote peer and,
/// on the initiating side, the outcome.
#[derive(Debug)]
pub struct OutOfBand {
    handshake: HandshakeId,
    signals: mpsc::UnboundedReceiver<SignalEnvelope>,
    done: Option<oneshot::Receiver<Result<Option<PeerId>, ConnectError>>>,
}

impl OutOfBand {
    pub(super) fn new(
        handshake: HandshakeId,
        signals: mpsc::UnboundedReceiver<SignalEnvelope>,
        done: Option<oneshot::Receiver<Result<Option<PeerId>, ConnectError>>>,
    ) -> Self {
        OutOfBand {
            handshake,
            signals,
            done,
        }
    }

    /// The handshake.
    pub fn handshake(&self) -> HandshakeId {
        self.handshake
    }

    /// The next signal to carry to the remote; `None` once the handshake
    /// has ended (opened or failed).
    pub async fn next_signal(&mut self) -> Option<SignalEnvelope> {
        self.signals.recv().await
    }

    /// Wait for the outcome (initiating side): the remote's id once the
    /// arc is open.
    ///
    /// # Errors
    /// [`ConnectError::Failed`] with the reason; [`ConnectError::NodeGone`].
    pub async fn finished(&mut self) -> Result<PeerId, ConnectError> {
        let Some(done) = self.done.as_mut() else {
            return Err(ConnectError::NodeGone);
        };
        let r = done.await.map_err(|_| ConnectError::NodeGone)?;
        self.done = None;
        r?.ok_or(ConnectError::NodeGone)
    }
}

/// Connect `initiator`'s node to `acceptor` out-of-band, in process: the
/// two nodes' signals are carried by this function until the arc
/// `initiator -> acceptor` is open. What an application with its own
/// channel does, in a dozen lines.
///
/// # Errors
/// [`ConnectError`] if the handshake fails.
pub async fn link_out_of_band(
    initiator: &ProtocolHandle,
    acceptor: &Node,
) -> Result<PeerId, ConnectError> {
    let mut oob = initiator.connect_out_of_band().await?;
    let offer = oob.next_signal().await.ok_or(ConnectError::NodeGone)?;
    let mut accepted = match acceptor.accept_out_of_band(offer).await {
        Ok(a) => a,
        Err(NodeError::NodeGone) => return Err(ConnectError::NodeGone),
        Err(e) => {
            tracing::debug!(error = %e, "acceptor refused the offer");
            // The initiator's pending timeout reports the failure.
            return oob.finished().await;
        }
    };
    let mut done = std::pin::pin!(async { oob_done(&mut oob, acceptor).await });
    let mut acceptor_open = true;
    loop {
        tokio::select! {
            r = &mut done => return r,
            s = accepted.next_signal(), if acceptor_open => match s {
                Some(env) => {
                    if let Err(e) = initiator.node().handle_signal(env).await {
                        tracing::debug!(error = %e, "initiator refused a signal");
                    }
                }
                None => acceptor_open = false,
            },
        }
    }
}

async fn oob_done(oob: &mut OutOfBand, acceptor: &Node) -> Result<PeerId, ConnectError> {
    while let Some(env) = oob.signals.recv().await {
        if let Err(e) = acceptor.handle_signal(env).await {
            tracing::debug!(error = %e, "acceptor refused a signal");
        }
    }
    oob.finished().await
}
