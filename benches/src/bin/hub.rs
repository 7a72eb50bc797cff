//! A hub: one overlay node on str0m (one UDP socket) holding N connections
//! at once, each to a client node in a second process. Prints setup rate,
//! the hub's memory per connection, its idle CPU and idle traffic, for
//! each N.
//!
//! `cargo run --release -p n2n-benches --bin hub [-- COUNT... [--window W]
//! [--keepalive MS] [--silence MS] [--lite]]` (default counts 100 1000
//! 10000, window 128 handshakes in flight, the transports' default
//! keep-alive interval and silence timeout; both are set on the hub and on
//! the clients; `--lite`: the hub accepts with ICE-lite)
#![forbid(unsafe_code)]

use std::time::Duration;

use n2n_benches::hub::{child_main_if_requested, hub_in_child_with, HubOptions};

fn main() {
    child_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = HubOptions::default();
    let mut counts = Vec::new();
    let mut it = args.iter();
    let ms = |v: Option<&String>| {
        v.and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--window" => {
                options.window = it
                    .next()
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(options.window);
            }
            "--keepalive" => options.keepalive = ms(it.next()),
            "--silence" => options.silence = ms(it.next()),
            "--lite" => options.lite = true,
            _ => {
                if let Ok(n) = a.parse::<usize>() {
                    counts.push(n);
                }
            }
        }
    }
    if counts.is_empty() {
        counts = vec![100, 1000, 10_000];
    }
    let config = options.rtc_config();
    println!(
        "keep-alive interval {:?}, silence timeout {:?}, window {}, hub ICE {}",
        config.keepalive_interval,
        config.silence_timeout,
        options.window,
        if options.lite { "lite" } else { "full" }
    );
    println!(
        "| connections | all open after | setup rate | KiB per connection (hub process RSS) | hub CPU per connection opened | client process CPU per connection opened | hub idle CPU (% of one core) | client process idle CPU | hub datagrams per connection per s (idle) | timer wake-ups per connection per s (idle) | open after idle |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for n in counts {
        match hub_in_child_with(n, &options) {
            Ok(r) => println!(
                "| {n} | {:.0} ms | {:.0} conn/s | {:.1} | {:.2} ms | {:.2} ms | {:.2} % | {:.2} % | {:.2} | {:.2} | {} |",
                r.setup.as_secs_f64() * 1e3,
                r.rate(),
                r.kib_per_conn,
                r.setup_cpu_per_conn.as_secs_f64() * 1e3,
                r.client_setup_cpu_per_conn.as_secs_f64() * 1e3,
                r.idle_cpu_percent,
                r.client_idle_cpu_percent,
                r.idle_datagrams_per_conn,
                r.idle_wakeups_per_conn,
                r.open_after_idle
            ),
            Err(e) => println!("| {n} | failed: {e} | - | - | - | - | - | - | - | - | - |"),
        }
    }
}
