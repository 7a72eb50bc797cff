//! Profile helper: builds `Rtc`s from the prepared configuration in a loop
//! (`perf record` it to see where the per-connection build cost goes).
//!
//! `cargo run --release -p transport-str0m --example rtc_build_profile -- 5000`

use std::time::Instant;

use transport_str0m::NodeRtcConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let prepared = NodeRtcConfig::new()?;
    let start = Instant::now();
    for _ in 0..n {
        drop(prepared.build(Instant::now()));
    }
    println!(
        "{n} Rtc builds: {:.3} ms each",
        start.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    Ok(())
}
