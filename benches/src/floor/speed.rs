//! Round trips and one-way throughput of the overlay on str0m against the
//! tuned raw str0m loop, with the same threads: each overlay peer (node
//! and application) on a thread of its own ([`crate::backend::ThreadedPair`]),
//! each raw peer on a loop thread of its own ([`raw_str0m`]). Both pairs
//! are opened fresh each round and measured alternately (which goes first
//! alternates with the round), so each round's ratio compares the two in
//! the same minute.

use std::time::Duration;

use super::goal::Goal;
use super::samples::Samples;
use super::table::{cell, int, Row};
use crate::backend::ThreadedPair;
use crate::{median, raw_str0m, Backend, BenchError};

/// Sizes of the speed measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeedPlan {
    /// Round trips per round (their median is the round's sample).
    pub rtts: usize,
    /// 1 KiB messages per transfer.
    pub count_1k: u32,
    /// 16 KiB messages per transfer.
    pub count_16k: u32,
}

const RTT: [&str; 3] = ["rtt.overlay", "rtt.floor", "rtt.floor_one_thread"];

/// The transfers: figure name, message size, count.
fn transfers(plan: SpeedPlan) -> [(&'static str, &'static str, usize, u32); 2] {
    [
        ("tput1k", "1 KiB", 1024, plan.count_1k),
        ("tput16k", "16 KiB", 16 * 1024, plan.count_16k),
    ]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One round: RTT (if `rtt`) then throughput (if `tput`) on fresh pairs.
pub fn measure(
    rt: &tokio::runtime::Runtime,
    plan: SpeedPlan,
    rtt: bool,
    tput: bool,
    round: usize,
    s: &mut Samples,
) {
    let mut keys: Vec<String> = Vec::new();
    if rtt {
        keys.extend(RTT.iter().map(|k| (*k).to_owned()));
    }
    if tput {
        for (name, ..) in transfers(plan) {
            keys.push(format!("{name}.overlay"));
            keys.push(format!("{name}.floor"));
        }
    }
    let mut got: Vec<(String, f64)> = Vec::new();
    let result = (|| -> Result<(), BenchError> {
        let mut overlay = rt.block_on(Backend::Str0m.threaded_pair())?;
        let mut raw = raw_str0m::RawPair::open()?;
        let raw_first = round % 2 == 0;
        if rtt {
            let warm = plan.rtts / 10 + 1;
            let o = || -> Result<f64, BenchError> {
                rt.block_on(overlay.rtt_samples(warm))?;
                Ok(us(median(
                    &mut rt.block_on(overlay.rtt_samples(plan.rtts))?,
                )))
            };
            let r = || -> Result<f64, BenchError> {
                raw_str0m::rtt_samples(&mut raw, warm)?;
                Ok(us(median(&mut raw_str0m::rtt_samples(
                    &mut raw, plan.rtts,
                )?)))
            };
            let (ov, fl) = overlay_and_floor(raw_first, o, r)?;
            let mut one = (0..plan.rtts.clamp(1, 50))
                .map(|_| raw_str0m::rtt_one_thread(&mut raw))
                .collect::<Result<Vec<_>, _>>()?;
            got.extend([
                (RTT[0].to_owned(), ov),
                (RTT[1].to_owned(), fl),
                (RTT[2].to_owned(), us(median(&mut one))),
            ]);
        }
        if tput {
            for (name, _, size, count) in transfers(plan) {
                let mb = |d: Duration| size as f64 * f64::from(count) / 1e6 / d.as_secs_f64();
                // Warm-up, a tenth of the transfer each.
                rt.block_on(overlay.throughput(size, count / 10 + 1))?;
                raw_str0m::throughput(&mut raw, size, count / 10 + 1)?;
                let o = || -> Result<f64, BenchError> {
                    Ok(mb(rt.block_on(overlay.throughput(size, count))?))
                };
                let r = || -> Result<f64, BenchError> {
                    Ok(mb(raw_str0m::throughput(&mut raw, size, count)?))
                };
                let (ov, fl) = overlay_and_floor(raw_first, o, r)?;
                got.push((format!("{name}.overlay"), ov));
                got.push((format!("{name}.floor"), fl));
            }
        }
        rt.block_on(ThreadedPair::shutdown(overlay));
        Ok(())
    })();
    match result {
        Ok(()) => {
            for (k, v) in got {
                s.push(&k, v);
            }
        }
        Err(e) => {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            s.fail(&keys, round, "speed", &e.to_string());
        }
    }
}

/// The RTT row.
pub fn rtt_rows(plan: SpeedPlan, s: &Samples) -> Vec<Row> {
    let f = |v: f64| format!("{v:.0} µs");
    let ratio = s.ratio(RTT[0], RTT[1]);
    let one = cell(s.get(RTT[2]), f);
    vec![Row::new(
        format!(
            "RTT 32 B, str0m: each peer (node + application) on a thread of its own vs raw str0m with a loop thread per peer (2 threads each); fresh pairs, median of {} round trips per round",
            plan.rtts
        ),
        Goal::AtMost(1.3),
        &ratio,
    )
    .overlay(cell(s.get(RTT[0]), f))
    .floor(cell(s.get(RTT[1]), f))
    .ratio(&ratio)
    .notes(format!(
        "raw str0m with both peers on one busy thread (str0m's own cost, no wake-ups): {one}; the rest of a round trip is thread wake-ups and hand-offs (benches/RTT.md)"
    ))]
}

/// The two throughput rows.
pub fn tput_rows(plan: SpeedPlan, s: &Samples) -> Vec<Row> {
    let f = |v: f64| format!("{v:.1} MB/s");
    transfers(plan)
        .into_iter()
        .map(|(name, label, _, count)| {
            let (o, fl) = (format!("{name}.overlay"), format!("{name}.floor"));
            let ratio = s.ratio(&o, &fl);
            Row::new(
                format!(
                    "one-way {label} ({} messages, all received, order checked) vs the tuned raw str0m loop, a thread per peer",
                    int(f64::from(count))
                ),
                Goal::AtLeast(0.9),
                &ratio,
            )
            .overlay(cell(s.get(&o), f))
            .floor(cell(s.get(&fl), f))
            .ratio(&ratio)
            .notes("the application streams with `ProtocolHandle::feed` + `flush`; throughput moves 2-5x between runs on this shared machine (benches/RTT.md)")
        })
        .collect()
}

/// Measure the overlay (`o`) and its floor (`r`), the floor first when
/// `raw_first` (alternated by round, so neither side always gets the
/// warmer machine); (overlay, floor).
fn overlay_and_floor(
    raw_first: bool,
    mut o: impl FnMut() -> Result<f64, BenchError>,
    mut r: impl FnMut() -> Result<f64, BenchError>,
) -> Result<(f64, f64), BenchError> {
    if raw_first {
        let fl = r()?;
        Ok((o()?, fl))
    } else {
        let ov = o()?;
        Ok((ov, r()?))
    }
}
