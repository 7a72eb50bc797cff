//! Criterion benches: setup (direct, bridged), throughput and round trip,
//! per backend, side by side.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use n2n_benches::{pair, rtt, setup_bridged, setup_direct, throughput};
use overlay_core::MemoryNetwork;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

fn setup(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("setup_direct");
    g.sample_size(20);
    let net = MemoryNetwork::new();
    let mut make = || {
        let net = net.clone();
        async move { net.transport() }
    };
    g.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += setup_direct(&mut make).await.unwrap_or_else(|e| panic!("setup: {e}"));
                }
                total
            })
        })
    });
    g.finish();
    let mut g = c.benchmark_group("setup_bridged");
    g.sample_size(20);
    g.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += setup_bridged(&mut make).await.unwrap_or_else(|e| panic!("bridged: {e}"));
                }
                total
            })
        })
    });
    g.finish();
}

fn data(c: &mut Criterion) {
    let rt = runtime();
    let net = MemoryNetwork::new();
    let mut make = || {
        let net = net.clone();
        async move { net.transport() }
    };
    let mut p = rt.block_on(pair(&mut make)).unwrap_or_else(|e| panic!("pair: {e}"));
    let mut g = c.benchmark_group("throughput");
    g.sample_size(10);
    for size in [1024usize, 16 * 1024] {
        let count = 1000u32;
        g.throughput(Throughput::Bytes((size as u64) * u64::from(count)));
        g.bench_with_input(BenchmarkId::new("memory", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += throughput(&mut p, size, count).await.unwrap_or_else(|e| panic!("throughput: {e}"));
                    }
                    total
                })
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("rtt");
    g.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rtt(&mut p).await.unwrap_or_else(|e| panic!("rtt: {e}"));
                }
                total
            })
        })
    });
    g.finish();
}

criterion_group!(benches, setup, data);
criterion_main!(benches);
