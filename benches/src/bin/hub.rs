//! A hub: one overlay node on str0m (one UDP socket) holding N connections
//! at once, each to a client node in a second process. Prints setup rate,
//! the hub's memory per connection and its idle CPU, for each N.
//!
//! `cargo run --release -p n2n-benches --bin hub [-- COUNT... [--window W]]`
//! (default counts 100 1000 10000, window 128 handshakes in flight)
#![forbid(unsafe_code)]

use n2n_benches::hub::{child_main_if_requested, hub_in_child};

fn main() {
    child_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut window = 128;
    let mut counts = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--window" {
            window = it.next().and_then(|w| w.parse().ok()).unwrap_or(window);
        } else if let Ok(n) = a.parse::<usize>() {
            counts.push(n);
        }
    }
    if counts.is_empty() {
        counts = vec![100, 1000, 10_000];
    }
    println!(
        "| connections | all open after | setup rate | KiB per connection (hub process RSS) | hub CPU per connection opened | hub idle CPU (% of one core, 5 s) | open after idle |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in counts {
        match hub_in_child(n, window) {
            Ok(r) => println!(
                "| {n} | {:.0} ms | {:.0} conn/s | {:.1} | {:.2} ms | {:.2} % | {} |",
                r.setup.as_secs_f64() * 1e3,
                r.rate(),
                r.kib_per_conn,
                r.setup_cpu_per_conn.as_secs_f64() * 1e3,
                r.idle_cpu_percent,
                r.open_after_idle
            ),
            Err(e) => println!("| {n} | failed: {e} | - | - | - | - | - |"),
        }
    }
}
