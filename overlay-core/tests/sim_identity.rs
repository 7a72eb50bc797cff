//! Peers are who they claim (issue 9): attacks on the handshake, in the
//! simulator. Each test fails on an engine without channel-bound `HELLO`s
//! or without signed signals.
//!
//! - a relay in the middle of a bridged connection (two DTLS sessions,
//!   `HELLO`s copied across) is caught at both ends (`Tampered`);
//! - an offer claiming to come from X, relayed by a neighbour or handed in
//!   out of band, never touches the living connection with X;
//! - signals replayed from an earlier handshake, redirected to another
//!   peer or altered are dropped and counted;
//! - an authenticated new offer from X (X lost its side of the connection)
//!   still replaces the old connection, once its `HELLO` checks out.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use overlay_core::sim::{Fault, NodeId, Sim};
use overlay_core::wire::Frame;
use overlay_core::{
    BridgeFailure, CloseReason, ConnState, ConnectFailure, Event, HandshakeId, Keypair, Output,
    Signal, SignalEnvelope, SignedSignal, TransportEvent,
};

/// A, B, C with A and C joined to B.
fn id_triangle(seed: u64) -> Result<(Sim, [NodeId; 3]), String> {
    triangle(sim(seed), proto("id"))
}

fn connect_failures(sim: &Sim, node: NodeId) -> Vec<ConnectFailure> {
    sim.events(node, proto("id"))
        .into_iter()
        .filter_map(|e| match e {
            Event::ConnectFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn a_relay_in_the_middle_of_a_bridged_connection_is_caught_at_both_ends() -> TestResult {
    let p = proto("id");
    let (mut sim, [a, b, c]) = id_triangle(301)?;
    sim.intercept(a, c);
    let op = sim.connect(b, p, &[a], &[c])?;
    let done = complete(&mut sim, op)?;
    assert_eq!(
        done.result,
        Err(ConnectFailure::Remote(BridgeFailure::Tampered)),
        "the bridge's connect must fail with the reason A saw"
    );
    settle(&mut sim)?;
    for (n, name) in [(a, "A"), (c, "C")] {
        assert_eq!(
            sim.engine(n).stats().tampered,
            1,
            "{name} did not detect the relay"
        );
    }
    assert_eq!(connect_failures(&sim, a), vec![ConnectFailure::Tampered]);
    assert_eq!(out_count(&sim, a, c, p), 0);
    assert_eq!(in_count(&sim, c, a, p), 0);
    assert!(!sim.engine(a).neighbours().contains(&sim.peer(c)));
    assert!(!sim.engine(c).neighbours().contains(&sim.peer(a)));
    for n in [a, c] {
        assert_eq!(
            sim.engine(n).stats().connections_opened,
            1,
            "only the join to B"
        );
    }
    sim.check_invariants()?;
    Ok(())
}

#[test]
fn without_a_relay_the_same_bridge_connects() -> TestResult {
    let p = proto("id");
    let (mut sim, [a, b, c]) = id_triangle(301)?;
    let op = sim.connect(b, p, &[a], &[c])?;
    complete_ok(&mut sim, op)?;
    assert_eq!(out_count(&sim, a, c, p), 1);
    assert_eq!(
        sim.engine(a).stats().tampered + sim.engine(c).stats().tampered,
        0
    );
    settle_and_check(&mut sim)
}

/// B's living connection with A, and its arcs, as a snapshot.
fn link_state(sim: &Sim, b: NodeId, a: NodeId) -> (Option<ConnState>, u32, u32, usize) {
    let p = proto("id");
    let peer = sim.peer(a);
    (
        sim.engine(b).connection_state(&peer),
        in_count(sim, b, a, p),
        out_count(sim, b, a, p),
        sim.engine(b).connections().len(),
    )
}

#[test]
fn a_forged_offer_relayed_by_a_neighbour_leaves_the_connection_alone() -> TestResult {
    let p = proto("id");
    let (mut sim, [a, b, c]) = id_triangle(302)?;
    let before = link_state(&sim, b, a);
    assert_eq!(before.0, Some(ConnState::Living));
    // C, a neighbour of B, claims an offer from A: unsigned, and signed by
    // C's own key (C knows no other).
    let forger = Keypair::from_secret_bytes([9; 32]);
    let bogus = [
        SignedSignal {
            seq: 0,
            signature: overlay_core::SignatureBytes([0; 64]),
            signal: Signal::Offer { sdp: "v=0".into() },
            more: vec![],
        },
        SignedSignal::sign(
            &forger,
            Some(&sim.peer(b)),
            HandshakeId(77),
            0,
            Signal::Offer { sdp: "v=0".into() },
        ),
    ];
    for (i, signal) in bogus.into_iter().enumerate() {
        let frame = Frame::Forwarded {
            handshake: HandshakeId(77 + i as u64),
            origin: sim.peer(a),
            signal,
        };
        sim.inject_frame(b, c, frame.encode())?;
    }
    assert_eq!(sim.engine(b).stats().forged_signals, 2);
    settle(&mut sim)?;
    assert_eq!(
        link_state(&sim, b, a),
        before,
        "B's connection with A changed"
    );
    assert!(
        closes(&sim, b, p, sim.peer(a)).is_empty(),
        "an arc with A closed"
    );
    assert!(
        closes(&sim, a, p, sim.peer(b)).is_empty(),
        "an arc with B closed"
    );
    sim.check_invariants()?;
    Ok(())
}

#[test]
fn a_forged_offer_handed_in_out_of_band_leaves_the_connection_alone() -> TestResult {
    let p = proto("id");
    let (mut sim, [a, b, _c]) = id_triangle(303)?;
    let before = link_state(&sim, b, a);
    let forger = Keypair::from_secret_bytes([9; 32]);
    let mut env = SignalEnvelope::sign(
        &forger,
        Some(sim.peer(b)),
        HandshakeId(99),
        p,
        0,
        Signal::Offer { sdp: "v=0".into() },
    );
    env.from = sim.peer(a); // what a room member or the server could write
    let r = sim.act(b, |e, now| e.handle_signal(now, env));
    assert!(r.is_err(), "the forged envelope was taken: {r:?}");
    assert_eq!(sim.engine(b).stats().forged_signals, 1);
    settle(&mut sim)?;
    assert_eq!(link_state(&sim, b, a), before);
    assert!(closes(&sim, b, p, sim.peer(a)).is_empty());
    sim.check_invariants()?;
    Ok(())
}

/// Every signal envelope `node` produced so far, in order.
fn envelopes(sim: &Sim, node: NodeId) -> Vec<SignalEnvelope> {
    sim.outputs(node)
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Signal(env) => Some(env.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn signals_of_an_earlier_handshake_are_refused() -> TestResult {
    let p = proto("id");
    let mut sim = sim(304);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let first = envelopes(&sim, a);
    assert!(first
        .iter()
        .any(|e| matches!(e.signal, Signal::Offer { .. })));
    // A's side of the connection goes away; A joins B again.
    let conn = sim.conn_between(a, b).ok_or("no connection A-B")?;
    sim.inject(
        a,
        TransportEvent::Closed {
            conn,
            reason: CloseReason::Failed("test: A lost its side".into()),
        },
    );
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let before = link_state(&sim, b, a);
    assert_eq!(before.0, Some(ConnState::Living));
    let replayed_before = sim.engine(b).stats().replayed_signals;
    // Someone who kept A's first handshake replays it to B.
    for env in first {
        let r = sim.act(b, |e, now| e.handle_signal(now, env));
        assert!(r.is_err(), "a replayed signal was taken");
    }
    assert!(sim.engine(b).stats().replayed_signals > replayed_before);
    settle(&mut sim)?;
    assert_eq!(link_state(&sim, b, a), before, "the replay touched A-B");
    assert_eq!(in_count(&sim, b, a, p), 1);
    sim.check_invariants()?;
    Ok(())
}

#[test]
fn a_bridge_cannot_redirect_alter_or_replay_relayed_signals() -> TestResult {
    let p = proto("id");
    let mut sim = sim(305);
    let (a, b, c, d) = (
        sim.add_node(),
        sim.add_node(),
        sim.add_node(),
        sim.add_node(),
    );
    star(&mut sim, b, &[a, c, d], p)?;
    settle(&mut sim)?;
    // Keep a copy of what B relays to C.
    let seen: Rc<RefCell<Vec<Bytes>>> = Rc::default();
    let (tap, peer_c) = (seen.clone(), c);
    sim.set_fault_hook(Some(Box::new(move |_from, to, bytes: &Bytes| {
        if to == peer_c && bytes.get(1) == Some(&10) {
            tap.borrow_mut().push(bytes.clone());
        }
        Fault::Deliver
    })));
    let op = sim.connect(b, p, &[a], &[c])?;
    complete_ok(&mut sim, op)?;
    sim.set_fault_hook(None);
    settle(&mut sim)?;
    let relayed = seen.borrow().clone();
    let offer = relayed.first().ok_or("B relayed nothing to C")?.clone();
    let d_before = link_state(&sim, d, b);
    let c_before = (link_state(&sim, c, a), link_state(&sim, c, b));
    // Redirected: A's offer for C, handed to D.
    sim.inject_frame(d, b, offer.clone())?;
    assert_eq!(
        sim.engine(d).stats().forged_signals,
        1,
        "D took a signal for C"
    );
    // Altered: one byte of the SDP changed.
    let mut altered = offer.to_vec();
    if let Some(last) = altered.iter().rposition(|b| b.is_ascii_digit()) {
        altered[last] = if altered[last] == b'9' {
            b'8'
        } else {
            altered[last] + 1
        };
    }
    sim.inject_frame(c, b, Bytes::from(altered))?;
    assert_eq!(
        sim.engine(c).stats().forged_signals,
        1,
        "C took an altered signal"
    );
    // Replayed: every relayed signal again, to C.
    for f in relayed {
        sim.inject_frame(c, b, f)?;
    }
    settle(&mut sim)?;
    assert_eq!(link_state(&sim, d, b), d_before);
    assert_eq!((link_state(&sim, c, a), link_state(&sim, c, b)), c_before);
    assert_eq!(in_count(&sim, c, a, p), 1);
    sim.check_invariants()?;
    Ok(())
}

#[test]
fn an_authenticated_new_offer_replaces_a_connection_once_its_hello_checks_out() -> TestResult {
    let p = proto("id");
    let mut sim = sim(306);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let old = sim.conn_between(b, a).ok_or("no connection B-A")?;
    // A loses its side without B noticing (a restart, say), and dials B again.
    let conn = sim.conn_between(a, b).ok_or("no connection A-B")?;
    sim.inject(
        a,
        TransportEvent::Closed {
            conn,
            reason: CloseReason::Failed("test: A lost its side".into()),
        },
    );
    let op = sim.join(a, b, p)?;
    complete_ok(&mut sim, op)?;
    settle(&mut sim)?;
    let new = sim
        .conn_between(b, a)
        .ok_or("no connection B-A after the rejoin")?;
    assert_ne!(old, new, "B kept the old connection");
    assert_eq!(in_count(&sim, b, a, p), 1);
    assert_eq!(out_count(&sim, a, b, p), 1);
    let superseded = closes(&sim, b, p, sim.peer(a));
    assert_eq!(
        superseded.len(),
        1,
        "the old arc closes once: {superseded:?}"
    );
    sim.run_for(Duration::from_secs(1));
    settle_and_check(&mut sim)
}
