//! Shared harness of the simulator scenarios (`tests/sim_*.rs`).
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use overlay_core::sim::{NodeId, OpRef, Sim, SimConfig};
use overlay_core::{ArcCloseReason, Completion, Direction, Event, PeerId, ProtocolId};

/// What every scenario returns.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Virtual time a scenario may take to settle.
pub const SETTLE: Duration = Duration::from_secs(120);

/// Logs for `RUST_LOG=overlay_core=debug cargo test ...`; every peer's
/// lines sit in its own `peer{n=..}` span.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn proto(name: &str) -> ProtocolId {
    ProtocolId::new(name).unwrap_or_else(|e| panic!("bad protocol name in a test: {e}"))
}

/// A simulation with the default network and engine.
pub fn sim(seed: u64) -> Sim {
    init_tracing();
    Sim::new(SimConfig::new(seed))
}

/// A simulation from a config.
pub fn sim_with(config: SimConfig) -> Sim {
    init_tracing();
    Sim::new(config)
}

/// Run until the network is quiet; fail if it never gets quiet.
pub fn settle(sim: &mut Sim) -> Result<(), String> {
    if sim.run_until_quiet(SETTLE) {
        Ok(())
    } else {
        Err(format!(
            "the network did not get quiet within {SETTLE:?} ({} entries queued)",
            sim.queued()
        ))
    }
}

/// Settle, then check the global invariants.
pub fn settle_and_check(sim: &mut Sim) -> TestResult {
    settle(sim)?;
    sim.check_invariants()?;
    Ok(())
}

/// Run until `op` completes; its completion, or an error if it never does.
pub fn complete(sim: &mut Sim, op: OpRef) -> Result<Completion, String> {
    sim.run_until_complete(op, SETTLE)
        .ok_or_else(|| format!("{op:?} did not complete within {SETTLE:?}"))
}

/// Run until `op` completes and require success.
pub fn complete_ok(sim: &mut Sim, op: OpRef) -> TestResult {
    let c = complete(sim, op)?;
    c.result.map_err(|e| format!("{op:?} failed: {e}"))?;
    Ok(())
}

/// `a` joins `b` out of band and the arc opens.
pub fn join_ok(sim: &mut Sim, a: NodeId, b: NodeId, p: ProtocolId) -> TestResult {
    let op = sim.join(a, b, p)?;
    complete_ok(sim, op)
}

/// `node`'s outview count of `to` for `p` (0 if none).
pub fn out_count(sim: &Sim, node: NodeId, to: NodeId, p: ProtocolId) -> u32 {
    sim.engine(node)
        .outview(&p)
        .get(&sim.peer(to))
        .copied()
        .unwrap_or(0)
}

/// `node`'s inview count of `from` for `p` (0 if none).
pub fn in_count(sim: &Sim, node: NodeId, from: NodeId, p: ProtocolId) -> u32 {
    sim.engine(node)
        .inview(&p)
        .get(&sim.peer(from))
        .copied()
        .unwrap_or(0)
}

/// Arc-closed events of `node` for `p` about `peer`, with their reasons.
pub fn closes(
    sim: &Sim,
    node: NodeId,
    p: ProtocolId,
    peer: PeerId,
) -> Vec<(Direction, ArcCloseReason)> {
    sim.events(node, p)
        .into_iter()
        .filter_map(|e| match e {
            Event::ArcClosed {
                peer: q,
                direction,
                reason,
                ..
            } if q == peer => Some((direction, reason)),
            _ => None,
        })
        .collect()
}

/// Messages `node` received for `p`: (sender, payload).
pub fn messages(sim: &Sim, node: NodeId, p: ProtocolId) -> Vec<(PeerId, Vec<u8>)> {
    sim.events(node, p)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { peer, payload } => Some((peer, payload.to_vec())),
            _ => None,
        })
        .collect()
}

/// A star: every other node joins `hub` out of band, one arc each.
pub fn star(sim: &mut Sim, hub: NodeId, others: &[NodeId], p: ProtocolId) -> TestResult {
    let ops: Vec<OpRef> = others
        .iter()
        .map(|n| sim.join(*n, hub, p))
        .collect::<Result<_, _>>()?;
    for op in ops {
        complete_ok(sim, op)?;
    }
    Ok(())
}

/// Three new nodes A, B, C of `sim`, with A and C joined to B (settled):
/// the triangle a bridge B → (A, C) starts from.
pub fn triangle(mut sim: Sim, p: ProtocolId) -> Result<(Sim, [NodeId; 3]), String> {
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p).map_err(|e| e.to_string())?;
    join_ok(&mut sim, c, b, p).map_err(|e| e.to_string())?;
    settle(&mut sim)?;
    Ok((sim, [a, b, c]))
}

pub mod scenario;
