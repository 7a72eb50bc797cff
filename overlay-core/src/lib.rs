//! overlay-core: the sans-IO engine of n2n-overlay.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod arcs;
pub mod config;
mod connection;
pub mod engine;
pub mod error;
pub mod event;
pub mod id;
pub mod memory;
pub mod node;
mod outbox;
pub mod signal;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transport;
pub mod sim;
pub mod wire;

pub use arcs::ArcCounts;
pub use config::Config;
pub use connection::{ConnState, ConnStats, ConnectionInfo, Via};
pub use engine::{Engine, EngineStats, SignalError};
pub use error::{ArcError, ConnectError, SendError};
pub use event::{ArcCloseReason, BridgeFailure, Completion, ConnectFailure, Direction, Event, Output};
pub use id::{ConnId, HandshakeId, IdParseError, Keypair, OpId, PeerId, ProtocolId};
pub use signal::{normalize_candidate, CandidateLine, Signal, SignalEnvelope};
pub use transport::{CloseReason, Role, Transport, TransportCommand, TransportEvent};
pub use memory::{MemoryNetwork, MemoryTransport};
pub use node::{link_out_of_band, EventStream, Node, NodeConfig, NodeError, NodeStats, OutOfBand, Peers, ProtocolHandle};
