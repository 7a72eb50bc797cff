//! A bridge to a non-neighbour fails at once, locally or from afar.

mod common;

use std::time::Duration;

use common::*;
use overlay_core::sim::{NetConfig, SimConfig};
use overlay_core::{BridgeFailure, ConnectError, ConnectFailure, Event};

#[test]
fn bridging_a_peer_that_is_not_a_neighbour_is_refused_at_once() -> TestResult {
    let p = proto("bridge");
    let mut sim = sim(20);
    let (a, b, d) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let before = sim.stats().commands;
    // d is no neighbour of b: refused before anything is sent.
    assert_eq!(
        sim.connect(b, p, &[a], &[d]).err(),
        Some(ConnectError::NotNeighbour(sim.peer(d)))
    );
    assert_eq!(
        sim.connect(b, p, &[d], &[a]).err(),
        Some(ConnectError::NotNeighbour(sim.peer(d)))
    );
    assert_eq!(
        sim.connect(b, p, &[b], &[d]).err(),
        Some(ConnectError::NotNeighbour(sim.peer(d)))
    );
    assert_eq!(sim.stats().commands, before);
    assert_eq!(sim.engine(b).operations_in_flight(), 0);
    settle_and_check(&mut sim)?;
    Ok(())
}

#[test]
fn a_bridge_that_lost_its_target_reports_at_once_not_at_the_timeout() -> TestResult {
    // b bridges a to c, but c crashes (and b notices at once) just after
    // b's request leaves: when a's offer reaches b, b cannot forward it and
    // says so. a's handshake fails well before its pending timeout, and b's
    // operation learns why.
    let p = proto("bridge");
    let mut net = NetConfig::default();
    net.crash_detect = Duration::ZERO;
    let mut sim = sim_with(SimConfig::new(21).with_net(net));
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    join_ok(&mut sim, c, b, p)?;
    settle(&mut sim)?;
    let start = sim.elapsed();
    let op = sim.connect(b, p, &[a], &[c])?;
    sim.crash(c);
    let done = complete(&mut sim, op)?;
    let took = sim.elapsed() - start;
    assert_eq!(
        done.result,
        Err(ConnectFailure::Remote(BridgeFailure::NotNeighbour))
    );
    assert!(
        took < sim.config().engine.pending_timeout() / 2,
        "failed after {took:?}, not at the timeout"
    );
    let failed = sim.events(a, p).into_iter().any(|e| {
        matches!(
            e,
            Event::ConnectFailed {
                reason: ConnectFailure::BridgeFailed {
                    why: BridgeFailure::NotNeighbour,
                    ..
                },
                ..
            }
        )
    });
    assert!(failed, "a saw its connect fail with the bridge's reason");
    assert_eq!(sim.engine(a).stats().pending_timeouts, 0);
    settle_and_check(&mut sim)?;
    assert_eq!(out_count(&sim, a, b, p), 1, "a's other arc is untouched");
    Ok(())
}
