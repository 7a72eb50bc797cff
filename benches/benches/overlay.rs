//! Criterion benches: setup (direct, bridged), throughput and round trip,
//! the overlay on each backend next to the raw libraries (no overlay), in
//! the same groups.
//!
//! `cargo bench -p n2n-benches --bench overlay` (full);
//! `cargo bench -p n2n-benches --bench overlay -- --test` (one pass of each, CI).

#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use n2n_benches::{raw_str0m, raw_webrtcrs, rtt, scale::runtime, throughput, Backend, BenchError};
use tokio::runtime::Runtime;

fn rt() -> Runtime {
    runtime().unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

/// Sum of `iters` runs of the async measurement `f`.
fn timed<F, Fut>(rt: &Runtime, iters: u64, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Duration, BenchError>>,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += f()
                .await
                .unwrap_or_else(|e| panic!("measurement failed: {e}"));
        }
        total
    })
}

/// Sum of `iters` runs of an async measurement that borrows a pair.
macro_rules! timed_borrow {
    ($rt:expr, $iters:expr, $e:expr) => {
        $rt.block_on(async {
            let mut total = Duration::ZERO;
            for _ in 0..$iters {
                total += $e
                    .await
                    .unwrap_or_else(|e| panic!("measurement failed: {e}"));
            }
            total
        })
    };
}

/// Sum of `iters` runs of the blocking measurement `f`.
fn timed_sync(iters: u64, mut f: impl FnMut() -> Result<Duration, BenchError>) -> Duration {
    (0..iters)
        .map(|_| f().unwrap_or_else(|e| panic!("measurement failed: {e}")))
        .sum()
}

fn setup(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("setup_direct");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for b in Backend::ALL {
        g.bench_function(b.name(), |bn| {
            bn.iter_custom(|iters| timed(&rt, iters, || b.setup_direct()))
        });
    }
    g.bench_function("raw-str0m", |bn| {
        bn.iter_custom(|iters| timed_sync(iters, raw_str0m::setup))
    });
    g.bench_function("raw-webrtc-rs", |bn| {
        bn.iter_custom(|iters| timed(&rt, iters, raw_webrtcrs::setup))
    });
    g.finish();

    let mut g = c.benchmark_group("setup_bridged");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for b in Backend::ALL {
        g.bench_function(b.name(), |bn| {
            bn.iter_custom(|iters| timed(&rt, iters, || b.setup_bridged()))
        });
    }
    g.finish();
}

/// (message size, messages per iteration)
const TRANSFERS: [(usize, u32); 2] = [(1024, 2000), (16 * 1024, 200)];

fn data(c: &mut Criterion) {
    let rt = rt();
    let mut pairs = Vec::new();
    for b in Backend::ALL {
        pairs.push((
            b,
            rt.block_on(b.pair())
                .unwrap_or_else(|e| panic!("{} pair: {e}", b.name())),
        ));
    }
    let mut raw_s = raw_str0m::RawPair::open().unwrap_or_else(|e| panic!("raw str0m pair: {e}"));
    let mut raw_w = rt
        .block_on(raw_webrtcrs::RawPair::open())
        .unwrap_or_else(|e| panic!("raw webrtc-rs pair: {e}"));

    let mut g = c.benchmark_group("throughput");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (size, count) in TRANSFERS {
        g.throughput(Throughput::Bytes(size as u64 * u64::from(count)));
        for (b, p) in &mut pairs {
            g.bench_with_input(BenchmarkId::new(b.name(), size), &size, |bn, &size| {
                bn.iter_custom(|iters| timed_borrow!(rt, iters, throughput(p, size, count)))
            });
        }
        g.bench_with_input(BenchmarkId::new("raw-str0m", size), &size, |bn, &size| {
            bn.iter_custom(|iters| {
                timed_sync(iters, || raw_str0m::throughput(&mut raw_s, size, count))
            })
        });
        g.bench_with_input(
            BenchmarkId::new("raw-webrtc-rs", size),
            &size,
            |bn, &size| {
                bn.iter_custom(|iters| {
                    timed_borrow!(rt, iters, raw_webrtcrs::throughput(&mut raw_w, size, count))
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("rtt");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (b, p) in &mut pairs {
        g.bench_function(b.name(), |bn| {
            bn.iter_custom(|iters| timed_borrow!(rt, iters, rtt(p)))
        });
    }
    g.bench_function("raw-str0m", |bn| {
        bn.iter_custom(|iters| timed_sync(iters, || raw_str0m::rtt(&mut raw_s)))
    });
    g.bench_function("raw-webrtc-rs", |bn| {
        bn.iter_custom(|iters| timed_borrow!(rt, iters, raw_webrtcrs::rtt(&mut raw_w)))
    });
    g.finish();

    for (_, p) in pairs {
        rt.block_on(p.shutdown());
    }
    rt.block_on(raw_w.close());
}

criterion_group!(benches, setup, data);
criterion_main!(benches);
