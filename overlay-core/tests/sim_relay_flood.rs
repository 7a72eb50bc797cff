//! A neighbour that floods a bridge with signals toward a peer that does not
//! drain its queue cannot grow the bridge's memory without bound: past the
//! queue limit the bridge answers FORWARD_FAILED (busy) instead of queuing.

mod common;

use common::*;
use overlay_core::wire::Frame;
use overlay_core::{HandshakeId, Signal, SignatureBytes, SignedSignal};

#[test]
fn relaying_stops_when_the_target_queue_is_full() -> TestResult {
    let p = proto("flood");
    let mut sim = sim(91);
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    join_ok(&mut sim, c, b, p)?;
    settle(&mut sim)?;
    // The link toward C becomes very slow: B's queue to C only grows.
    sim.net_config_mut().bandwidth = Some(1_000);
    let limit = sim.config().engine.max_reply_queue();
    let sdp = "x".repeat(50_000);
    let flood = 300u64; // 15 MB of signals, well past the 1 MiB reply queue limit.
    let relayed_before = sim.engine(b).stats().relayed;
    for i in 0..flood {
        let frame = Frame::Forward {
            handshake: HandshakeId(i + 1),
            to: sim.peer(c),
            // The bridge relays without checking signatures (C would).
            signal: SignedSignal {
                seq: 0,
                signature: SignatureBytes([0; 64]),
                signal: Signal::Offer { sdp: sdp.clone() },
                more: vec![],
            },
        };
        sim.inject_frame(b, a, frame.encode())?;
    }
    let relayed = sim.engine(b).stats().relayed - relayed_before;
    assert!(
        relayed > 0,
        "B relayed nothing: the test does not exercise relaying"
    );
    assert!(
        relayed < flood,
        "B relayed all {flood} signals toward a peer that drains nothing"
    );
    let bound = (limit + 2 * 50_100) as u64;
    assert!(
        relayed * 50_000 <= bound + sim.config().net.send_window as u64,
        "B queued {relayed} signals of 50 kB, past its {limit}-byte limit"
    );
    // A (the flooder) was told (slowly: the bandwidth limit is global); its
    // engine drops the failures of handshakes it does not know.
    sim.run_for(std::time::Duration::from_secs(30));
    assert!(
        sim.engine(a).stats().dropped_signals >= flood - relayed,
        "A was not answered FORWARD_FAILED for each refused signal"
    );
    Ok(())
}
