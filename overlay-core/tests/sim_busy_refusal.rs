//! Offers refused for a limit get a reply (issue 10): a destination too
//! busy to take a bridged offer (pending table full, or too many handshakes
//! relayed by that bridge) answers `REFUSE` through the bridge, so the
//! initiator's connect (and the bridge's) fails at once with a typed reason
//! instead of waiting for its handshake timeout (10 s).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use overlay_core::sim::{Fault, NodeId, Sim, SimConfig};
use overlay_core::{BridgeFailure, Config, ConnectFailure, Event};

fn connect_failures(sim: &Sim, node: NodeId) -> Vec<ConnectFailure> {
    sim.events(node, proto("r"))
        .into_iter()
        .filter_map(|e| match e {
            Event::ConnectFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

/// A and C joined to B; C holds one pending handshake of its own.
fn busy_c(config: Config, seed: u64) -> Result<(Sim, [NodeId; 3]), Box<dyn std::error::Error>> {
    Ok(triangle(
        sim_with(SimConfig::new(seed).with_engine(config)),
        proto("r"),
    )?)
}

#[test]
fn an_offer_refused_for_a_full_pending_table_fails_the_connect_at_once() -> TestResult {
    let p = proto("r");
    let (mut sim, [a, b, c]) = busy_c(Config::default().with_max_pending(1), 601)?;
    // C's one pending slot is taken (an out-of-band offer nobody answers).
    sim.act(c, |e, now| e.connect_out_of_band(now, p, 1))?;
    let started = sim.elapsed();
    let op = sim.connect(b, p, &[a], &[c])?;
    let done = complete(&mut sim, op)?;
    let took = sim.elapsed() - started;
    assert_eq!(
        done.result,
        Err(ConnectFailure::Remote(BridgeFailure::Busy)),
        "the bridge learns why"
    );
    // A few network round trips, not the 10 s handshake timeout.
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(
        connect_failures(&sim, a),
        vec![ConnectFailure::Remote(BridgeFailure::Busy)],
        "the initiator fails with a typed reason"
    );
    assert_eq!(sim.engine(a).operations_in_flight(), 0);
    assert_eq!(out_count(&sim, a, c, p), 0);
    settle(&mut sim)?;
    sim.check_invariants()?;
    Ok(())
}

#[test]
fn an_offer_refused_for_the_per_neighbour_limit_fails_the_connect_at_once() -> TestResult {
    let p = proto("r");
    let (mut sim, [a, b, c]) = busy_c(Config::default().with_max_pending_per_neighbour(1), 602)?;
    let d = sim.add_node();
    join_ok(&mut sim, d, b, p)?;
    settle(&mut sim)?;
    // B makes C dial D; D is cut off, so C's handshake (relayed by B)
    // stays pending: C holds B's one slot.
    sim.crash(d);
    let first = sim.connect(b, p, &[c], &[d])?;
    sim.run_for(Duration::from_millis(200));
    let started = sim.elapsed();
    let op = sim.connect(b, p, &[a], &[c])?;
    let done = complete(&mut sim, op)?;
    let took = sim.elapsed() - started;
    assert_eq!(
        done.result,
        Err(ConnectFailure::Remote(BridgeFailure::Busy))
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(sim.engine(c).stats().refused_requests >= 1);
    let _ = complete(&mut sim, first)?;
    settle(&mut sim)?;
    sim.check_invariants()?;
    Ok(())
}

#[test]
fn a_replayed_refused_offer_gets_no_second_reply() -> TestResult {
    // The reply is bounded by fresh authenticated offers: B replays A's
    // refused offer to C many times; C answers once.
    let p = proto("r");
    let (mut sim, [a, b, c]) = busy_c(Config::default().with_max_pending(1), 603)?;
    sim.act(c, |e, now| e.connect_out_of_band(now, p, 1))?;
    let captured = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = captured.clone();
    sim.set_fault_hook(Some(Box::new(move |from, to, bytes: &Bytes| {
        if (from, to) == (b, c) && bytes.get(1) == Some(&overlay_core::wire::kind::FORWARDED) {
            seen.borrow_mut().push(bytes.clone());
        }
        Fault::Deliver
    })));
    let op = sim.connect(b, p, &[a], &[c])?;
    let _ = complete(&mut sim, op)?;
    settle(&mut sim)?;
    sim.set_fault_hook(None);
    let relayed_before = sim.engine(b).stats().relayed;
    let offers: Vec<_> = captured.borrow().clone();
    assert!(!offers.is_empty());
    for _ in 0..50 {
        for f in &offers {
            sim.inject_frame(c, b, f.clone())?;
        }
    }
    settle(&mut sim)?;
    // No REFUSE relayed for the replays (B relays each REFUSE it gets).
    assert_eq!(sim.engine(b).stats().relayed, relayed_before);
    assert!(sim.engine(c).stats().replayed_signals >= 50);
    let _ = a;
    Ok(())
}
