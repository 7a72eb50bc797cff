//! Fault campaigns with the local invariants checked after every step and
//! the global ones once quiet: loss from 0 to 30 %, latency jitter,
//! partitions that heal, 30 % of the nodes crashing, and random operation
//! sequences (proptest).

mod common;

use std::time::Duration;

use common::scenario::{churn, grow};
use common::*;
use overlay_core::sim::{NetConfig, NodeId, Sim, SimConfig};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn campaign_sim(seed: u64, loss: f64) -> Sim {
    sim_with(
        SimConfig::new(seed)
            .with_net(
                NetConfig::default()
                    .with_loss(loss)
                    .with_latency(Duration::from_millis(5)..=Duration::from_millis(120)),
            )
            .with_record_outputs(false)
            .with_check_every_step(true),
    )
}

fn no_local_violations(sim: &Sim) -> TestResult {
    if let Some((at, v)) = sim.local_violations().first() {
        return Err(format!(
            "{} local violation(s), first at {at:?}: {v}",
            sim.local_violations().len()
        )
        .into());
    }
    Ok(())
}

#[test]
fn loss_from_0_to_30_percent_with_jitter() -> TestResult {
    let p = proto("campaign");
    for (i, loss) in [0.0, 0.1, 0.2, 0.3].into_iter().enumerate() {
        let seed = 400 + i as u64;
        let mut sim = campaign_sim(seed, loss);
        grow(&mut sim, p, 30, 3, Duration::from_millis(20), seed);
        churn(&mut sim, p, 15, 5, Duration::from_millis(40), seed);
        settle_and_check(&mut sim).map_err(|e| format!("loss {loss}: {e}"))?;
        no_local_violations(&sim).map_err(|e| format!("loss {loss}: {e}"))?;
    }
    Ok(())
}

#[test]
fn partitions_that_heal_and_30_percent_crash_churn() -> TestResult {
    let p = proto("campaign");
    let seed = 410;
    let mut sim = campaign_sim(seed, 0.05);
    grow(&mut sim, p, 30, 3, Duration::from_millis(20), seed);
    settle(&mut sim)?;
    let nodes: Vec<NodeId> = sim.node_ids().collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for round in 0..3 {
        let side: Vec<NodeId> = nodes.choose_multiple(&mut rng, 10).copied().collect();
        sim.partition(&[&side]);
        churn(&mut sim, p, 5, 4, Duration::from_millis(50), seed + round);
        sim.run_for(Duration::from_secs(2));
        sim.heal();
        churn(
            &mut sim,
            p,
            5,
            4,
            Duration::from_millis(50),
            seed + 10 + round,
        );
    }
    settle_and_check(&mut sim)?;
    // 30 % of the nodes crash, while the rest keep working.
    for (k, n) in nodes
        .choose_multiple(&mut rng, nodes.len() * 3 / 10)
        .enumerate()
    {
        sim.crash(*n);
        churn(
            &mut sim,
            p,
            1,
            3,
            Duration::from_millis(30),
            seed + 100 + k as u64,
        );
    }
    settle_and_check(&mut sim)?;
    no_local_violations(&sim)
}

/// One random action of a proptest run.
#[derive(Debug, Clone)]
enum Action {
    Join(usize, usize),
    Bridge(usize, usize, usize),
    Disconnect(usize, usize),
    Send(usize, usize, usize),
    Crash(usize),
    Partition(usize),
    Heal,
    Wait(u64),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0..8usize, 0..8usize).prop_map(|(a, b)| Action::Join(a, b)),
        (0..8usize, 0..8usize, 0..8usize).prop_map(|(a, b, c)| Action::Bridge(a, b, c)),
        (0..8usize, 0..8usize).prop_map(|(a, b)| Action::Disconnect(a, b)),
        (0..8usize, 0..8usize, 0..70_000usize).prop_map(|(a, b, n)| Action::Send(a, b, n)),
        (0..8usize).prop_map(Action::Crash),
        (0..8usize).prop_map(Action::Partition),
        Just(Action::Heal),
        (0..20_000u64).prop_map(Action::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_keep_the_invariants(
        seed in 0u64..1_000_000,
        loss in 0.0f64..0.3,
        actions in proptest::collection::vec(action(), 1..40),
    ) {
        let p = proto("random");
        let mut sim = campaign_sim(seed, loss);
        let nodes = sim.add_nodes(8);
        for a in actions {
            match a {
                Action::Join(x, y) if x != y => { let _ = sim.join(nodes[x], nodes[y], p); }
                Action::Bridge(x, y, z) => { let _ = sim.connect(nodes[x], p, &[nodes[y]], &[nodes[z]]); }
                Action::Disconnect(x, y) => { let _ = sim.disconnect(nodes[x], p, nodes[y]); }
                Action::Send(x, y, n) => {
                    let _ = sim.send(nodes[x], p, nodes[y], bytes::Bytes::from(vec![1u8; n]));
                }
                Action::Crash(x) => sim.crash(nodes[x]),
                Action::Partition(x) => sim.partition(&[&[nodes[x]]]),
                Action::Heal => sim.heal(),
                Action::Wait(ms) => sim.run_for(Duration::from_millis(ms)),
                Action::Join(..) => {}
            }
        }
        sim.heal();
        prop_assert!(sim.run_until_quiet(SETTLE), "never quiet");
        if let Err(e) = sim.check_invariants() {
            return Err(TestCaseError::fail(e.to_string()));
        }
        if let Some((at, v)) = sim.local_violations().first() {
            return Err(TestCaseError::fail(format!("at {at:?}: {v}")));
        }
    }
}
