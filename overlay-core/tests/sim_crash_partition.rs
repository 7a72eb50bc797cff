//! Crashes and partitions: neighbours see the loss with its reason, the
//! invariant holds after.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use overlay_core::{ArcCloseReason, ConnState, Direction};

#[test]
fn a_crash_is_seen_as_connection_lost_by_every_neighbour() -> TestResult {
    let p = proto("crash");
    let mut sim = sim(90);
    let hub = sim.add_node();
    let others = sim.add_nodes(4);
    star(&mut sim, hub, &others, p)?;
    settle(&mut sim)?;
    sim.crash(hub);
    settle_and_check(&mut sim)?;
    let ph = sim.peer(hub);
    for n in &others {
        let c = closes(&sim, *n, p, ph);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, Direction::Out);
        assert!(
            matches!(c[0].1, ArcCloseReason::ConnectionLost(_)),
            "a crash, not a graceful close: {:?}",
            c[0].1
        );
        assert!(sim.engine(*n).neighbours().is_empty());
    }
    Ok(())
}

#[test]
fn a_short_partition_holds_frames_a_long_one_times_connections_out() -> TestResult {
    let p = proto("split");
    let mut sim = sim(91);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let consent = sim.config().net.consent_timeout;

    // Short: messages wait and arrive after the heal.
    sim.partition(&[&[a]]);
    sim.send(a, p, b, Bytes::from_static(b"during"))?;
    sim.run_for(consent / 2);
    assert!(messages(&sim, b, p).is_empty(), "held by the partition");
    sim.heal();
    settle_and_check(&mut sim)?;
    assert_eq!(
        messages(&sim, b, p),
        vec![(sim.peer(a), b"during".to_vec())]
    );
    assert_eq!(
        sim.engine(a).connection_state(&sim.peer(b)),
        Some(ConnState::Living)
    );

    // Long: both ends time out.
    sim.partition(&[&[a]]);
    sim.run_for(consent + Duration::from_secs(1));
    sim.heal();
    settle_and_check(&mut sim)?;
    assert_eq!(
        closes(&sim, a, p, sim.peer(b)),
        vec![(Direction::Out, ArcCloseReason::TimedOut)]
    );
    assert_eq!(
        closes(&sim, b, p, sim.peer(a)),
        vec![(Direction::In, ArcCloseReason::TimedOut)]
    );
    assert!(sim.engine(a).connections().is_empty() && sim.engine(b).connections().is_empty());
    // They can meet again.
    join_ok(&mut sim, a, b, p)?;
    settle_and_check(&mut sim)?;
    Ok(())
}
