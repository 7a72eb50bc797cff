//! Two protocols share one connection; each gets its own arcs and messages.

mod common;

use bytes::Bytes;
use common::*;
use overlay_core::ConnState;

#[test]
fn two_protocols_share_one_connection() -> TestResult {
    let (spray, gossip) = (proto("spray"), proto("gossip"));
    let mut sim = sim(70);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, spray)?;
    let started = sim.engine(a).stats().handshakes_started;
    // gossip's arcs ride the same connection, both directions.
    let op = sim.connect(a, gossip, &[a], &[b])?;
    complete_ok(&mut sim, op)?;
    let op = sim.connect(b, gossip, &[b], &[a, a])?;
    complete_ok(&mut sim, op)?;
    settle_and_check(&mut sim)?;
    assert_eq!(
        sim.engine(a).stats().handshakes_started,
        started,
        "no new handshake"
    );
    assert_eq!(sim.engine(a).connections().len(), 1);
    assert_eq!(sim.transport_connections(a), 1);
    assert_eq!(
        (out_count(&sim, a, b, spray), out_count(&sim, a, b, gossip)),
        (1, 1)
    );
    assert_eq!(
        (in_count(&sim, a, b, spray), in_count(&sim, a, b, gossip)),
        (0, 2)
    );
    assert_eq!(in_count(&sim, b, a, gossip), 1);

    // Messages reach their protocol only.
    sim.send(a, spray, b, Bytes::from_static(b"to spray"))?;
    sim.send(a, gossip, b, Bytes::from_static(b"to gossip"))?;
    settle(&mut sim)?;
    let pa = sim.peer(a);
    assert_eq!(messages(&sim, b, spray), vec![(pa, b"to spray".to_vec())]);
    assert_eq!(messages(&sim, b, gossip), vec![(pa, b"to gossip".to_vec())]);

    // Dropping spray's arc leaves the connection living for gossip.
    sim.disconnect(a, spray, b)?;
    settle_and_check(&mut sim)?;
    assert_eq!(
        sim.engine(a).connection_state(&sim.peer(b)),
        Some(ConnState::Living)
    );
    assert_eq!(in_count(&sim, b, a, spray), 0);
    assert_eq!(in_count(&sim, b, a, gossip), 1);
    // A protocol with no arc to b cannot send to b.
    assert!(sim
        .send(a, proto("other"), b, Bytes::from_static(b"x"))
        .is_err());
    // When gossip's arcs go too, the connection is dying.
    sim.disconnect(a, gossip, b)?;
    sim.disconnect(b, gossip, a)?;
    sim.disconnect(b, gossip, a)?;
    settle_and_check(&mut sim)?;
    assert_eq!(
        sim.engine(a).connection_state(&sim.peer(b)),
        Some(ConnState::Dying)
    );
    Ok(())
}
