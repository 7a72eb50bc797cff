//! overlay-core: the sans-IO engine of n2n-overlay.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod id;
pub mod signal;
pub mod transport;

pub use id::{ConnId, HandshakeId, IdParseError, Keypair, OpId, PeerId, ProtocolId};
pub use signal::{normalize_candidate, CandidateLine, Signal, SignalEnvelope};
pub use transport::{CloseReason, Role, Transport, TransportCommand, TransportEvent};
