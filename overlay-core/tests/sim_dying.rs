//! A connection left with no arc is dying: a new arc revives it without a
//! handshake; otherwise it closes at the dying timeout.

mod common;

use std::time::Duration;

use common::*;
use overlay_core::sim::SimConfig;
use overlay_core::{ArcCloseReason, Config, ConnState, Direction};

fn config(seed: u64) -> SimConfig {
    SimConfig::new(seed).with_engine(Config::default().with_dying_timeout(Duration::from_secs(60)))
}

#[test]
fn a_dying_connection_is_revived_by_a_new_arc() -> TestResult {
    let p = proto("dying");
    let mut sim = sim_with(config(40));
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    sim.disconnect(a, p, b)?;
    settle_and_check(&mut sim)?;
    let pb = sim.peer(b);
    let pa = sim.peer(a);
    assert_eq!(sim.engine(a).connection_state(&pb), Some(ConnState::Dying));
    assert_eq!(sim.engine(b).connection_state(&pa), Some(ConnState::Dying));
    assert_eq!(
        closes(&sim, b, p, pa),
        vec![(Direction::In, ArcCloseReason::Removed)]
    );

    // 30 s later (half the dying timeout) b adds an arc b -> a: revived.
    sim.run_for(Duration::from_secs(30));
    let started =
        sim.engine(b).stats().handshakes_started + sim.engine(a).stats().handshakes_started;
    let op = sim.connect(b, p, &[b], &[a])?;
    complete_ok(&mut sim, op)?;
    settle_and_check(&mut sim)?;
    assert_eq!(sim.engine(a).connection_state(&pb), Some(ConnState::Living));
    assert_eq!(sim.engine(b).connection_state(&pa), Some(ConnState::Living));
    assert_eq!(sim.engine(a).stats().revived, 1);
    assert_eq!(sim.engine(b).stats().revived, 1);
    let now_started =
        sim.engine(b).stats().handshakes_started + sim.engine(a).stats().handshakes_started;
    assert_eq!(now_started, started, "no new handshake");
    assert_eq!(out_count(&sim, b, a, p), 1);
    assert_eq!(in_count(&sim, a, b, p), 1);

    // Long after the first dying deadline the revived connection still lives.
    sim.run_for(Duration::from_secs(120));
    assert_eq!(sim.engine(a).connection_state(&pb), Some(ConnState::Living));
    settle_and_check(&mut sim)?;
    Ok(())
}

#[test]
fn a_dying_connection_closes_at_its_timeout() -> TestResult {
    let p = proto("dying");
    let mut sim = sim_with(config(41));
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    sim.disconnect(a, p, b)?;
    settle(&mut sim)?;
    let dying_since = sim.elapsed();
    let pb = sim.peer(b);
    // Just before the timeout it is still there.
    sim.run_for(Duration::from_secs(59));
    assert_eq!(sim.engine(a).connection_state(&pb), Some(ConnState::Dying));
    assert!(sim.run_until_idle(Duration::from_secs(120)));
    assert!(sim.elapsed() - dying_since >= Duration::from_secs(60));
    sim.check_invariants()?;
    for n in [a, b] {
        assert!(sim.engine(n).connections().is_empty());
        assert!(sim.engine(n).neighbours().is_empty());
        assert_eq!(sim.transport_connections(n), 0);
    }
    // Whichever side's timer fired first closed it; the other saw the close.
    let closed = sim.engine(a).stats().dying_closed + sim.engine(b).stats().dying_closed;
    assert!((1..=2).contains(&closed));
    Ok(())
}
