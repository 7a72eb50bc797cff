//! What `n2n demo` (real nodes, wall clock) and `n2n sim` (the simulator,
//! virtual clock) share. Both run the same four phases, one function each
//! in their own file:
//!
//! 1. **join**: newcomers join one at a time through the signaling server,
//!    each with one arc to a member that is its contact;
//! 2. **bridge**: each newcomer's contact bridges it to a few of the
//!    contact's other neighbours ([`bridge_targets`]);
//! 3. **messages**: every peer sends a few messages over each of its arcs;
//! 4. **summary**: the per-peer table, the topology files ([`report`]) and
//!    the verdict ([`verdict`]).

use std::collections::BTreeSet;
use std::path::Path;

use n2n_overlay::{PeerId, ProtocolId};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::CliError;
use crate::report::Summary;

/// The protocol the scenario's arcs belong to.
pub(crate) const PROTOCOL: &str = "n2n-demo";

/// The scenario's protocol id.
pub(crate) fn protocol() -> Result<ProtocolId, CliError> {
    ProtocolId::new(PROTOCOL).map_err(CliError::ProtocolName)
}

/// `--peers`: a scenario needs a first peer and a newcomer.
pub(crate) fn check_peers(peers: usize) -> Result<(), CliError> {
    if peers < 2 {
        return Err(CliError::Argument {
            flag: "--peers",
            rule: "must be at least 2",
        });
    }
    Ok(())
}

/// Phase 2's choice: up to `k` of the contact's neighbours (`theirs`) that
/// are neither the newcomer nor already its neighbours (`mine`), in random
/// order.
pub(crate) fn bridge_targets(
    newcomer: PeerId,
    mine: &BTreeSet<PeerId>,
    theirs: BTreeSet<PeerId>,
    k: usize,
    rng: &mut impl Rng,
) -> Vec<PeerId> {
    let mut targets: Vec<PeerId> = theirs
        .into_iter()
        .filter(|p| *p != newcomer && !mine.contains(p))
        .collect();
    targets.shuffle(rng);
    targets.truncate(k);
    targets
}

/// Phase 4's output: the table on stdout, the topology into `out`.
pub(crate) fn report(summary: &Summary, rows: usize, out: &Path) -> Result<(), CliError> {
    println!();
    print!("{}", summary.render(rows));
    let (dot, svg) = summary.write_topology(out)?;
    println!(
        "topology: {} and {} (open the .svg in a browser)",
        dot.display(),
        svg.display()
    );
    Ok(())
}

/// `Ok` for a clean run; else every problem of the run, counted.
pub(crate) fn verdict(what: &'static str, summary: &Summary) -> Result<(), CliError> {
    let problems = summary.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::RanWithFailures {
            what,
            problems: problems.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use n2n_overlay::Keypair;
    use rand::SeedableRng;

    #[test]
    fn bridge_targets_skip_the_newcomer_and_its_neighbours() {
        let ids: Vec<PeerId> = (0..6).map(|_| Keypair::generate().peer_id()).collect();
        let newcomer = ids[0];
        let mine: BTreeSet<PeerId> = [ids[1]].into();
        let theirs: BTreeSet<PeerId> = ids.iter().copied().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let all = bridge_targets(newcomer, &mine, theirs.clone(), 10, &mut rng);
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(!all.contains(&newcomer) && !all.contains(&ids[1]));
        let two = bridge_targets(newcomer, &mine, theirs, 2, &mut rng);
        assert_eq!(two.len(), 2);
    }

    #[test]
    fn verdict_counts_every_kind_of_failure() {
        let mut s = Summary::new("virtual clock");
        s.sent = 10;
        s.delivered = 10;
        assert!(verdict("the run", &s).is_ok());
        s.delivered = 8;
        s.send_failures = 1;
        s.join_failures.push("peer 3: refused".into());
        let e = verdict("the run", &s).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the run ran with failures: 1 joins failed, 2 messages lost, 1 refused (run with RUST_LOG=debug for details)")
        );
        assert!(check_peers(1).is_err() && check_peers(2).is_ok());
    }
}
