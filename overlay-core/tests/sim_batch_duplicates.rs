//! A batch naming the same pair several times opens one connection and k arcs.

mod common;

use common::*;
use overlay_core::{ConnState, Via};

/// a and c both joined b.
#[test]
fn bridged_batch_with_duplicates_gives_one_connection_and_k_arcs() -> TestResult {
    let p = proto("batch");
    let (mut sim, [a, b, c]) = triangle(sim(3), proto("batch"))?;
    let started = sim.engine(a).stats().handshakes_started;
    // b asks a for three arcs to c, in one batch: [a] x [c, c, c].
    let op = sim.connect(b, p, &[a], &[c, c, c])?;
    complete_ok(&mut sim, op)?;
    settle_and_check(&mut sim)?;
    assert_eq!(out_count(&sim, a, c, p), 3);
    assert_eq!(in_count(&sim, c, a, p), 3);
    assert_eq!(
        sim.engine(a).stats().handshakes_started,
        started + 1,
        "one handshake for the pair"
    );
    let to_c: Vec<_> = sim
        .engine(a)
        .connections()
        .into_iter()
        .filter(|i| i.peer == Some(sim.peer(c)))
        .collect();
    assert_eq!(to_c.len(), 1, "one connection");
    assert_eq!(
        sim.transport_connections(c),
        2,
        "c holds b and a, nothing more"
    );

    // The same pair asked from both sides of a batch: [a, a] x [c] adds two more, no handshake.
    let op = sim.connect(b, p, &[a, a], &[c])?;
    complete_ok(&mut sim, op)?;
    settle_and_check(&mut sim)?;
    assert_eq!(out_count(&sim, a, c, p), 5);
    assert_eq!(in_count(&sim, c, a, p), 5);
    assert_eq!(sim.engine(a).stats().handshakes_started, started + 1);
    Ok(())
}

#[test]
fn direct_batch_adds_arcs_on_the_existing_connection() -> TestResult {
    let p = proto("batch");
    let (mut sim, [a, b, _c]) = triangle(sim(4), proto("batch"))?;
    let started = sim.engine(a).stats().handshakes_started;
    // a adds two more arcs a -> b itself; b asks a for one more a -> b.
    let op = sim.connect(a, p, &[a], &[b, b])?;
    complete_ok(&mut sim, op)?;
    let op = sim.connect(b, p, &[a], &[b])?;
    complete_ok(&mut sim, op)?;
    settle_and_check(&mut sim)?;
    assert_eq!(out_count(&sim, a, b, p), 4);
    assert_eq!(in_count(&sim, b, a, p), 4);
    assert_eq!(sim.engine(a).stats().handshakes_started, started);
    Ok(())
}

#[test]
fn arcs_asked_while_identities_are_exchanged_are_announced() -> TestResult {
    // b bridges a to c; while c's side of the new connection is open but
    // before a's hello arrived, c's application asks for arcs c -> a. They
    // join the handshake and must reach a's inview too.
    let p = proto("batch");
    let (mut sim, [a, b, c]) = triangle(sim(5), proto("batch"))?;
    let op = sim.connect(b, p, &[a], &[c])?;
    let pa = sim.peer(a);
    while sim.engine(c).connection_state(&pa) != Some(ConnState::Opened) {
        if !sim.step() {
            return Err("the handshake never reached the identity exchange".into());
        }
    }
    let late = sim.connect(c, p, &[c], &[a, a])?;
    complete_ok(&mut sim, op)?;
    complete_ok(&mut sim, late)?;
    settle_and_check(&mut sim)?;
    assert_eq!(out_count(&sim, c, a, p), 2);
    assert_eq!(in_count(&sim, a, c, p), 2);
    assert_eq!(out_count(&sim, a, c, p), 1);
    assert_eq!(in_count(&sim, c, a, p), 1);
    let info = sim
        .engine(c)
        .connections()
        .into_iter()
        .find(|i| i.peer == Some(pa))
        .ok_or("no connection c-a")?;
    assert_eq!(info.via, Via::Bridge(sim.peer(b)));
    assert!(sim.engine(c).stats().coalesced >= 1);
    Ok(())
}
