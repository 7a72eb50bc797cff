//! The invariant checker itself: it flags a network that is not quiet, and
//! arc counts that disagree (here forced by losing an arc-add frame).

mod common;

use bytes::Bytes;
use common::*;
use overlay_core::sim::{Fault, Violation};

#[test]
fn the_checker_catches_disagreeing_arc_counts() -> TestResult {
    let p = proto("check");
    let mut sim = sim(100);
    let (a, b) = (sim.add_node(), sim.add_node());
    let op = sim.join(a, b, p)?;
    // In flight: not quiet, so no verdict.
    let early = sim
        .check_invariants()
        .err()
        .ok_or("checked while not quiet")?;
    assert!(early.violations.contains(&Violation::NotQuiet));
    complete_ok(&mut sim, op)?;
    settle_and_check(&mut sim)?;

    // Lose every arc-add frame on the wire (frame type 5): a's next arc never
    // reaches b's inview, and the checker must say so.
    sim.set_fault_hook(Some(Box::new(|_, _, frame: &Bytes| {
        if frame.get(1) == Some(&5) {
            Fault::Drop
        } else {
            Fault::Deliver
        }
    })));
    let op = sim.connect(a, p, &[a], &[b])?;
    complete_ok(&mut sim, op)?;
    settle(&mut sim)?;
    let err = sim
        .check_invariants()
        .err()
        .ok_or("the lost arc went unnoticed")?;
    assert_eq!(
        err.violations,
        vec![Violation::ArcMismatch {
            protocol: p,
            from: a,
            to: b,
            out: 2,
            inn: 1
        }]
    );
    Ok(())
}
