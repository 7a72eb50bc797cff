//! 50 nodes on one box build a random overlay by bridging: every node joins
//! a random earlier one out-of-band (a random tree), then random nodes
//! bridge random pairs of their neighbours. Every bridge's arc opens, and
//! the overlay invariant holds on every node: both ends of every arc agree,
//! arcs ride living connections only, living connections carry arcs.
//! Prints resident memory and sockets per node. (The overlay and its
//! check are shared with the webrtc-rs backend's test:
//! `n2n_test_support::overlay`.)

mod common;

use common::{open_sockets, rss_kib, TestResult};
use n2n_test_support::overlay::RandomOverlay;
use overlay_core::ProtocolId;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

const NODES: usize = 50;
const BRIDGES: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_build_a_random_overlay_by_bridging() -> TestResult {
    common::init_log();
    let proto = ProtocolId::new("random-overlay")?;
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let (rss0, sockets0) = (rss_kib(), open_sockets());

    let transports = (0..NODES)
        .map(|_| Str0mTransport::bind(&RtcConfig::loopback()))
        .collect::<Result<Vec<_>, _>>()?;
    let overlay = RandomOverlay::spawn(proto, transports).await?;
    let sockets = open_sockets() - sockets0;

    let grown = overlay.grow(&mut rng, BRIDGES).await?;
    let (built, arcs, connections) = (grown.took, grown.arcs, grown.connection_ends);

    let rss = rss_kib().saturating_sub(rss0);
    println!(
        "{NODES} nodes, {BRIDGES} bridges in {:.2} s: {arcs} arcs, {} connections (both ends counted: {connections}); \
         sockets per node {:.2}; resident memory growth {} KiB total, {} KiB per node",
        built.as_secs_f64(),
        connections / 2,
        sockets as f64 / NODES as f64,
        rss,
        rss / NODES as u64
    );
    assert_eq!(sockets, NODES, "one UDP socket per node");
    overlay.shutdown().await;
    Ok(())
}
