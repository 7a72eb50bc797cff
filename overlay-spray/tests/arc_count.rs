//! Exploration: where do arcs go.
use std::collections::BTreeMap;
use std::time::Duration;

use overlay_core::sim::{NodeId, SimConfig};
use overlay_core::{PeerId, ProtocolId};
use overlay_spray::sim::SpraySim;
use overlay_spray::{Ages, SprayConfig};

fn outview(net: &SpraySim, node: NodeId) -> BTreeMap<PeerId, u32> {
    net.sim().engine(node).outview(&net.protocol())
}
fn arcs(net: &SpraySim) -> u32 {
    net.live_nodes()
        .iter()
        .map(|n| outview(net, *n).values().sum::<u32>())
        .sum()
}

fn explore(ages: Ages, settle_each: bool, dying: Option<Duration>) {
    let protocol = ProtocolId::new("spray").expect("valid id");
    let period = Duration::from_secs(10);
    let config = SprayConfig::default().with_period(period).with_ages(ages);
    let mut sc = SimConfig::new(11);
    if let Some(d) = dying { sc = sc.with_engine(overlay_core::Config::default().with_dying_timeout(d)); }
    let mut net = SpraySim::new(sc, config, protocol);
    net.grow(150, 20.0);
    net.run_for(period);
    assert!(net.settle(Duration::from_secs(60)));
    let start = arcs(&net);
    let s0 = net.spray_stats();
    println!("start {start} {s0:?}");
    for i in 0..10 {
        net.run_for(period);
        if settle_each {
            assert!(net.settle(Duration::from_secs(60)));
        }
        let s = net.spray_stats();
        println!("period {i}: arcs {} opened {} removed {} other {} lost {} moved {} failed {} sim {:?}", arcs(&net),
          s.arcs_opened - s0.arcs_opened, s.arcs_removed - s0.arcs_removed, s.arcs_closed_other - s0.arcs_closed_other, s.arcs_lost, s.arcs_moved - s0.arcs_moved, s.moves_failed, net.stats());
    }
    assert!(net.settle(Duration::from_secs(60)));
    println!("end arcs {} {:?} {:?}", arcs(&net), net.spray_stats(), net.sim().stats());
}

#[test]
fn explore_carry_settled() { explore(Ages::Carry, true, None); }
#[test]
fn explore_reset_unsettled() { explore(Ages::Reset, false, None); }
#[test]
fn explore_carry_long_dying() { explore(Ages::Carry, true, Some(Duration::from_secs(100_000))); }
#[test]
fn explore_reset_long_dying() { explore(Ages::Reset, false, Some(Duration::from_secs(100_000))); }

