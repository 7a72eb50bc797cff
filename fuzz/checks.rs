//! The properties each fuzz target checks. Shared by the cargo-fuzz targets
//! (`fuzz_targets/*.rs`, nightly) and by the stable replay of the corpus
//! (`overlay-core/tests/fuzz_replay.rs`), so the corpus is checked by the
//! normal `cargo test` run. Every function panics when a property fails.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use overlay_core::sim::{NodeId, Sim, SimConfig};
use overlay_core::wire::{Frame, Reassembled, Reassembler};
use overlay_core::{
    BridgeFailure, Config, HandshakeId, Keypair, PeerId, ProtocolId, Signal, SignalEnvelope,
    SignatureBytes, SignedSignal,
};

/// Frame limit used by the decoder targets.
const LIMIT: usize = 64 * 1024;

/// Any bytes: decoding never panics, and what decodes re-encodes to a
/// frame that decodes to the same value.
pub fn frame_decode(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(frame) = Frame::decode(&bytes, LIMIT) {
        let again = frame.encode();
        match Frame::decode(&again, usize::MAX) {
            Ok(back) => assert_eq!(back, frame, "re-encoded frame decodes differently"),
            Err(e) => panic!("re-encoded frame does not decode: {e}"),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum ReassemblyOp {
    Start { total: u32, len: u16 },
    Cont { len: u16 },
    Whole,
    Discard,
}

/// Any sequence of chunks: never panics, never buffers past the limit or
/// past what arrived, and delivers exactly the announced length.
pub fn reassembler(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let limit = usize::from(u.arbitrary::<u16>().unwrap_or(1000));
    let mut r = Reassembler::new(limit);
    let p = proto("fz");
    let mut arrived = 0usize;
    let mut announced = 0usize;
    let Ok(ops) = u.arbitrary_iter::<ReassemblyOp>() else {
        return;
    };
    for op in ops.take(256) {
        let Ok(op) = op else { return };
        let result = match op {
            ReassemblyOp::Start { total, len } => {
                let _ = r.whole();
                arrived = usize::from(len);
                announced = total as usize;
                r.start(p, total, &vec![1u8; usize::from(len)])
            }
            ReassemblyOp::Cont { len } => {
                arrived += usize::from(len);
                r.cont(&vec![2u8; usize::from(len)])
            }
            ReassemblyOp::Whole => {
                let _ = r.whole();
                Ok(Reassembled::Partial)
            }
            ReassemblyOp::Discard => {
                r.discard();
                Ok(Reassembled::Partial)
            }
        };
        assert!(r.buffered() <= limit, "buffered past the limit");
        assert!(r.buffered() <= arrived, "buffered more than arrived");
        match result {
            Ok(Reassembled::Message(_, m)) => {
                assert_eq!(m.len(), announced, "message of the wrong length")
            }
            Ok(Reassembled::Dropped(_, n)) => assert_eq!(n, announced),
            Ok(Reassembled::Partial) | Err(_) => {}
        }
    }
}

/// Any text: parsing a signal envelope or a candidate line never panics, and
/// an envelope that parses serializes back to one that parses the same.
pub fn signal_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = overlay_core::normalize_candidate(text);
    if let Ok(env) = serde_json::from_str::<SignalEnvelope>(text) {
        let json = serde_json::to_string(&env).unwrap_or_default();
        let back: Result<SignalEnvelope, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(env), "envelope does not round-trip");
    }
    if let Ok(sig) = serde_json::from_str::<Signal>(text) {
        let _ = sig.kind();
        let _ = sig.text_len();
    }
}

fn proto(name: &str) -> ProtocolId {
    match ProtocolId::new(name) {
        Ok(p) => p,
        Err(e) => panic!("bad protocol name {name}: {e}"),
    }
}

/// What a hostile neighbour sends (structured, so the fuzzer reaches deep
/// states), or what happens around it.
#[derive(Arbitrary, Debug)]
enum Hostile {
    ArcAdd {
        p: u8,
        count: u32,
    },
    ArcRemove {
        p: u8,
        count: u32,
    },
    ConnectTo {
        op: u8,
        p: u8,
        to: u8,
        count: u32,
    },
    ConnectDone {
        op: u8,
        failure: Option<u8>,
    },
    Forward {
        h: u8,
        to: u8,
        sig: u8,
    },
    Forwarded {
        h: u8,
        origin: u8,
        sig: u8,
    },
    ForwardFailed {
        h: u8,
        reason: u8,
    },
    Data {
        p: u8,
        len: u16,
    },
    DataStart {
        p: u8,
        total: u32,
        len: u16,
    },
    DataCont {
        len: u16,
    },
    Raw(Vec<u8>),
    /// Let virtual time pass (milliseconds).
    Wait(u16),
    /// The honest neighbour sends the victim a message.
    Honest(u8),
}

const PROTOCOLS: [&str; 4] = ["hostile", "p1", "p2", "p3"];

fn pick_protocol(p: u8) -> ProtocolId {
    if usize::from(p) < PROTOCOLS.len() * 48 {
        proto(PROTOCOLS[usize::from(p) % PROTOCOLS.len()])
    } else {
        proto(&format!("x{p}"))
    }
}

fn stranger(i: u8) -> PeerId {
    let mut b = [0x33u8; 32];
    b[0] = i;
    PeerId::from_bytes(b)
}

fn pick_peer(sim: &Sim, nodes: &[NodeId; 3], i: u8) -> PeerId {
    match i % 8 {
        0..=2 => sim.peer(nodes[usize::from(i % 8)]),
        _ => stranger(i),
    }
}

/// A signal, signed by `origin` (one of the attacker's own keys when
/// `sign`, else an invalid signature).
fn pick_signal(
    s: u8,
    origin: Option<&Keypair>,
    to: &PeerId,
    handshake: HandshakeId,
) -> SignedSignal {
    let signal = match s % 4 {
        0 => Signal::Offer { sdp: "v=0".into() },
        1 => Signal::Answer { sdp: "v=0".into() },
        2 => Signal::candidate("candidate:1 1 udp 1 10.0.0.1 9 typ host"),
        _ => Signal::EndOfCandidates,
    };
    let seq = u32::from(s / 4 % 4);
    match origin {
        Some(k) => SignedSignal::sign(k, Some(to), handshake, seq, signal),
        None => SignedSignal {
            seq,
            signature: SignatureBytes([0; 64]),
            signal,
            more: Vec::new(),
        },
    }
}

/// The attacker's keys for made-up origins.
fn attacker_key(i: u8) -> Keypair {
    Keypair::from_secret_bytes([i | 1; 32])
}

fn failure(code: u8) -> BridgeFailure {
    match code % 7 {
        0 => BridgeFailure::NotNeighbour,
        1 => BridgeFailure::SelfConnection,
        2 => BridgeFailure::Timeout,
        3 => BridgeFailure::ConnectionLost,
        4 => BridgeFailure::Transport,
        5 => BridgeFailure::Busy,
        _ => BridgeFailure::Other,
    }
}

/// Small limits so the fuzzer reaches them.
fn engine_config() -> Config {
    Config::default()
        .with_max_message_size(4096)
        .with_send_queue_limit(8192)
        .with_max_frame_size(1024)
        .with_max_arcs_per_pair(16)
        .with_max_protocols_per_connection(4)
        .with_max_pending(16)
        .with_max_pending_per_neighbour(4)
        .with_max_coalesced(4)
        .with_max_reassembly_memory(4096)
        .with_max_reply_queue(4096)
        .with_pending_timeout(Duration::from_secs(2))
        .with_dying_timeout(Duration::from_secs(5))
}

/// Simulation seeds the engine harness draws from. A seed fixes the three
/// nodes' keys (so the order of their ids, which decides glare), their
/// handshake ids and the network's draws. A small set lets every input
/// reuse the same identities and setup handshakes, whose Ed25519 work the
/// fuzz build memoizes (`ed25519-memo`); it is large enough that every
/// order of the three ids occurs (checked by `fuzz_replay.rs`).
pub const ENGINE_SEEDS: u64 = 32;

/// The simulation of `seed` and its three nodes `[a, b, c]` (not joined).
fn engine_setup(seed: u64, config: &Config) -> (Sim, [NodeId; 3]) {
    let mut sim = Sim::new(
        SimConfig::new(seed)
            .with_engine(config.clone())
            .with_record_outputs(false),
    );
    let nodes = [sim.add_node(), sim.add_node(), sim.add_node()];
    (sim, nodes)
}

/// For each order of the three ids (which of `A`, `B`, `C` is lowest,
/// middle, highest), the seeds in `0..ENGINE_SEEDS` that give it.
pub fn engine_seed_orders() -> std::collections::BTreeMap<[usize; 3], Vec<u64>> {
    let mut orders = std::collections::BTreeMap::new();
    for seed in 0..ENGINE_SEEDS {
        let (sim, nodes) = engine_setup(seed, &engine_config());
        let mut order = [0usize, 1, 2];
        order.sort_by_key(|i| sim.peer(nodes[*i]));
        orders.entry(order).or_insert_with(Vec::new).push(seed);
    }
    orders
}

/// A hostile neighbour `A` sends the victim `B` any frame sequence while
/// `C`, an honest neighbour of `B`, talks to it. Nothing panics; `B`'s
/// tables stay within its limits at every step; once `A` is gone and the
/// network is quiet, the global invariants hold and `C` still reaches `B`.
pub fn engine_hostile(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let seed = u.arbitrary::<u64>().unwrap_or(0) % ENGINE_SEEDS;
    let config = engine_config();
    let (mut sim, nodes) = engine_setup(seed, &config);
    let [a, b, c] = nodes;
    let p = proto("hostile");
    for n in [a, c] {
        let Ok(op) = sim.join(n, b, p) else {
            panic!("join refused")
        };
        let done = sim.run_until_complete(op, Duration::from_secs(60));
        assert!(done.is_some_and(|d| d.result.is_ok()), "setup join failed");
    }
    let Ok(ops) = u.arbitrary_iter::<Hostile>() else {
        return;
    };
    for op in ops.take(64) {
        let Ok(op) = op else { break };
        let frame = match op {
            Hostile::ArcAdd { p, count } => Frame::ArcAdd {
                protocol: pick_protocol(p),
                count,
            }
            .encode(),
            Hostile::ArcRemove { p, count } => Frame::ArcRemove {
                protocol: pick_protocol(p),
                count,
            }
            .encode(),
            Hostile::ConnectTo { op, p, to, count } => Frame::ConnectTo {
                req: overlay_core::RequestId(u64::from(op)),
                protocol: pick_protocol(p),
                to: pick_peer(&sim, &nodes, to),
                count,
            }
            .encode(),
            Hostile::ConnectDone { op, failure: f } => Frame::ConnectDone {
                req: overlay_core::RequestId(u64::from(op)),
                failure: f.map(failure),
            }
            .encode(),
            Hostile::Forward { h, to, sig } => {
                let to = pick_peer(&sim, &nodes, to);
                let handshake = HandshakeId(u64::from(h));
                Frame::Forward {
                    handshake,
                    to,
                    signal: pick_signal(sig, None, &to, handshake),
                }
                .encode()
            }
            Hostile::Forwarded { h, origin, sig } => {
                let handshake = HandshakeId(u64::from(h));
                let victim = sim.peer(b);
                // Made-up origins are the attacker's keys (well signed);
                // real peers' signals cannot be signed by the attacker.
                let (origin, key) = if origin % 8 < 3 {
                    (pick_peer(&sim, &nodes, origin), None)
                } else {
                    let k = attacker_key(origin);
                    (k.peer_id(), Some(k))
                };
                Frame::Forwarded {
                    handshake,
                    origin,
                    signal: pick_signal(sig, key.as_ref(), &victim, handshake),
                }
                .encode()
            }
            Hostile::ForwardFailed { h, reason } => Frame::ForwardFailed {
                handshake: HandshakeId(u64::from(h)),
                reason: failure(reason),
            }
            .encode(),
            Hostile::Data { p, len } => Frame::Data {
                protocol: pick_protocol(p),
                payload: Bytes::from(vec![0u8; usize::from(len) % 2048]),
            }
            .encode(),
            Hostile::DataStart { p, total, len } => Frame::DataStart {
                protocol: pick_protocol(p),
                total_len: total % 8192,
                chunk: Bytes::from(vec![0u8; usize::from(len) % 1000]),
            }
            .encode(),
            Hostile::DataCont { len } => Frame::DataCont {
                chunk: Bytes::from(vec![0u8; usize::from(len) % 1000]),
            }
            .encode(),
            Hostile::Raw(bytes) => Bytes::from(bytes),
            Hostile::Wait(ms) => {
                sim.run_for(Duration::from_millis(u64::from(ms)));
                check_bounds(&sim, b, &config);
                continue;
            }
            Hostile::Honest(n) => {
                let _ = sim.send(c, p, b, Bytes::from(vec![n; usize::from(n) * 16]));
                continue;
            }
        };
        if sim.inject_frame(b, a, frame).is_err() {
            // B cut A off (or A's connection is gone): the attack is over.
            break;
        }
        check_bounds(&sim, b, &config);
    }
    sim.crash(a);
    assert!(
        sim.run_until_quiet(Duration::from_secs(600)),
        "the network never got quiet"
    );
    check_bounds(&sim, b, &config);
    if let Err(e) = sim.check_invariants() {
        panic!("invariants broken after a hostile neighbour: {e}");
    }
    // The honest neighbour still reaches the victim.
    let before = sim.stats().messages_delivered;
    assert!(
        sim.send(c, p, b, Bytes::from_static(b"still here")).is_ok(),
        "C lost B"
    );
    sim.run_for(Duration::from_secs(5));
    assert!(
        sim.stats().messages_delivered > before,
        "C's message never arrived"
    );
}

/// The victim's tables stay within its limits.
fn check_bounds(sim: &Sim, b: NodeId, config: &Config) {
    let e = sim.engine(b);
    assert!(e.reassembly_memory() <= config.max_reassembly_memory());
    let conns = e.connections();
    let pending = conns.iter().filter(|c| c.state.is_pending()).count();
    assert!(pending <= config.max_pending(), "{pending} pending");
    for c in &conns {
        assert!(
            c.arcs.len() <= config.max_protocols_per_connection(),
            "{} protocols on one connection",
            c.arcs.len()
        );
        for (_, a) in &c.arcs {
            assert!(
                a.out <= config.max_arcs_per_pair() && a.incoming <= config.max_arcs_per_pair()
            );
        }
        assert!(
            c.control_memory <= config.max_reply_queue() + 2 * config.max_frame_size() + 128,
            "reply queue at {} bytes",
            c.control_memory
        );
    }
}
