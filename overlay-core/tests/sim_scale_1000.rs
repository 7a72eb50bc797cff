//! 1,000 peers join and bridge at random under 5% loss; the invariant holds.

mod common;

use std::time::Duration;

use common::scenario::{churn, grow};
use common::*;
use overlay_core::sim::{NetConfig, SimConfig};

#[test]
fn thousand_peers_random_bridging_under_loss_keep_the_invariant() -> TestResult {
    let p = proto("scale");
    let config = SimConfig::new(1000)
        .with_net(NetConfig::default().with_loss(0.05))
        .with_record_outputs(false);
    let mut sim = sim_with(config);
    let g = grow(&mut sim, p, 1000, 3, Duration::from_millis(20), 99);
    let report = {
        settle(&mut sim)?;
        sim.check_invariants()?
    };
    let stats = sim.stats();
    eprintln!("{g:?}\n{report:?}\n{stats:?}");
    assert_eq!(sim.len(), 1000);
    assert_eq!(report.nodes, 1000);
    // 5% of handshakes are lost and time out; the rest open.
    assert!(g.joins_ok >= 900, "most joins succeed: {g:?}");
    assert!(
        g.joins_failed > 0,
        "with 5% handshake loss some joins time out: {g:?}"
    );
    // Most newcomers that joined were bridged (a newcomer whose contact has
    // no other neighbour yet is not): 896 of 940 with wire v2's trajectory.
    assert!(
        g.bridges_ok + g.bridges_failed > 850,
        "newcomers asked for bridges: {g:?}"
    );
    assert!(
        report.arcs >= g.joins_ok,
        "every successful join left an arc"
    );
    assert!(stats.transport.handshakes_lost > 0);
    assert_eq!(stats.stuck_timers, 0);
    assert!(stats.messages_delivered > 0);

    // Churn: random bridges (both ways round, so glares), arc removals
    // (dying connections, revivals), messages; still under loss.
    let ch = churn(&mut sim, p, 200, 20, Duration::from_millis(50), 7);
    settle(&mut sim)?;
    let after = sim.check_invariants()?;
    eprintln!("{ch:?}\n{after:?}\n{:?}", sim.stats());
    assert!(
        ch.bridges > 1000 && ch.disconnects > 300,
        "the churn did something: {ch:?}"
    );
    assert!(
        ch.bridges_ok > ch.bridges / 2,
        "most bridges succeed: {ch:?}"
    );
    // Run every timer out: dying connections close, pending ones expire;
    // the invariant still holds on what is left.
    assert!(sim.run_until_idle(Duration::from_secs(600)));
    sim.check_invariants()?;
    Ok(())
}
