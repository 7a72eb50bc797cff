//! Spray in the simulator: views converge to about ln N, one component,
//! no hubs; crashes and graceful leaves keep the network whole.

use std::time::Duration;

use overlay_core::sim::{NodeId, SimConfig};
use overlay_core::ProtocolId;
use overlay_spray::graph::{Graph, Summary};
use overlay_spray::sim::SpraySim;
use overlay_spray::SprayConfig;

const PERIOD: Duration = Duration::from_secs(10);

fn grow(n: usize, seed: u64) -> SpraySim {
    grow_with(n, seed, PERIOD)
}

fn grow_with(n: usize, seed: u64, period: Duration) -> SpraySim {
    let p = ProtocolId::new("spray").expect("valid id");
    let mut net = SpraySim::new(
        SimConfig::new(seed),
        SprayConfig::default().with_period(period),
        p,
    );
    net.grow(n, 20.0);
    assert_eq!(net.members(), n);
    net
}

fn report(g: &Graph) -> (Summary, usize) {
    (Summary::of(&g.view_sizes()), g.components())
}

#[test]
fn views_converge_to_ln_n() {
    let n = 300;
    let mut net = grow(n, 1);
    net.run_for(PERIOD * 10);
    let g = net.graph();
    let (views, components) = report(&g);
    let ln = (n as f64).ln();
    println!(
        "n={n} views {views:?} components {components} stats {:?} {:?}",
        net.stats(),
        net.spray_stats()
    );
    assert_eq!(g.len(), n);
    assert!(
        (views.mean - ln).abs() < 0.15 * ln,
        "mean view {} vs ln N {ln}",
        views.mean
    );
    assert_eq!(components, 1);
    let s = net.spray_stats();
    assert!(s.exchanges_started > (n * 8) as u64, "{s:?}");
    assert!(s.arcs_moved > 0);
    // No hub: the largest in-degree stays within a few times the mean.
    let ins = Summary::of(&g.in_degrees());
    assert!((ins.max as f64) < 3.0 * ins.mean, "{ins:?}");
    // Spray's view mirrors the engine's outview exactly.
    for node in net.live_nodes() {
        let spray = net.spray(node).expect("live");
        assert_eq!(
            spray.view(),
            net.sim().engine(node).outview(&net.protocol())
        );
    }
}

#[test]
fn crashes_are_repaired_and_views_shrink() {
    let n = 300;
    let mut net = grow(n, 2);
    net.run_for(PERIOD * 5);
    // Crash a fifth of the peers at once.
    let victims: Vec<NodeId> = net.live_nodes().into_iter().step_by(5).collect();
    for v in &victims {
        net.crash(*v);
    }
    net.run_for(PERIOD * 10);
    let g = net.graph();
    let (views, components) = report(&g);
    let live = n - victims.len();
    let ln = (live as f64).ln();
    println!(
        "after crash: {live} peers, views {views:?}, components {components}, {:?}",
        net.spray_stats()
    );
    assert_eq!(g.len(), live);
    assert_eq!(components, 1);
    assert!(net.spray_stats().arcs_replaced > 0);
    assert!(
        (views.mean - ln).abs() < 0.25 * ln,
        "mean view {} vs ln {ln}",
        views.mean
    );
}

#[test]
fn graceful_leave_hands_the_inview_over() {
    // No shuffle in the way (arcs in flight would blur the count).
    let n = 100;
    let mut net = grow_with(n, 3, Duration::from_secs(1_000_000_000));
    net.run_for(PERIOD);
    let before = net.graph().arcs();
    let leaver = net.live_nodes()[10];
    let ins = net
        .spray(leaver)
        .map(|s| s.inview().values().sum::<u32>())
        .unwrap_or(0);
    let outs = net.spray(leaver).map_or(0, |s| s.view_size());
    net.leave(leaver);
    net.run_for(Duration::from_secs(5));
    assert!(net.spray(leaver).is_none(), "the leaver shut down");
    let after = net.graph();
    println!(
        "arcs {before} -> {} (leaver had {outs} out, {ins} in)",
        after.arcs()
    );
    // Its outview is gone, its inview was handed over.
    assert_eq!(after.arcs() as isize, before as isize - outs as isize);
    assert_eq!(after.components(), 1);
}
