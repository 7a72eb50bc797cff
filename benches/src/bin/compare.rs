//! The comparison table: every backend, overlay and raw, in one run.
//!
//! `cargo run --release -p n2n-benches --bin compare [-- --quick]`
#![forbid(unsafe_code)]

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    n2n_benches::scale::child_main_if_requested();
    let quick = std::env::args().any(|a| a == "--quick");
    let table = n2n_benches::report::run(quick)?;
    println!("{table}");
    Ok(())
}
