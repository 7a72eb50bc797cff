//! The simulator's output hook sees every engine output (events included)
//! even when outputs are not recorded, `next_at` names the next entry, and
//! `clear_completions` forgets kept completions.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use overlay_core::sim::{NodeId, Sim, SimConfig};
use overlay_core::{Direction, Event, Output};

#[test]
fn hook_sees_events_without_recording() -> TestResult {
    let p = proto("hook");
    let mut sim = sim_with(SimConfig::new(3).with_record_outputs(false));
    let seen: Rc<RefCell<Vec<(NodeId, Output)>>> = Rc::default();
    let sink = seen.clone();
    sim.set_output_hook(Some(Box::new(move |n, o| {
        sink.borrow_mut().push((n, o.clone()))
    })));
    let (a, b) = (sim.add_node(), sim.add_node());
    assert_eq!(sim.next_at(), None, "nothing queued yet");
    let op = sim.join(a, b, p)?;
    assert!(sim.next_at().is_some(), "the join's signals are queued");
    complete(&mut sim, op)?;
    settle(&mut sim)?;
    // Not recorded...
    assert!(sim.outputs(a).is_empty());
    // ...but the hook saw A's completion and B's inview event.
    let seen = seen.borrow();
    assert!(seen
        .iter()
        .any(|(n, o)| *n == a
            && matches!(o, Output::Completed(c) if c.op == op.op && c.result.is_ok())));
    let pb = sim.peer(a);
    assert!(seen.iter().any(|(n, o)| *n == b
        && matches!(o, Output::Event { protocol, event: Event::ArcOpened { peer, direction: Direction::In, count: 1 } }
            if *protocol == p && *peer == pb)));
    drop(seen);
    // Completions kept for `completion` are forgotten on demand.
    assert!(sim.completion(op).is_some());
    sim.clear_completions();
    assert!(sim.completion(op).is_none());
    assert!(sim.take_completions().is_empty());
    // Removing the hook stops the feed.
    sim.set_output_hook(None);
    Ok(())
}

#[test]
fn without_a_hook_nothing_changes() -> TestResult {
    let p = proto("hook");
    let mut sim: Sim = sim(4);
    let (a, b) = (sim.add_node(), sim.add_node());
    let op = sim.join(a, b, p)?;
    complete(&mut sim, op)?;
    settle_and_check(&mut sim)?;
    assert!(!sim.events(b, p).is_empty());
    Ok(())
}
