//! A neighbour that floods requests and never reads the answers cannot grow
//! our queue toward it without bound: past the reply queue limit (memory,
//! per-frame bookkeeping included) its requests are refused and counted.
//! It is not cut as a protocol violator: an honest but slow peer looks the
//! same, and once it reads again it is served again.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use overlay_core::sim::{NetConfig, SimConfig};
use overlay_core::wire::Frame;
use overlay_core::{Config, HandshakeId, PeerId, Signal, SignatureBytes, SignedSignal};

fn forward(i: u64, to: PeerId) -> Bytes {
    Frame::Forward {
        handshake: HandshakeId(i + 1),
        to,
        signal: SignedSignal {
            seq: 0,
            signature: SignatureBytes([0; 64]),
            signal: Signal::EndOfCandidates,
            more: vec![],
        },
    }
    .encode()
}

#[test]
fn a_peer_that_never_reads_costs_bounded_memory_and_is_not_cut() -> TestResult {
    let p = proto("flood");
    let engine = Config::default().with_max_reply_queue(16 * 1024);
    let mut sim = sim_with(
        SimConfig::new(92)
            .with_net(NetConfig::default().with_send_window(4096))
            .with_engine(engine)
            .with_record_outputs(true),
    );
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    // A stops reading: B's answers to it only pile up.
    sim.net_config_mut().bandwidth = Some(1);
    let stranger = PeerId::from_bytes([7; 32]);
    let flood: u64 = std::env::var("FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut peak = 0;
    for i in 0..flood {
        // Each FORWARD toward a non-neighbour gets a FORWARD_FAILED answer.
        sim.inject_frame(b, a, forward(i, stranger))?;
        let info = sim
            .engine(b)
            .connections()
            .into_iter()
            .find(|c| c.peer == Some(sim.peer(a)))
            .ok_or("B dropped its connection to the slow peer")?;
        peak = peak.max(info.control_memory);
    }
    let limit = sim.config().engine.max_reply_queue();
    let reply = forward(0, stranger).len() + 64;
    assert!(
        peak <= limit + reply,
        "B's reply queue toward A reached {peak} bytes of memory, limit {limit}"
    );
    let refused = sim.engine(b).stats().refused_requests;
    assert!(
        refused > flood / 2,
        "only {refused} of {flood} requests refused: the queue must be bounded"
    );
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 0);
    assert!(
        closes(&sim, b, p, sim.peer(a)).is_empty(),
        "B closed its arc from the slow peer"
    );
    // A reads again: B drains, and answers its requests again.
    sim.net_config_mut().bandwidth = None;
    // (what the slow link already holds still drains at 1 byte/s)
    sim.run_for(Duration::from_secs(3 * 3600));
    let before = sim.engine(b).stats().refused_requests;
    sim.inject_frame(b, a, forward(flood, stranger))?;
    assert_eq!(sim.engine(b).stats().refused_requests, before);
    settle_and_check(&mut sim)
}
