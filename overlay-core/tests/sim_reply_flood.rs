//! A neighbour that floods requests and never reads the answers cannot grow
//! our queue toward it without bound: past the queue limit its frames are
//! refused as bad frames, and it is disconnected.

mod common;

use bytes::Bytes;
use common::*;
use overlay_core::sim::{Sim, SimConfig};
use overlay_core::wire::Frame;
use overlay_core::{
    ArcCloseReason, Config, Direction, HandshakeId, PeerId, Signal, SignatureBytes, SignedSignal,
};

#[test]
fn a_peer_that_never_reads_is_cut_off() -> TestResult {
    let p = proto("flood");
    let engine = Config::default()
        .with_max_message_size(16 * 1024)
        .with_send_queue_limit(16 * 1024);
    let mut sim = Sim::new(
        SimConfig::new(92)
            .with_engine(engine)
            .with_record_outputs(true),
    );
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    // A stops reading: B's answers to it only pile up.
    sim.net_config_mut().bandwidth = Some(1);
    let stranger = PeerId::from_bytes([7; 32]);
    let max_bad = u64::from(sim.config().engine.max_bad_frames);
    let mut sent = 0u64;
    // Each FORWARD toward a non-neighbour gets a FORWARD_FAILED answer.
    while sim.conn_between(b, a).is_some() && sent < 100_000 {
        let frame = Frame::Forward {
            handshake: HandshakeId(sent + 1),
            to: stranger,
            signal: SignedSignal {
                seq: 0,
                signature: SignatureBytes([0; 64]),
                signal: Signal::EndOfCandidates,
            },
        };
        let bytes: Bytes = frame.encode();
        sim.inject_frame(b, a, bytes)?;
        sent += 1;
    }
    assert!(
        sim.conn_between(b, a).is_none(),
        "B still holds the flooding connection after {sent} requests"
    );
    // B answered until its queue to A held more than the limit, then refused
    // max_bad_frames more frames and cut A off.
    let answered = sent - max_bad;
    let reply_len = Frame::ForwardFailed {
        handshake: HandshakeId(1),
        reason: overlay_core::BridgeFailure::NotNeighbour,
    }
    .encode()
    .len() as u64;
    assert!(
        answered * reply_len > 16 * 1024,
        "cut off before the queue limit: {answered} answers"
    );
    assert!(
        answered * reply_len < 16 * 1024 + 64 * 1024 + sim.config().net.send_window as u64,
        "queued far past the limit: {answered} answers"
    );
    let closed = closes(&sim, b, p, sim.peer(a));
    assert!(
        closed
            .iter()
            .any(|(d, r)| *d == Direction::In && *r == ArcCloseReason::ProtocolViolation),
        "B's arc from A must close as a protocol violation, got {closed:?}"
    );
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 1);
    Ok(())
}
