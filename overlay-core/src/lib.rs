//! overlay-core: the engine of n2n-overlay, a framework for peer-to-peer
//! overlay networks over WebRTC (or any transport).
//!
//! A peer keeps, per overlay protocol, an **inview** (arcs other peers
//! opened to it) and an **outview** (arcs it opened), each arc counted
//! with multiplicity. Peers share at most one connection per pair, whatever
//! protocols ride it. A newcomer enters through an out-of-band handshake
//! (a signaling server, or any channel the application has); after that,
//! **peers are the signaling servers**: a peer B with neighbours A and C
//! asks A to connect to C, and the offer/answer travel A→B→C and back.
//!
//! # Example
//! Three nodes on the in-memory transport: A and C join B, B bridges A to C.
//! ```
//! use overlay_core::{link_out_of_band, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = MemoryNetwork::new();
//! let spawn = || Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
//! let (a, b, c) = (spawn(), spawn(), spawn());
//! let gossip = ProtocolId::new("gossip")?;
//! let (ha, _) = a.protocol(gossip).await?;
//! let (hb, _) = b.protocol(gossip).await?;
//! let (hc, mut events_c) = c.protocol(gossip).await?;
//!
//! link_out_of_band(&ha, &b).await?;   // A -> B, signals carried in process
//! link_out_of_band(&hc, &b).await?;   // C -> B
//! hb.connect(a.id(), c.id()).await?;  // B bridges A to C
//!
//! assert_eq!(ha.outview().await?.get(&c.id()), Some(&1));
//! assert_eq!(hc.inview().await?.get(&a.id()), Some(&1));
//! ha.send(c.id(), &b"hi C"[..]).await?;
//! # let _ = events_c.recv().await;
//! # Ok(()) }
//! ```
//!
//! # Design
//! - [`Engine`] is a sans-IO state machine: no sockets, no clock, no tasks,
//!   no locks. Inputs (API calls, [`TransportEvent`]s, timer ticks) carry
//!   `now`; outputs are pulled ([`Engine::poll_transport`],
//!   [`Engine::poll_output`], [`Engine::poll_timeout`]). The simulator
//!   ([`sim`]) runs thousands of engines in one thread on a virtual clock.
//! - [`Transport`] is the extension point: a command/event trait that fits a
//!   sans-IO backend (str0m) and an async one (webrtc-rs). [`memory`] is the
//!   reference implementation; `testkit` (feature) is the conformance suite.
//! - [`Node`] runs an engine over a transport on a tokio task and hands out
//!   per-protocol [`ProtocolHandle`]s and [`EventStream`]s.
//! - The wire format is specified in `docs/WIRE.md`.
//!
//! # Run loop (driving an [`Engine`] yourself)
//! After every input, send every [`Engine::poll_transport`] command to the
//! transport, handle every [`Engine::poll_output`], and sleep until
//! [`Engine::poll_timeout`] (then call [`Engine::handle_timeout`]) or the
//! next transport event. `node/driver.rs` is the tokio version.
//!
//! # Panics
//! None on any input: malformed frames and signals are dropped, counted and
//! logged; a peer that keeps sending garbage is disconnected.
//!
//! # Layout
//! `id` (PeerId, ProtocolId...), `signal` (browser-shaped signals),
//! `transport` (the trait), `wire` (frames, reassembly), `engine` (the state
//! machine: `handshake`, `frames`, `ops`), `connection`/`arcs`/`outbox`
//! (one table entry), `node` (tokio driver), `memory` (reference
//! transport), `sim` (simulator), `testkit` (conformance suite).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod arcs;
#[cfg(feature = "testkit")]
pub mod attack;
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
pub mod sim;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transport;
pub mod wire;

pub use arcs::ArcCounts;
pub use config::Config;
pub use connection::{ConnState, ConnStats, ConnectionInfo, Via};
pub use engine::{DropReason, Engine, EngineStats, SignalError, TimeoutReason};
pub use error::{ArcError, ConnectError, SendError};
pub use event::{
    ArcCloseReason, BridgeFailure, Completion, ConnectFailure, Direction, Event, Limit, Output,
};
pub use id::{ConnId, HandshakeId, IdParseError, Keypair, OpId, PeerId, ProtocolId, RequestId};
pub use memory::{MemoryNetwork, MemoryTransport};
pub use node::{
    link_out_of_band, EventStream, FeedError, Node, NodeConfig, NodeError, NodeStats, OutOfBand,
    Peers, ProtocolHandle,
};
pub use signal::{
    normalize_candidate, CandidateLine, Signal, SignalEnvelope, SignatureBytes, SignedSignal,
};
pub use transport::{
    ChannelBinding, CloseReason, Fingerprint, Role, Transport, TransportCommand, TransportEvent,
};
