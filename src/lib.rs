//! n2n-overlay: peer-to-peer overlay networks over WebRTC, in one crate.
//!
//! This facade re-exports the engine ([`overlay_core`], at the top level:
//! [`Node`], [`ProtocolHandle`], [`PeerId`]...) and, by cargo feature, the
//! rest of the workspace, in the manner of the rust-libp2p meta crate:
//!
//! | feature | brings | module |
//! |---|---|---|
//! | `str0m` (default) | the str0m WebRTC backend | [`str0m`] |
//! | `webrtc-rs` | the webrtc-rs WebRTC backend | [`webrtc_rs`] |
//! | `signaling` | the signaling server and client, and joining a room | [`signaling`], [`join`] |
//! | `cli` (default) | the `n2n` command (implies `signaling`) | — |
//! | `testkit` | the transport conformance suite, for transport authors | `testkit` |
//! | `full` | all of the above | |
//!
//! A library user who does not want the command's dependencies (clap,
//! indicatif) writes
//! `n2n-overlay = { version = "0.1", default-features = false, features = ["str0m", "signaling"] }`.
//! [`RtcConfig`] (socket, STUN and timeouts, shared by both WebRTC backends)
//! is at the top level whenever one of them is enabled.
//!
//! # Example
//! Three nodes on the in-memory transport (swap `MemoryNetwork` for
//! `str0m::Str0mTransport::bind(&RtcConfig::loopback())?` to run WebRTC):
//! A and C join B out of band, then B bridges A to C.
//! ```
//! use n2n_overlay::{link_out_of_band, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = MemoryNetwork::new();
//! let spawn = || Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
//! let (a, b, c) = (spawn(), spawn(), spawn());
//! let p = ProtocolId::new("gossip")?;
//! let (ha, _) = a.protocol(p).await?;
//! let (hb, _) = b.protocol(p).await?;
//! let (hc, _) = c.protocol(p).await?;
//! link_out_of_band(&ha, &b).await?;
//! link_out_of_band(&hc, &b).await?;
//! hb.connect(a.id(), c.id()).await?; // bridged: A -> C
//! assert_eq!(hc.inview().await?.get(&a.id()), Some(&1));
//! # Ok(()) }
//! ```
//!
//! With the `signaling` feature, [`join::join_room`] joins a network through
//! a signaling server and serves the newcomers that get this node as
//! contact.
//!
//! # The `n2n` command
//! `cargo run --release` runs `n2n demo`: an embedded signaling server and
//! a few dozen peers in one process, joined through the server and grown
//! by bridges, with a summary and a picture of the topology. `n2n signal`,
//! `n2n peer` and `n2n sim` run a server, one peer, and the simulator
//! (`n2n help` lists the options).
//!
//! # Layout
//! - `src/lib.rs`: the re-exports; `src/join.rs`: joining through a
//!   signaling server.
//! - `src/bin/n2n/`: the command, one file per subcommand (`demo.rs`,
//!   `sim.rs`, `peer.rs`, `signal.rs`, `spray.rs`); `scenario.rs`: what the
//!   demo and the simulation share (their four phases, the verdict);
//!   `report.rs`: the summary, DOT and SVG; `error.rs`: the command's one
//!   error type.
//! - `examples/`: a terminal chat over the signaling server (`chat`), a
//!   transport over TCP that passes the conformance suite
//!   (`tcp_transport`), a Spray-style shuffle protocol (`spray`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use overlay_core::*;

/// The str0m backend (`transport-str0m`): one UDP socket and one task per node.
#[cfg(feature = "str0m")]
pub mod str0m {
    pub use transport_str0m::*;
}

/// The webrtc-rs backend (`transport-webrtcrs`).
#[cfg(feature = "webrtc-rs")]
pub mod webrtc_rs {
    pub use transport_webrtcrs::*;
}

/// The signaling server and client (`overlay-signaling`).
#[cfg(feature = "signaling")]
pub mod signaling {
    pub use overlay_signaling::*;
}

#[cfg(feature = "signaling")]
pub mod join;

#[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
pub use rtc_common::{paths, RtcConfig, TurnServer};

/// The README's Rust blocks, compiled and run as doc tests (`cargo test
/// --doc`), so that what a user copies from it works. Its other blocks
/// are marked `sh` or `text`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
