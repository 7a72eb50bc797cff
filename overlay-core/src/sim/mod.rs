//! Simulator: many engines over a simulated network, one thread, virtual clock.
//!
//! [`Sim`] drives N [`crate::Engine`]s over a simulated transport and a
//! simulated signaling server. Time is virtual (a base `Instant` plus an
//! offset): timeouts of seconds cost nothing, and a run of thousands of
//! peers takes as long as its events do. Every random draw (keys,
//! handshake ids, latencies, losses) comes from one seeded RNG, and every
//! collection is ordered: the same seed and the same calls replay the same
//! run, which [`Sim::trace_hash`] fingerprints.
//!
//! # Run loop
//! Commands ([`Sim::join`], [`Sim::connect`], [`Sim::send`], or any engine
//! call through [`Sim::act`]) run at the current virtual time; then
//! [`Sim::step`] pops the next event (a transport event, a signal, an engine
//! deadline), feeds it to its engine, and routes what the engine answered:
//! transport commands to the simulated transport, out-of-band signals to
//! the signaling server, the next deadline to the queue. [`Sim::run_for`],
//! [`Sim::run_until_quiet`] and [`Sim::run_until_idle`] loop over `step`.
//!
//! # Network model
//! [`NetConfig`]: latency per frame, loss (as retransmission delay on the
//! reliable channel, and as handshakes that never connect), bandwidth and
//! the send window, crashes ([`Sim::crash`]) and partitions
//! ([`Sim::partition`] / [`Sim::heal`]). Faults: [`Sim::set_fault_hook`]
//! sees every frame on the wire; [`Sim::inject`] hands an engine any
//! transport event.
//!
//! # Invariants
//! [`Sim::check_invariants`] checks, once the network is quiet, that both
//! ends of every arc agree, that arcs ride living connections only, and
//! that no pending entry outlives its timeout ([`invariant`]).
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use overlay_core::sim::{Sim, SimConfig};
//! use overlay_core::ProtocolId;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let p = ProtocolId::new("demo")?;
//! let mut sim = Sim::new(SimConfig::new(7));
//! let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
//! let ab = sim.join(a, b, p)?;
//! let cb = sim.join(c, b, p)?;
//! assert!(sim.run_until_quiet(Duration::from_secs(30)));
//! assert!(sim.completion(ab).is_some_and(|c| c.result.is_ok()));
//! assert!(sim.completion(cb).is_some_and(|c| c.result.is_ok()));
//! // b bridges a to c.
//! let bridge = sim.connect(b, p, &[a], &[c])?;
//! assert!(sim.run_until_quiet(Duration::from_secs(30)));
//! assert!(sim.completion(bridge).is_some_and(|c| c.result.is_ok()));
//! assert_eq!(sim.engine(a).outview(&p).get(&sim.peer(c)), Some(&1));
//! sim.check_invariants()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `network.rs`: [`NetConfig`], [`NodeId`], the seeded draws and partitions;
//! - `transport.rs`: the simulated transport (commands in, events out);
//! - `queue.rs`: the event queue on the virtual clock;
//! - `invariant.rs`: the global invariant checker;
//! - `driver.rs`: [`Sim`], the harness tests and benchmarks drive.

mod driver;
pub mod invariant;
mod network;
mod queue;
mod transport;

pub use driver::{NoConnection, OpRef, OutputHook, Signatures, Sim, SimConfig, SimStats};
pub use invariant::{InvariantError, Report, Violation};
pub use network::{NetConfig, NodeId};
pub use transport::{Fault, FaultHook, TransportStats};
