//! Spray, the adaptive random peer-sampling protocol of Nédelec, Tanke,
//! Frey, Molli and Mostéfaoui ("An adaptive peer-sampling protocol for
//! building networks of browsers", World Wide Web journal, 2018; the
//! JavaScript original is spray-wrtc), built on the public API of
//! `overlay-core` alone.
//!
//! Each peer keeps a partial view P (its outview, with multiplicity) whose
//! size is not fixed: it converges to about ln N.
//! - **Join**: a newcomer o opens an arc to its contact c (out of band) and
//!   sends JOIN; c bridges o to every arc of its view (each q of P_c gets an
//!   arc q → o). If P_c is empty, c opens an arc to o.
//! - **Shuffle**, every Δt: age the entries, pick the oldest neighbour q,
//!   hand it a sample of ⌈|P|/2⌉ arcs (q itself, once, plus random others;
//!   arcs to q become q → self); q answers with a sample of half its view.
//!   Each side bridges the other to its sample, then drops its own copy;
//!   arcs being handed out are pinned so they are not handed out twice.
//! - **Crash** of a neighbour: its arcs vanish; each lost arc is replaced,
//!   with probability 1 − 1/(|P| + occ), by a copy of a random remaining arc.
//! - **Leave**: the leaver bridges each inview arc to its outview, then
//!   shuts down; a graceful close is not replaced by the peers it leaves.
//!
//! [`Spray`] is the sans-IO state machine (events, connect outcomes and
//! timer ticks in; [`Action`]s out). Two thin drivers run it unchanged:
//! [`sim::SpraySim`] on the core's simulator, [`node::SprayHandle`] on a
//! [`overlay_core::ProtocolHandle`] (memory, str0m, webrtc-rs).
//! [`graph::Graph`] computes the paper's measures; [`plot`] draws SVG.
//!
//! # Example
//! 200 peers in the simulator, 10 shuffle periods:
//! ```
//! use std::time::Duration;
//! use overlay_core::{sim::SimConfig, ProtocolId};
//! use overlay_spray::{sim::SpraySim, SprayConfig};
//!
//! let period = Duration::from_secs(10);
//! let mut net = SpraySim::new(SimConfig::new(7), SprayConfig::default().with_period(period),
//!     ProtocolId::new("spray").unwrap());
//! net.grow(200, 20.0); // 200 peers, about 20 newcomers per second
//! net.run_for(period * 10);
//! let g = net.graph();
//! let mean = g.arcs() as f64 / g.len() as f64;
//! assert!((mean - (200f64).ln()).abs() < 1.5, "mean view {mean}");
//! assert_eq!(g.components(), 1);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod graph;
pub mod message;
pub mod node;
pub mod plot;
mod protocol;
pub mod sim;

pub use protocol::{
    Action, Ages, Duplicates, Spray, SprayConfig, SprayStats, Token, AGE_HOLD, MAX_CARRIED_AGE,
};
