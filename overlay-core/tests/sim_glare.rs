//! Both ends dial each other at once: one connection, every arc kept.

mod common;

use std::time::Duration;

use common::*;
use overlay_core::sim::{NetConfig, OpRef, SimConfig};

#[test]
fn out_of_band_glare_ends_in_one_connection() -> TestResult {
    let p = proto("glare");
    for seed in 0..8 {
        let mut sim = sim(50 + seed);
        let (a, b) = (sim.add_node(), sim.add_node());
        let ab = sim.join(a, b, p)?;
        let ba = sim.join(b, a, p)?;
        complete_ok(&mut sim, ab)?;
        complete_ok(&mut sim, ba)?;
        settle_and_check(&mut sim)?;
        assert_eq!(out_count(&sim, a, b, p), 1);
        assert_eq!(out_count(&sim, b, a, p), 1);
        assert_eq!(
            sim.engine(a).connections().len(),
            1,
            "seed {seed}: one connection"
        );
        assert_eq!(sim.engine(b).connections().len(), 1);
        let glares = sim.engine(a).stats().glare_resolved + sim.engine(b).stats().glare_resolved;
        assert!(glares >= 1, "seed {seed}: the glare rule acted");
    }
    Ok(())
}

#[test]
fn bridged_glare_ends_in_one_connection() -> TestResult {
    // a and c are both neighbours of b and d. b bridges a -> c while d
    // bridges c -> a, at the same instant. Fixed latencies make both
    // requests arrive together, so the two offers cross.
    let p = proto("glare");
    let fixed = Duration::from_millis(20)..=Duration::from_millis(20);
    for seed in 0..8 {
        let mut sim = sim_with(
            SimConfig::new(60 + seed).with_net(NetConfig::default().with_latency(fixed.clone())),
        );
        let (a, b, c, d) = (
            sim.add_node(),
            sim.add_node(),
            sim.add_node(),
            sim.add_node(),
        );
        star(&mut sim, b, &[a, c], p)?;
        star(&mut sim, d, &[a, c], p)?;
        settle(&mut sim)?;
        let ops: Vec<OpRef> = vec![
            sim.connect(b, p, &[a], &[c])?,
            sim.connect(d, p, &[c], &[a])?,
        ];
        for op in ops {
            complete_ok(&mut sim, op)?;
        }
        settle_and_check(&mut sim)?;
        assert_eq!(out_count(&sim, a, c, p), 1, "seed {seed}");
        assert_eq!(out_count(&sim, c, a, p), 1, "seed {seed}");
        let pc = sim.peer(c);
        let to_c = sim
            .engine(a)
            .connections()
            .into_iter()
            .filter(|i| i.peer == Some(pc))
            .count();
        assert_eq!(to_c, 1, "seed {seed}: one connection a-c");
        let glares = sim.engine(a).stats().glare_resolved + sim.engine(c).stats().glare_resolved;
        assert!(glares >= 1, "seed {seed}: the glare rule acted");
    }
    Ok(())
}
