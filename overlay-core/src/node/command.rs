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
    AcceptOutOfBand {
        envelope: SignalEnvelope,
        signals: mpsc::UnboundedSender<SignalEnvelope>,
        reply: Reply<Result<(), SignalError>>,
    },
    Signal {
        envelope: SignalEnvelope,
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
