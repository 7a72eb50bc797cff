//! The comparison table: every backend, overlay and raw, in one run.
//!
//! `cargo run --release -p n2n-benches --bin compare [-- --quick] [-- --speed]`
//!
//! `--speed`: only the throughput and round-trip rows of the overlay on
//! str0m and of raw str0m (about a minute instead of several).
#![forbid(unsafe_code)]

use n2n_benches::report::Scope;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    n2n_benches::scale::child_main_if_requested();
    let quick = std::env::args().any(|a| a == "--quick");
    let scope = if std::env::args().any(|a| a == "--speed") {
        Scope::Speed
    } else {
        Scope::All
    };
    let table = n2n_benches::report::run_scope(quick, scope)?;
    println!("{table}");
    Ok(())
}
