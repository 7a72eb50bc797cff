//! The engine says why it wants to wake up (`Engine::poll_timeout_reason`,
//! `Engine::last_timeout_reason`): a pending handshake's timeout, then,
//! once the connection has no arc left, its dying timeout.

mod common;

use std::time::Duration;

use common::*;
use overlay_core::{ConnState, TimeoutReason};

#[test]
fn the_next_deadline_comes_with_its_reason() -> TestResult {
    let p = proto("t");
    let mut sim = sim(701);
    let (a, b) = (sim.add_node(), sim.add_node());
    assert_eq!(sim.engine(a).poll_timeout_reason(), None);
    let op = sim.join(a, b, p)?;
    // The handshake is pending: its timeout is the next deadline.
    let (_, why) = sim
        .engine(a)
        .poll_timeout_reason()
        .ok_or("no deadline while a handshake is pending")?;
    assert!(
        matches!(
            why,
            TimeoutReason::PendingTimeout | TimeoutReason::SignalBundle
        ),
        "{why:?}"
    );
    complete_ok(&mut sim, op)?;
    settle(&mut sim)?;
    assert_eq!(
        sim.engine(a).connection_state(&sim.peer(b)),
        Some(ConnState::Living)
    );
    // Living with arcs: nothing to wake up for.
    assert_eq!(sim.engine(a).poll_timeout_reason(), None);
    let peer_b = sim.peer(b);
    sim.act(a, |e, now| e.disconnect(now, p, peer_b))?;
    settle(&mut sim)?;
    let (at, why) = sim
        .engine(a)
        .poll_timeout_reason()
        .ok_or("no deadline for a dying connection")?;
    assert_eq!(why, TimeoutReason::DyingTimeout);
    assert_eq!(sim.engine(a).poll_timeout(), Some(at));
    sim.run_for(Duration::from_secs(61));
    assert_eq!(sim.engine(a).connection_state(&sim.peer(b)), None);
    assert_eq!(
        sim.engine(a).last_timeout_reason(),
        Some(TimeoutReason::DyingTimeout)
    );
    assert_eq!(sim.engine(a).poll_timeout_reason(), None);
    Ok(())
}
