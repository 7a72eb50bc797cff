//! Crash detection: a pair of overlay nodes with the transports' defaults
//! (each node on a thread of its own), one end crashes (its thread's
//! runtime is dropped: the node's task and its transport, sockets
//! included, stop without a close message, as when a process dies), and
//! the time until the other end's application is told the arc closed.
//! Both ends take a turn at crashing; a round's sample is the slower of
//! the two. The same pair set up again and closed gracefully
//! (`Node::shutdown`) gives the time a graceful close takes to be seen.

use std::future::Future;
use std::time::{Duration, Instant};

use overlay_core::{ArcCloseReason, Event, Transport};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::WebRtcTransport;

use super::goal::Goal;
use super::samples::Samples;
use super::table::{cell, Row};
use crate::backend::{connected_on, PeerThread};
use crate::{Backend, BenchError, BenchPeer};

/// Longest a survivor is given to notice (the default silence timeout is 4 s).
const LIMIT: Duration = Duration::from_secs(20);

/// How an end leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// Its runtime is dropped: no close message.
    Crash,
    /// `Node::shutdown`: every connection closed.
    Graceful,
}

/// Which end leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The end that opened the connection.
    Initiator,
    /// The end that accepted it.
    Acceptor,
}

/// Until `peer`'s application sees the arc close; the reason.
async fn until_closed(peer: &mut BenchPeer) -> Result<ArcCloseReason, BenchError> {
    loop {
        match tokio::time::timeout(LIMIT, peer.events.recv()).await {
            Ok(Some(Event::ArcClosed { reason, .. })) => return Ok(reason),
            Ok(Some(_)) => {}
            Ok(None) => return Err("the surviving node stopped".into()),
            Err(_) => return Err(format!("not noticed within {LIMIT:?}").into()),
        }
    }
}

/// One pair, one end leaving; the time until the other noticed.
async fn once<T, F, M>(make: &M, end: End, leave: Leave) -> Result<Duration, BenchError>
where
    T: Transport,
    F: Future<Output = Result<T, BenchError>> + Send + 'static,
    M: FnMut() -> F + Clone + Send + 'static,
{
    let threads = [
        PeerThread::start("floor-initiator")?,
        PeerThread::start("floor-acceptor")?,
    ];
    let (a, b) = connected_on(&threads, &mut make.clone()).await?;
    // An established, idle connection (keep-alives running).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let [ta, tb] = threads;
    let (left_thread, kept_thread, left, mut kept) = match end {
        End::Initiator => (ta, tb, a, b),
        End::Acceptor => (tb, ta, b, a),
    };
    let start = match leave {
        Leave::Crash => {
            // Stops the thread's runtime and drops every task on it: the
            // node's driver and its transport, without a word to the remote.
            drop(left_thread);
            Instant::now()
        }
        Leave::Graceful => {
            let start = Instant::now();
            left.node.shutdown().await;
            start
        }
    };
    let reason = until_closed(&mut kept).await;
    let took = start.elapsed();
    drop(left);
    kept.node.shutdown().await;
    drop(kept);
    drop(kept_thread);
    let reason = reason?;
    let expected = match leave {
        Leave::Crash => matches!(
            reason,
            ArcCloseReason::TimedOut | ArcCloseReason::ConnectionLost(_)
        ),
        Leave::Graceful => reason == ArcCloseReason::ConnectionClosed,
    };
    if !expected {
        return Err(format!("{leave:?} of the {end:?} reported as \"{reason}\"").into());
    }
    Ok(took)
}

async fn backend_once(b: Backend, end: End, leave: Leave) -> Result<Duration, BenchError> {
    match b {
        Backend::Str0m => {
            let make =
                || async { Ok::<_, BenchError>(Str0mTransport::bind(&RtcConfig::loopback())?) };
            once(&make, end, leave).await
        }
        Backend::WebRtcRs => {
            let make =
                || async { Ok::<_, BenchError>(WebRtcTransport::bind(&RtcConfig::loopback())?) };
            once(&make, end, leave).await
        }
        Backend::Memory => Err("the memory transport has no crash detection to measure".into()),
    }
}

fn key(b: Backend, what: &str) -> String {
    format!("crash.{}.{what}", b.name())
}

/// The backends measured.
const BACKENDS: [Backend; 2] = [Backend::Str0m, Backend::WebRtcRs];

/// One round: on each backend, the initiator crashes, the acceptor
/// crashes, the acceptor closes gracefully.
pub fn measure(rt: &tokio::runtime::Runtime, round: usize, s: &mut Samples) {
    for b in BACKENDS {
        eprintln!("floor: round {round}, crash detection on {} ...", b.name());
        let mut worst = 0f64;
        let mut failed = false;
        for (end, what) in [(End::Initiator, "initiator"), (End::Acceptor, "acceptor")] {
            let k = key(b, what);
            match rt.block_on(backend_once(b, end, Leave::Crash)) {
                Ok(d) => {
                    s.push(&k, d.as_secs_f64());
                    worst = worst.max(d.as_secs_f64());
                }
                Err(e) => {
                    failed = true;
                    s.fail(
                        &[&k],
                        round,
                        &format!("{} {what} crash", b.name()),
                        &e.to_string(),
                    );
                }
            }
        }
        s.push(&key(b, "worst"), if failed { f64::NAN } else { worst });
        let k = key(b, "graceful");
        match rt.block_on(backend_once(b, End::Acceptor, Leave::Graceful)) {
            Ok(d) => s.push(&k, d.as_secs_f64() * 1e3),
            Err(e) => s.fail(
                &[&k],
                round,
                &format!("{} graceful close", b.name()),
                &e.to_string(),
            ),
        }
    }
}

/// One row per backend.
pub fn rows(s: &Samples) -> Vec<Row> {
    let sec = |v: f64| format!("{v:.2} s");
    BACKENDS
        .into_iter()
        .map(|b| {
            let worst = s.get(&key(b, "worst"));
            Row::new(
                format!(
                    "crashed neighbour noticed, {} (defaults: silence timeout 4 s, keep-alive 1 s): one end's runtime dropped without a close, until the other's application sees the arc close; the slower of the two ends per round",
                    b.name()
                ),
                Goal::AllAtMost(5.0),
                worst,
            )
            .goal_text("≤ 5 s")
            .overlay(cell(worst, sec))
            .notes(format!(
                "initiator crashed: {}, acceptor crashed: {}; a graceful close is seen after {}",
                cell(s.get(&key(b, "initiator")), sec),
                cell(s.get(&key(b, "acceptor")), sec),
                cell(s.get(&key(b, "graceful")), |v| format!("{v:.1} ms"))
            ))
        })
        .collect()
}
