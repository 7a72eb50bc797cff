//! One speed measurement at a time, for profiling (`perf record`):
//! `cargo run --release -p n2n-benches --example speed_probe -- WHAT [N]`
//! where WHAT is `rtt`, `tput1k`, `tput16k` (the overlay on str0m, each
//! node on a thread of its own, the applications using `feed`; with an
//! `-await` suffix: `send(..).await` per message), `mt-rtt`, `mt-tput1k`
//! (both nodes on a 2-worker runtime), or `raw-rtt`, `raw-tput1k`,
//! `raw-tput16k` (raw str0m).
#![forbid(unsafe_code)]

use n2n_benches::{
    median, raw_str0m, rtt, scale::runtime, throughput, Backend, BenchError, SendMode,
};

fn main() -> Result<(), BenchError> {
    let what = std::env::args().nth(1).unwrap_or_else(|| "rtt".to_owned());
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let count = u32::try_from(n).unwrap_or(u32::MAX);
    let rt = runtime()?;
    let took = match what.as_str() {
        "rtt" | "tput1k" | "tput16k" | "rtt-await" | "tput1k-await" | "tput16k-await" => {
            let mut p = rt.block_on(Backend::Str0m.threaded_pair())?;
            let mode = if what.ends_with("-await") {
                SendMode::Await
            } else {
                SendMode::Feed
            };
            let r = match what.trim_end_matches("-await") {
                "rtt" => median(&mut rt.block_on(p.rtt_samples_with(n, mode))?),
                "tput1k" => rt.block_on(p.throughput_with(1024, count * 10, mode))?,
                _ => rt.block_on(p.throughput_with(16 * 1024, count, mode))?,
            };
            rt.block_on(p.shutdown());
            r
        }
        "mt-rtt" | "mt-tput1k" => {
            let mut p = rt.block_on(Backend::Str0m.pair())?;
            let r = if what == "mt-rtt" {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(rt.block_on(rtt(&mut p))?);
                }
                median(&mut v)
            } else {
                rt.block_on(throughput(&mut p, 1024, count * 10))?
            };
            rt.block_on(p.shutdown());
            r
        }
        "raw-rtt" => {
            let mut p = raw_str0m::RawPair::open()?;
            median(&mut raw_str0m::rtt_samples(&mut p, n)?)
        }
        "raw-tput1k" => {
            let mut p = raw_str0m::RawPair::open()?;
            raw_str0m::throughput(&mut p, 1024, count * 10)?
        }
        "raw-tput16k" => {
            let mut p = raw_str0m::RawPair::open()?;
            raw_str0m::throughput(&mut p, 16 * 1024, count)?
        }
        other => return Err(format!("unknown measurement {other}").into()),
    };
    println!("{what} {n}: {took:?}");
    Ok(())
}
