//! Messages from handles to the node's task.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::feed::SendReply;
use crate::connection::ConnectionInfo;
use crate::engine::{EngineStats, SignalError};
use crate::error::{ArcError, ConnectError};
use crate::event::Event;
use crate::id::{HandshakeId, PeerId, ProtocolId};
use crate::signal::SignalEnvelope;

pub(crate) type Reply<T> = oneshot::Sender<T>;

pub(crate) enum Command {
    Register {
        protocol: ProtocolId,
        events: mpsc::Sender<Event>,
        reply: Reply<bool>,
    },
    Connect {
        protocol: ProtocolId,
        from: Vec<PeerId>,
        to: Vec<PeerId>,
        reply: Reply<Result<Option<PeerId>, ConnectError>>,
    },
    ConnectOutOfBand {
        protocol: ProtocolId,
        count: u32,
        signals: mpsc::UnboundedSender<SignalEnvelope>,
        started: Reply<Result<HandshakeId, ConnectError>>,
        done: Reply<Result<Option<PeerId>, ConnectError>>,
    },
    // Envelopes are boxed: a command is one of the channel's slots, and
    // tokio allocates the node's command channel 32 slots at a time, so
    // the largest variant sets every node's cost (272 B a slot inline).
    AcceptOutOfBand {
        envelope: Box<SignalEnvelope>,
        signals: mpsc::UnboundedSender<SignalEnvelope>,
        reply: Reply<Result<(), SignalError>>,
    },
    Signal {
        envelope: Box<SignalEnvelope>,
        reply: Reply<Result<(), SignalError>>,
    },
    Send {
        protocol: ProtocolId,
        peer: PeerId,
        payload: Bytes,
        wait: bool,
        reply: SendReply,
    },
    Disconnect {
        protocol: ProtocolId,
        peer: PeerId,
        reply: Reply<Result<(), ArcError>>,
    },
    DisconnectAll {
        protocol: ProtocolId,
        reply: Reply<u32>,
    },
    Pin {
        protocol: ProtocolId,
        peer: PeerId,
        pin: bool,
        reply: Reply<Result<(), ArcError>>,
    },
    Query(Query),
    Shutdown {
        reply: Reply<()>,
    },
}

pub(crate) enum Query {
    Inview(ProtocolId, Reply<BTreeMap<PeerId, u32>>),
    Outview(ProtocolId, Reply<BTreeMap<PeerId, u32>>),
    Neighbours(Reply<BTreeSet<PeerId>>),
    Connections(Reply<Vec<ConnectionInfo>>),
    Stats(Reply<NodeStats>),
}

/// Counters of a node: its engine's and its driver's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// The engine's counters.
    pub engine: EngineStats,
    /// Events dropped because no handle was registered for their protocol.
    pub unrouted_events: u64,
    /// Out-of-band signals with no route (their handshake's pipe was dropped).
    pub unrouted_signals: u64,
    /// Transport commands that failed (each closed its connection).
    pub transport_errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node's command channel holds 32 commands per block, allocated
    /// up front for every node: a large variant costs every node (a signal
    /// envelope inline made a command 272 B, a block 8.5 KiB). `Send`, the
    /// hot one, sets the size now (protocol, peer, payload, reply).
    #[test]
    fn commands_stay_small() {
        let size = std::mem::size_of::<Command>();
        assert!(
            size <= 128,
            "Command is {size} bytes: box its largest variant"
        );
    }
}
