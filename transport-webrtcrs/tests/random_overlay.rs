//! 50 webrtc-rs nodes on one box build a random overlay by bridging: every
//! node joins a random earlier one out-of-band (a random tree), then random
//! nodes bridge random pairs of their neighbours. Every bridge's arc opens,
//! and the overlay invariant holds on every node: both ends of every arc
//! agree, arcs ride living connections only, living connections carry arcs.
//! Prints resident memory, threads, tokio tasks and sockets per node. (The
//! overlay and its check are shared with the str0m backend's test:
//! `n2n_test_support::overlay`.)

mod common;

use common::{open_sockets, proc_status, rss_kib};
use n2n_test_support::overlay::RandomOverlay;
use overlay_core::ProtocolId;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rtc_common::RtcConfig;
use transport_webrtcrs::{TaskProbe, WebRtcTransport};

const NODES: usize = 50;
const BRIDGES: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_webrtcrs_nodes_build_a_random_overlay() -> common::TestResult {
    common::init_tracing();
    let proto = ProtocolId::new("random-overlay")?;
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let (rss0, threads0, sockets0) = (rss_kib(), proc_status("Threads:"), open_sockets());
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks0 = metrics.num_alive_tasks();

    let mut transports = Vec::new();
    let mut probes: Vec<TaskProbe> = Vec::new();
    for _ in 0..NODES {
        let transport = WebRtcTransport::bind(&RtcConfig::loopback())?;
        probes.push(transport.task_probe());
        transports.push(transport);
    }
    let overlay = RandomOverlay::spawn(proto, transports).await?;

    let grown = overlay.grow(&mut rng, BRIDGES).await?;
    let (built, arcs, connections) = (grown.took, grown.arcs, grown.connection_ends);

    let rss = rss_kib().saturating_sub(rss0);
    let threads = proc_status("Threads:").saturating_sub(threads0);
    let tasks = metrics.num_alive_tasks().saturating_sub(tasks0);
    let ours: usize = probes.iter().map(TaskProbe::live_tasks).sum();
    let sockets = open_sockets().saturating_sub(sockets0);
    println!(
        "{NODES} webrtc-rs nodes, {BRIDGES} bridges in {:.2} s: {arcs} arcs over {} connections ({connections} ends)\n\
         per node: resident memory {} KiB, {:.1} tokio tasks ({:.1} of them this crate's connection tasks), \
         {:.2} UDP sockets (one per connection); threads in the process grew by {threads} (tokio workers are shared)",
        built.as_secs_f64(),
        connections / 2,
        rss / NODES as u64,
        tasks as f64 / NODES as f64,
        ours as f64 / NODES as f64,
        sockets as f64 / NODES as f64,
    );
    assert_eq!(sockets, connections, "one UDP socket per connection end");

    overlay.shutdown().await;
    drop(overlay);
    common::eventually("every connection task ends after shutdown", || {
        probes.iter().all(|p| p.live_tasks() == 0)
    })
    .await;
    Ok(())
}
