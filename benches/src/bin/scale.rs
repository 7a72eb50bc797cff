//! Scale: setup rate and memory per idle connection with 100 and 1,000
//! connections opened at once in one process, per backend, overlay and raw.
//! Each measurement runs in a fresh process (re-executing this binary).
//!
//! `cargo run --release -p n2n-benches --bin scale [-- COUNT...]` (default 100 1000)
#![forbid(unsafe_code)]

use std::time::Duration;

use n2n_benches::scale::{child_main_if_requested, measure_in_child, Subject};

fn main() {
    child_main_if_requested();
    let mut counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if counts.is_empty() {
        counts = vec![100, 1000];
    }
    println!("| subject | pairs at once | all open after | setup rate | KiB per open idle pair |");
    println!("|---|---|---|---|---|");
    for s in Subject::ALL {
        for &n in &counts {
            match measure_in_child(s, n, Duration::from_secs(120)) {
                Ok(r) => println!(
                    "| {} | {n} | {:.0} ms | {:.0} conn/s | {:.0} |",
                    s.name(),
                    r.setup.as_secs_f64() * 1e3,
                    r.rate(),
                    r.kib_per_pair
                ),
                Err(e) => println!("| {} | {n} | failed: {e} | - | - |", s.name()),
            }
        }
    }
}
