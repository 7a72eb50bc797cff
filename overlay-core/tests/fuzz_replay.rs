//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same
//! checks the cargo-fuzz targets run, on the stable toolchain, so every
//! input the fuzzer found interesting stays a regression test.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path)?;
        let r = std::panic::catch_unwind(|| check(&data));
        if r.is_err() {
            return Err(format!("{target}: {} fails its check", path.display()).into());
        }
        n += 1;
    }
    assert!(n > 0, "no corpus for {target} in {}", dir.display());
    Ok(())
}

#[test]
fn frame_decode_corpus() -> Result<(), Box<dyn std::error::Error>> {
    replay("frame_decode", checks::frame_decode)
}

#[test]
fn reassembler_corpus() -> Result<(), Box<dyn std::error::Error>> {
    replay("reassembler", checks::reassembler)
}

#[test]
fn signal_parse_corpus() -> Result<(), Box<dyn std::error::Error>> {
    replay("signal_parse", checks::signal_parse)
}

#[test]
fn engine_hostile_corpus() -> Result<(), Box<dyn std::error::Error>> {
    replay("engine_hostile", checks::engine_hostile)
}

/// The engine harness draws its simulation seed from a small set (so the
/// fuzz build reuses the setup's Ed25519 work); the set still gives every
/// order of the three nodes' ids, hence both sides of each glare rule.
#[test]
fn engine_hostile_seeds_give_every_id_order() {
    let orders = checks::engine_seed_orders();
    assert_eq!(
        orders.len(),
        6,
        "the seeds give only these orders of (A, B, C): {orders:?}"
    );
}
