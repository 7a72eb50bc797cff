//! Signals one end produces together leave as one bundle under one
//! signature (`docs/WIRE.md`, "Bundles"): the simulated transport gives an
//! offer and a candidate at once, as str0m gives an offer and its end of
//! candidates, so a handshake costs each end one signal signature instead
//! of one per signal. A bundle is checked as a whole: a relay can neither
//! cut nor extend it.

mod common;

use common::*;
use overlay_core::sim::{NodeId, Sim};
use overlay_core::{ConnState, HandshakeId, Keypair, Output, Signal, SignalEnvelope, SignedSignal};

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
fn the_signals_an_end_produces_together_leave_as_one_signed_bundle() -> TestResult {
    let p = proto("b");
    let mut sim = sim(501);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    assert_eq!(
        sim.engine(a).connection_state(&sim.peer(b)),
        Some(ConnState::Living)
    );
    let from_a = envelopes(&sim, a);
    let from_b = envelopes(&sim, b);
    // The initiator's offer and candidate: one envelope, one signature.
    assert_eq!(from_a.len(), 1, "{from_a:?}");
    assert!(matches!(from_a[0].signal, Signal::Offer { .. }));
    assert_eq!(from_a[0].more.len(), 1);
    assert!(matches!(from_a[0].more[0], Signal::Candidate { .. }));
    assert_eq!(from_a[0].seq, 0);
    assert!(from_a[0].verify());
    // The acceptor's answer and candidate, likewise.
    assert_eq!(from_b.len(), 1, "{from_b:?}");
    assert!(matches!(from_b[0].signal, Signal::Answer { .. }));
    assert_eq!(from_b[0].more.len(), 1);
    assert!(from_b[0].verify());
    // The JSON names the signals after the first in `more`.
    let json = serde_json::to_string(&from_a[0])?;
    assert!(json.contains(r#""more":[{"type":"candidate""#), "{json}");
    sim.check_invariants()?;
    Ok(())
}

#[test]
fn a_bridged_handshake_opens_with_bundles_too() -> TestResult {
    let p = proto("b");
    let mut sim = sim(502);
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    join_ok(&mut sim, c, b, p)?;
    settle(&mut sim)?;
    let relayed = sim.engine(b).stats().relayed;
    let op = sim.connect(b, p, &[a], &[c])?;
    complete_ok(&mut sim, op)?;
    settle(&mut sim)?;
    // One FORWARD each way (offer + candidate, answer + candidate).
    assert_eq!(sim.engine(b).stats().relayed - relayed, 2);
    assert_eq!(out_count(&sim, a, c, p), 1);
    assert_eq!(in_count(&sim, c, a, p), 1);
    sim.check_invariants()?;
    Ok(())
}

fn key(n: u8) -> Keypair {
    Keypair::from_secret_bytes([n; 32])
}

#[test]
fn a_bundle_cut_or_extended_by_a_relay_is_refused() -> TestResult {
    let p = proto("b");
    let mut sim = sim(503);
    let b = sim.add_node();
    let x = key(7);
    let offer = Signal::Offer { sdp: "v=0".into() };
    let cand = Signal::candidate("candidate:1 1 udp 1 127.0.0.1 9 typ host");
    let signed = SignedSignal::sign_bundle(
        &x,
        Some(&sim.peer(b)),
        HandshakeId(5),
        0,
        offer.clone(),
        vec![cand.clone(), Signal::EndOfCandidates],
    );
    let env =
        SignalEnvelope::from_signed(x.peer_id(), Some(sim.peer(b)), HandshakeId(5), p, signed);
    assert!(env.verify());
    let mut cut = env.clone();
    cut.more.pop();
    let mut longer = env.clone();
    longer.more.push(Signal::EndOfCandidates);
    let mut swapped = env.clone();
    swapped.more.swap(0, 1);
    let mut alone = env.clone();
    alone.more.clear();
    for bad in [cut, longer, swapped, alone] {
        assert!(!bad.verify());
        let r = sim.act(b, |e, now| e.handle_signal(now, bad));
        assert!(r.is_err(), "an altered bundle was taken");
    }
    assert_eq!(sim.engine(b).stats().forged_signals, 4);
    assert_eq!(sim.engine(b).stats().handshakes_accepted, 0);
    // The bundle as signed is taken: the offer starts a handshake.
    sim.act(b, |e, now| e.handle_signal(now, env.clone()))?;
    assert_eq!(sim.engine(b).stats().handshakes_accepted, 1);
    // Taken once: the same bundle again is a replay.
    let r = sim.act(b, |e, now| e.handle_signal(now, env));
    assert!(r.is_err());
    assert!(sim.engine(b).stats().replayed_signals >= 1);
    // A bundle overlapping the sequence numbers taken is a replay as well.
    let again = SignedSignal::sign_bundle(
        &x,
        Some(&sim.peer(b)),
        HandshakeId(5),
        2,
        Signal::EndOfCandidates,
        vec![cand],
    );
    let again =
        SignalEnvelope::from_signed(x.peer_id(), Some(sim.peer(b)), HandshakeId(5), p, again);
    let replayed = sim.engine(b).stats().replayed_signals;
    let r = sim.act(b, |e, now| e.handle_signal(now, again));
    assert!(r.is_err());
    assert_eq!(sim.engine(b).stats().replayed_signals, replayed + 1);
    Ok(())
}

#[test]
fn a_bundle_past_the_last_sequence_number_or_too_long_is_refused() -> TestResult {
    let p = proto("b");
    let mut sim = sim(504);
    let b = sim.add_node();
    let x = key(8);
    let to = sim.peer(b);
    let long = SignedSignal::sign_bundle(
        &x,
        Some(&to),
        HandshakeId(6),
        0,
        Signal::Offer { sdp: "v=0".into() },
        vec![Signal::EndOfCandidates; overlay_core::signal::MAX_BUNDLE],
    );
    let late = SignedSignal::sign_bundle(
        &x,
        Some(&to),
        HandshakeId(6),
        255,
        Signal::Offer { sdp: "v=0".into() },
        vec![Signal::EndOfCandidates],
    );
    for s in [long, late] {
        let env = SignalEnvelope::from_signed(x.peer_id(), Some(to), HandshakeId(6), p, s);
        assert!(env.verify());
        let r = sim.act(b, |e, now| e.handle_signal(now, env));
        assert!(r.is_err());
    }
    assert_eq!(sim.engine(b).stats().forged_signals, 2);
    assert_eq!(sim.engine(b).stats().handshakes_accepted, 0);
    Ok(())
}
