//! An arc added to a dying connection just before the remote's dying
//! timeout fires must not be lost: either the connect fails (nothing was
//! opened, the caller keeps what it had) or the arc survives. Before the
//! fix the arc opened at once (the connect succeeded), the remote closed
//! the connection at its timeout while the `ArcAdd` was on its way, and the
//! arc vanished with `ConnectionClosed`: a Spray shuffle that moved an arc
//! this way lost it for good (docs/spray/arc-count.md).

mod common;

use std::time::Duration;

use common::*;
use overlay_core::sim::SimConfig;
use overlay_core::{ArcCloseReason, Config, Direction};

const DYING: Duration = Duration::from_secs(60);

/// a -> b, then a removes it: both sides dying, a's timer first (b learns
/// of the removal one link latency later). After `wait`, b opens b -> a on
/// the dying connection. Returns (b's connect succeeded, arcs b -> a left,
/// b's out-arcs closed by the remote).
fn revive_after(
    seed: u64,
    wait: Duration,
) -> Result<(bool, u32, usize), Box<dyn std::error::Error>> {
    let p = proto("race");
    let mut sim =
        sim_with(SimConfig::new(seed).with_engine(Config::default().with_dying_timeout(DYING)));
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    sim.disconnect(a, p, b)?;
    sim.run_for(wait);
    let ok = match sim.connect(b, p, &[b], &[a]) {
        Ok(op) => complete(&mut sim, op)?.result.is_ok(),
        // The connection is gone already: nothing opened.
        Err(_) => false,
    };
    // Long past both dying deadlines.
    sim.run_for(3 * DYING);
    settle_and_check(&mut sim)?;
    let pa = sim.peer(a);
    let remote_closed = closes(&sim, b, p, pa)
        .into_iter()
        .filter(|c| *c == (Direction::Out, ArcCloseReason::ConnectionClosed))
        .count();
    Ok((ok, out_count(&sim, b, a, p), remote_closed))
}

#[test]
fn an_arc_added_at_the_end_of_the_dying_period_is_not_lost() -> TestResult {
    for (seed, ms) in (0..).zip([
        30_000u64, 53_000, 59_000, 59_500, 59_900, 59_950, 59_990, 59_999, 60_000, 60_010, 60_100,
    ]) {
        let (ok, left, remote_closed) = revive_after(seed, Duration::from_millis(ms))?;
        println!("revive at {ms} ms: connect ok {ok}, arcs left {left}, closed by the remote {remote_closed}");
        assert_eq!(
            remote_closed, 0,
            "at {ms} ms: an opened arc was closed by the remote's dying timeout"
        );
        assert_eq!(
            left,
            u32::from(ok),
            "at {ms} ms: a successful connect keeps its arc, a failed one opens none"
        );
        if ms <= 53_000 {
            // Before the last tenth of the dying period: revived as before.
            assert!(ok, "at {ms} ms the dying connection is revived");
        }
    }
    Ok(())
}
