//! The simulator asks an engine for its next deadline only when that engine
//! got input, once however many inputs it got before the clock could move;
//! engines without input are never asked. Deadlines still fire on time.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn inputs_at_one_instant_cost_one_deadline_poll() -> TestResult {
    let p = proto("polls");
    let mut sim = sim(11);
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    join_ok(&mut sim, c, b, p)?;
    settle(&mut sim)?;
    let pb = sim.peer(b);
    // The last step of `settle` may leave its node to be asked on the next
    // read of the queue: do that read first.
    let _ = sim.next_at();
    let before = sim.stats().deadline_polls;
    // Six API calls on `a` at the same instant...
    for _ in 0..3 {
        sim.act(a, |e, _| e.pin(p, pb))?;
        sim.act(a, |e, _| e.unpin(p, pb))?;
    }
    // ...are settled once, when the queue is next read; b and c, which got
    // no input, are not asked at all.
    let _ = sim.next_at();
    assert_eq!(sim.stats().deadline_polls - before, 1);
    let _ = sim.next_at();
    assert_eq!(sim.stats().deadline_polls - before, 1, "nothing new to ask");
    Ok(())
}

#[test]
fn deferred_deadlines_still_fire() -> TestResult {
    // An arc removed leaves its connection dying; the engine's dying
    // deadline (asked for lazily) must still close it on time.
    let p = proto("polls");
    let mut sim = sim(12);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let pb = sim.peer(b);
    sim.act(a, |e, now| e.disconnect(now, p, pb))?;
    settle(&mut sim)?;
    assert!(sim.conn_between(a, b).is_some(), "dying, not closed yet");
    let dying = sim.config().engine.dying_timeout();
    sim.run_for(dying + Duration::from_secs(1));
    assert!(
        sim.conn_between(a, b).is_none(),
        "the dying connection was closed by its deadline"
    );
    settle_and_check(&mut sim)?;
    Ok(())
}
