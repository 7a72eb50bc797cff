//! The same seed replays the same run; another seed gives another.

mod common;

use std::time::Duration;

use common::scenario::{churn, grow};
use common::*;
use overlay_core::sim::{NetConfig, Sim, SimConfig};

fn run(seed: u64) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let p = proto("replay");
    let config = SimConfig::new(seed)
        .with_net(NetConfig::default().with_loss(0.05))
        .with_record_outputs(false);
    let mut sim = Sim::new(config);
    grow(&mut sim, p, 60, 3, Duration::from_millis(15), seed);
    churn(&mut sim, p, 30, 10, Duration::from_millis(30), seed);
    settle(&mut sim)?;
    sim.check_invariants()?;
    Ok((sim.trace_hash(), sim.stats().engine_inputs))
}

#[test]
fn same_seed_same_trace() -> TestResult {
    init_tracing();
    let first = run(5)?;
    let second = run(5)?;
    assert_eq!(first, second, "same seed, same trace");
    let other = run(6)?;
    assert_ne!(first.0, other.0, "another seed, another trace");
    Ok(())
}
