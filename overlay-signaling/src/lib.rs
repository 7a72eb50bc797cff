//! overlay-signaling: the WebSocket signaling server through which a
//! newcomer joins an n2n-overlay network, and the client a node uses to talk
//! to it.
//!
//! A newcomer connects, joins a *room* with its [`PeerId`](overlay_core::PeerId)
//! (proving it owns the id's key by signing the server's challenge),
//! asks for a *contact* (a random member, or one it names) and exchanges the
//! handshake's signals ([`SignalEnvelope`](overlay_core::SignalEnvelope)s) with
//! that contact through the server. The server relays those signals and
//! nothing else: once the connection between the two peers is open, they
//! need the server no more (further connections are bridged by the overlay).
//! The first member of a room is told it is alone and waits for newcomers.
//!
//! A node keeps its [`SignalingClient`] while it may serve as a contact:
//! offers from newcomers that got it as contact arrive through
//! [`SignalingClient::recv`]; answers go back with
//! [`SignalingClient::send`] (or a cloned [`SignalingSender`] from another
//! task).
//!
//! The wire protocol (versioned JSON over WebSocket text messages, so a
//! browser can speak it) is in [`wire`] and described in full in
//! `docs/SIGNALING.md`.
//!
//! # Example
//!
//! ```
//! use overlay_core::{HandshakeId, Keypair, ProtocolId, Signal, SignalEnvelope};
//! use overlay_signaling::{Contact, Incoming, ServerConfig, SignalingClient, SignalingServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Port 0 on loopback: the operating system picks a free port.
//! let server = SignalingServer::bind(ServerConfig::default()).await?;
//! let url = server.url();
//!
//! // Each client proves it owns its peer id: it signs the server's
//! // challenge with its key.
//! let (first_key, newcomer_key) = (Keypair::generate(), Keypair::generate());
//! let (first, newcomer) = (first_key.peer_id(), newcomer_key.peer_id());
//! let mut first_client = SignalingClient::connect(&url, "lobby", &first_key).await?;
//! assert_eq!(first_client.request_contact(None).await?, Contact::Alone);
//!
//! let newcomer_client = SignalingClient::connect(&url, "lobby", &newcomer_key).await?;
//! let Contact::Peer(contact) = newcomer_client.request_contact(None).await? else {
//!     unreachable!("the room has a member")
//! };
//! assert_eq!(contact, first);
//!
//! // The newcomer's offer (signed by it) travels through the server to its contact.
//! let offer = SignalEnvelope::sign(
//!     &newcomer_key,
//!     Some(contact),
//!     HandshakeId(1),
//!     ProtocolId::new("spray")?,
//!     0,
//!     Signal::Offer { sdp: "v=0\r\n".into() },
//! );
//! newcomer_client.send(contact, offer.clone()).await?;
//! assert_eq!(first_client.recv().await?, Incoming::Signal(offer));
//!
//! newcomer_client.close().await;
//! first_client.close().await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Limits
//! Every limit in [`ServerConfig`] answers with an `error` frame whose code
//! ([`ErrorCode`]) says which limit, and drops the offending message; the
//! client maps codes to [`ClientError`] variants whose text says what to do.
//! Each connection has its own reader task and a bounded outgoing queue. A
//! signal that finds its recipient's queue full is refused to its *sender*
//! (`peer_busy`): nobody is disconnected because others flood it. A client
//! that pipelines requests is slowed down (its socket is not read until its
//! replies fit), and a client that stops answering pings is dropped after
//! [`ServerConfig::heartbeat_timeout`]. Limits per client address
//! (connections, rooms, members of one room) keep one client from taking
//! every room or filling one.
//!
//! # Security
//! A `join` is signed: the server sends each connection a random nonce and
//! the client signs it, with the room and its peer id, with the id's
//! Ed25519 key ([`wire::join_proof_message`]); nobody can register another
//! peer's id. [`ServerTls`] serves `wss://`. `docs/SIGNALING.md` has the
//! exact bytes signed and the server's threat model.
//!
//! # Layout
//! - `wire.rs`: the JSON frames and error codes (shared by server and client).
//! - `hub.rs`: rooms, members, introductions; no I/O.
//! - `bucket.rs`: the per-client token bucket.
//! - `server.rs`: accept loop, per-connection reader and writer tasks.
//! - `client.rs`: [`SignalingClient`].
//! - `tls.rs`: [`ServerTls`] (`wss://`) and the client's trusted roots, on
//!   rustls with the aws-lc-rs provider.
//! - `args.rs`: `ServerArgs`, the server's command-line flags (feature
//!   `cli`), shared by the standalone server and `n2n signal`.
//! - `bin/overlay-signaling.rs`: the standalone server (feature `cli`, on by
//!   default; without it the crate has no clap or log-subscriber dependency).
//! - `examples/signaling_bench.rs`: join latency and relay round trip under
//!   load, printed as a table.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "cli")]
mod args;
mod bucket;
mod client;
mod config;
mod hub;
mod server;
mod tls;
mod web;
pub mod wire;

#[cfg(feature = "cli")]
pub use args::ServerArgs;
pub use client::{ClientConfig, ClientError, Contact, Incoming, SignalingClient, SignalingSender};
pub use config::ServerConfig;
pub use server::{ServerError, ServerStats, SignalingServer};
pub use tls::{ServerTls, TlsError};
pub use web::{ObserveError, ObserveRooms, ViewReporter, WebConfig};
pub use wire::ErrorCode;
