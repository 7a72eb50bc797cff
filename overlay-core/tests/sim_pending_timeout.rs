//! A handshake that never connects is dropped at the pending timeout.

mod common;

use std::time::Duration;

use common::*;
use overlay_core::sim::{NetConfig, SimConfig};
use overlay_core::{Config, ConnectFailure, Event};

#[test]
fn a_lost_handshake_times_out_and_frees_everything() -> TestResult {
    let p = proto("pending");
    let timeout = Duration::from_secs(10);
    let mut net = NetConfig::default();
    net.handshake_loss = 1.0;
    let config = SimConfig::new(30)
        .with_net(net)
        .with_engine(Config::default().with_pending_timeout(timeout));
    let mut sim = sim_with(config);
    let (a, b) = (sim.add_node(), sim.add_node());
    let start = sim.elapsed();
    let op = sim.join(a, b, p)?;
    // Check the invariant while it waits: pending, never overdue.
    sim.run_for(timeout / 2);
    settle(&mut sim)?;
    let mid = sim.check_invariants()?;
    assert_eq!(mid.pending, 2, "both ends wait in their pending tables");
    let done = complete(&mut sim, op)?;
    assert_eq!(done.result, Err(ConnectFailure::Timeout));
    assert_eq!(
        sim.elapsed() - start,
        timeout,
        "failed exactly at the timeout (virtual clock)"
    );
    let pb = sim.peer(b);
    assert!(
        sim.events(a, p).contains(&Event::ConnectFailed {
            peer: Some(pb),
            reason: ConnectFailure::Timeout
        }),
        "the answer named b"
    );
    assert!(sim.run_until_idle(Duration::from_secs(60)));
    sim.check_invariants()?;
    for n in [a, b] {
        assert_eq!(sim.engine(n).stats().pending_timeouts, 1);
        assert!(
            sim.engine(n).connections().is_empty(),
            "pending entry dropped"
        );
        assert_eq!(sim.transport_connections(n), 0, "transport resources freed");
    }
    Ok(())
}

#[test]
fn a_lost_bridged_handshake_reports_the_timeout_to_the_bridge() -> TestResult {
    let p = proto("pending");
    let mut sim = sim(31);
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    join_ok(&mut sim, c, b, p)?;
    settle(&mut sim)?;
    // From now on every handshake is lost (ICE never connects), yet the
    // bridged signals flow.
    sim.net_config_mut().handshake_loss = 1.0;
    let op = sim.connect(b, p, &[a], &[c])?;
    let done = complete(&mut sim, op)?;
    assert_eq!(
        done.result,
        Err(ConnectFailure::Remote(overlay_core::BridgeFailure::Timeout))
    );
    assert_eq!(sim.engine(a).stats().pending_timeouts, 1);
    Ok(())
}

#[test]
fn a_transport_that_reports_the_failure_fails_the_connect_before_the_timeout() -> TestResult {
    let p = proto("pending");
    let mut net = NetConfig::default();
    net.handshake_loss = 1.0;
    net.handshake_failure_report = Some(Duration::from_secs(3));
    let mut sim = sim_with(SimConfig::new(32).with_net(net));
    let (a, b) = (sim.add_node(), sim.add_node());
    let start = sim.elapsed();
    let op = sim.join(a, b, p)?;
    let done = complete(&mut sim, op)?;
    assert!(
        matches!(done.result, Err(ConnectFailure::Transport(_))),
        "{:?}",
        done.result
    );
    assert_eq!(sim.elapsed() - start, Duration::from_secs(3));
    assert_eq!(sim.engine(a).stats().pending_timeouts, 0);
    assert!(sim.run_until_idle(Duration::from_secs(60)));
    sim.check_invariants()?;
    assert!(sim.engine(a).connections().is_empty() && sim.engine(b).connections().is_empty());
    Ok(())
}
