//! The simulator's stand-in for Ed25519 (`Signatures::Simulated`, for runs
//! too large to pay for the curve arithmetic) changes the cost of a run,
//! not its course nor its checks: the same seed gives the same network as
//! with Ed25519, a relay in the middle is still caught, forged signatures
//! are still refused.

mod common;

use std::time::Duration;

use common::scenario::{churn, grow};
use common::*;
use overlay_core::sim::{NetConfig, NodeId, Signatures, Sim, SimConfig};
use overlay_core::wire::Frame;
use overlay_core::{
    BridgeFailure, ConnectFailure, HandshakeId, Keypair, PeerId, Signal, SignedSignal,
};

fn config(seed: u64, signatures: Signatures) -> SimConfig {
    SimConfig::new(seed)
        .with_net(NetConfig::default().with_loss(0.05))
        .with_record_outputs(false)
        .with_signatures(signatures)
}

/// Every node's outview and the engines' input count after a grown and
/// churned network settled.
type Outcome = (Vec<Vec<(PeerId, u32)>>, u64);

fn run(seed: u64, signatures: Signatures) -> Result<Outcome, Box<dyn std::error::Error>> {
    let p = proto("sig");
    let mut sim = sim_with(config(seed, signatures));
    grow(&mut sim, p, 50, 3, Duration::from_millis(15), seed);
    churn(&mut sim, p, 20, 10, Duration::from_millis(30), seed);
    settle(&mut sim)?;
    sim.check_invariants()?;
    let views = (0..sim.len())
        .map(|i| {
            sim.engine(NodeId(i as u32))
                .outview(&p)
                .into_iter()
                .collect::<Vec<_>>()
        })
        .collect();
    Ok((views, sim.stats().engine_inputs))
}

#[test]
fn the_same_seed_gives_the_same_network_with_either_scheme() -> TestResult {
    let ed = run(11, Signatures::Ed25519)?;
    let simulated = run(11, Signatures::Simulated)?;
    assert!(
        ed.0.iter().map(Vec::len).sum::<usize>() > 50,
        "a network grew"
    );
    assert_eq!(ed, simulated, "the scheme changed the course of the run");
    Ok(())
}

fn simulated(seed: u64) -> Sim {
    sim_with(SimConfig::new(seed).with_signatures(Signatures::Simulated))
}

#[test]
fn a_relay_in_the_middle_is_still_caught() -> TestResult {
    let p = proto("sig");
    let (mut sim, [a, b, c]) = triangle(simulated(301), p)?;
    sim.intercept(a, c);
    let op = sim.connect(b, p, &[a], &[c])?;
    let done = complete(&mut sim, op)?;
    assert_eq!(
        done.result,
        Err(ConnectFailure::Remote(BridgeFailure::Tampered))
    );
    assert_eq!(sim.engine(a).stats().tampered, 1);
    assert_eq!(sim.engine(c).stats().tampered, 1);
    assert_eq!(out_count(&sim, a, c, p), 0);
    settle_and_check(&mut sim)
}

#[test]
fn forged_and_real_ed25519_signatures_are_refused() -> TestResult {
    let p = proto("sig");
    let (mut sim, [a, b, c]) = triangle(simulated(302), p)?;
    // C, B's neighbour, relays offers claiming to come from A: one signed
    // with C's own Ed25519 key, one with a stranger's. Neither is a
    // simulated signature by A.
    let keys = [
        Keypair::from_secret_bytes([9; 32]),
        Keypair::from_secret_bytes([10; 32]),
    ];
    for (i, key) in keys.iter().enumerate() {
        let signal = SignedSignal::sign(
            key,
            Some(&sim.peer(b)),
            HandshakeId(77 + i as u64),
            0,
            Signal::Offer { sdp: "v=0".into() },
        );
        let frame = Frame::Forwarded {
            handshake: HandshakeId(77 + i as u64),
            origin: sim.peer(a),
            signal,
        };
        sim.inject_frame(b, c, frame.encode())?;
    }
    assert_eq!(sim.engine(b).stats().forged_signals, 2);
    settle_and_check(&mut sim)
}
