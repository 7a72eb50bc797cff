//! Attacks by one hostile neighbour (frames injected as if it sent them).
//! Each fails on the engine before the per-neighbour limits: the node must
//! keep serving its honest neighbours, with memory bounded by its limits.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use overlay_core::sim::{NodeId, Sim, SimConfig};
use overlay_core::wire::Frame;
use overlay_core::{
    ArcCloseReason, Config, ConnState, Direction, Event, HandshakeId, Keypair, PeerId, ProtocolId,
    Signal, SignedSignal,
};

/// `a` joined `b` (one arc a -> b), settled.
fn pair(seed: u64, engine: Config) -> Result<(Sim, NodeId, NodeId, ProtocolId), String> {
    let p = proto("hostile");
    let mut sim = sim_with(
        SimConfig::new(seed)
            .with_engine(engine)
            .with_record_outputs(true),
    );
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p).map_err(|e| e.to_string())?;
    settle(&mut sim)?;
    Ok((sim, a, b, p))
}

fn stranger(i: u64) -> PeerId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    bytes[31] = 0x5a;
    PeerId::from_bytes(bytes)
}

fn arc_events(sim: &Sim, node: NodeId, p: ProtocolId) -> usize {
    sim.events(node, p)
        .iter()
        .filter(|e| matches!(e, Event::ArcOpened { .. } | Event::ArcClosed { .. }))
        .count()
}

#[test]
fn arcs_beyond_the_per_pair_limit_are_a_violation() -> TestResult {
    let (mut sim, a, b, p) = pair(201, Config::default())?;
    let frame = Frame::ArcAdd {
        protocol: p,
        count: u32::MAX,
    };
    sim.inject_frame(b, a, frame.encode())?;
    assert!(
        sim.conn_between(b, a).is_none() || sim.engine(b).connection_state(&sim.peer(a)).is_none(),
        "B kept a neighbour that announced 2^32-1 arcs"
    );
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 1);
    assert!(closes(&sim, b, p, sim.peer(a))
        .iter()
        .any(|(_, r)| *r == ArcCloseReason::ProtocolViolation));
    settle_and_check(&mut sim)
}

#[test]
fn many_arcs_open_and_close_with_one_event_per_change() -> TestResult {
    let (mut sim, a, b, p) = pair(202, Config::default())?;
    let before = arc_events(&sim, b, p);
    let n = sim.config().engine.max_arcs_per_pair() - 1;
    sim.inject_frame(
        b,
        a,
        Frame::ArcAdd {
            protocol: p,
            count: n,
        }
        .encode(),
    )?;
    sim.inject_frame(
        b,
        a,
        Frame::ArcRemove {
            protocol: p,
            count: n,
        }
        .encode(),
    )?;
    assert_eq!(in_count(&sim, b, a, p), 1);
    assert_eq!(
        arc_events(&sim, b, p) - before,
        2,
        "one ArcOpened and one ArcClosed for {n} arcs"
    );
    // Many arcs, then the connection goes: one event per direction.
    sim.inject_frame(
        b,
        a,
        Frame::ArcAdd {
            protocol: p,
            count: n,
        }
        .encode(),
    )?;
    let before = arc_events(&sim, b, p);
    sim.crash(a);
    settle(&mut sim)?;
    assert_eq!(arc_events(&sim, b, p) - before, 1);
    match sim.events(b, p).last() {
        Some(Event::ArcClosed {
            direction: Direction::In,
            count: 0,
            ..
        }) => {}
        other => {
            return Err(format!("expected the last arc event to close all, got {other:?}").into())
        }
    }
    Ok(())
}

#[test]
fn a_new_protocol_per_frame_is_bounded() -> TestResult {
    let (mut sim, a, b, _) = pair(203, Config::default())?;
    let max = sim.config().engine.max_protocols_per_connection();
    for i in 0..(max * 4) {
        if sim.conn_between(b, a).is_none() {
            break;
        }
        let protocol = proto(&format!("p{i}"));
        sim.inject_frame(b, a, Frame::ArcAdd { protocol, count: 1 }.encode())?;
        for c in sim.engine(b).connections() {
            assert!(
                c.arcs.len() <= max,
                "{} protocols on one connection",
                c.arcs.len()
            );
        }
    }
    assert!(
        sim.engine(b).connection_state(&sim.peer(a)).is_none(),
        "B kept a neighbour that opened arcs of {} protocols",
        max * 4
    );
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 1);
    settle_and_check(&mut sim)
}

#[test]
fn connect_to_for_more_arcs_than_the_limit_is_refused() -> TestResult {
    let (mut sim, a, b, p) = pair(204, Config::default())?;
    let c = sim.add_node();
    join_ok(&mut sim, c, b, p)?;
    settle(&mut sim)?;
    let out_before = out_count(&sim, b, c, p);
    let frame = Frame::ConnectTo {
        req: overlay_core::RequestId(77),
        protocol: p,
        to: sim.peer(c),
        count: u32::MAX,
    };
    sim.inject_frame(b, a, frame.encode())?;
    settle(&mut sim)?;
    assert_eq!(
        out_count(&sim, b, c, p),
        out_before,
        "B opened 2^32-1 arcs to C"
    );
    assert_eq!(in_count(&sim, c, b, p), out_before);
    assert!(sim.engine(b).stats().refused_requests >= 1);
    // Toward a stranger too: no handshake is even started.
    let started = sim.engine(b).stats().handshakes_started;
    let frame = Frame::ConnectTo {
        req: overlay_core::RequestId(78),
        protocol: p,
        to: stranger(1),
        count: u32::MAX,
    };
    sim.inject_frame(b, a, frame.encode())?;
    assert_eq!(sim.engine(b).stats().handshakes_started, started);
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 0);
    settle_and_check(&mut sim)
}

#[test]
fn connect_to_a_pending_peer_is_not_coalesced_forever() -> TestResult {
    let (mut sim, a, b, p) = pair(205, Config::default())?;
    let target = stranger(9);
    let flood = 1000u64;
    for op in 0..flood {
        let frame = Frame::ConnectTo {
            req: overlay_core::RequestId(op),
            protocol: p,
            to: target,
            count: 1,
        };
        sim.inject_frame(b, a, frame.encode())?;
    }
    let stats = sim.engine(b).stats();
    let max = sim.config().engine.max_coalesced() as u64;
    assert!(
        stats.coalesced < max,
        "{} requests coalesced on one handshake (limit {max})",
        stats.coalesced
    );
    assert!(stats.refused_requests >= flood - max);
    // At the timeout, a bounded number of failures.
    sim.run_for(sim.config().engine.pending_timeout() + Duration::from_secs(1));
    let failed = sim
        .events(b, p)
        .iter()
        .filter(|e| matches!(e, Event::ConnectFailed { .. }))
        .count() as u64;
    assert!(failed <= flood, "{failed} failure events");
    settle_and_check(&mut sim)
}

#[test]
fn one_neighbour_cannot_fill_the_pending_table() -> TestResult {
    let (mut sim, a, b, p) = pair(206, Config::default())?;
    let max_pending = sim.config().engine.max_pending() as u64;
    let share = sim.config().engine.max_pending_per_neighbour();
    // CONNECT_TO toward random ids...
    for op in 0..(max_pending + 50) {
        let frame = Frame::ConnectTo {
            req: overlay_core::RequestId(op),
            protocol: p,
            to: stranger(1000 + op),
            count: 1,
        };
        sim.inject_frame(b, a, frame.encode())?;
    }
    // ...and offers from random origins relayed by the same neighbour.
    // (The attacker makes a key per origin: the offers are well signed.)
    let victim = sim.peer(b);
    for i in 0..(max_pending + 50) {
        let mut secret = [0x77u8; 32];
        secret[..8].copy_from_slice(&i.to_le_bytes());
        let origin = Keypair::from_secret_bytes(secret);
        let handshake = HandshakeId(0xdead_0000 + i);
        let offer = Signal::Offer { sdp: "v=0".into() };
        let frame = Frame::Forwarded {
            handshake,
            origin: origin.peer_id(),
            signal: SignedSignal::sign(&origin, Some(&victim), handshake, 0, offer),
        };
        sim.inject_frame(b, a, frame.encode())?;
    }
    let pending = sim
        .engine(b)
        .connections()
        .iter()
        .filter(|c| c.state.is_pending())
        .count();
    assert!(
        pending <= share,
        "one neighbour opened {pending} pending handshakes (share {share})"
    );
    // An honest newcomer still gets in.
    let d = sim.add_node();
    join_ok(&mut sim, d, b, p)?;
    settle(&mut sim)?;
    assert_eq!(
        sim.engine(b).connection_state(&sim.peer(d)),
        Some(ConnState::Living)
    );
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 0);
    settle_and_check(&mut sim)
}

#[test]
fn reassembly_memory_is_bounded_per_node() -> TestResult {
    let p = proto("hostile");
    let engine = Config::default().with_max_reassembly_memory(1024 * 1024);
    let mut sim = sim_with(
        SimConfig::new(207)
            .with_engine(engine)
            .with_record_outputs(true),
    );
    let b = sim.add_node();
    let attackers = sim.add_nodes(4);
    star(&mut sim, b, &attackers, p)?;
    settle(&mut sim)?;
    let limit = sim.config().engine.max_reassembly_memory();
    let total = 1024 * 1024u32;
    let chunk = Bytes::from(vec![7u8; 60_000]);
    // Each attacker parks a message of 1 MiB, 900 kB in.
    for &x in &attackers {
        let start = Frame::DataStart {
            protocol: p,
            total_len: total,
            chunk: chunk.clone(),
        };
        sim.inject_frame(b, x, start.encode())?;
        for _ in 0..14 {
            sim.inject_frame(
                b,
                x,
                Frame::DataCont {
                    chunk: chunk.clone(),
                }
                .encode(),
            )?;
            assert!(
                sim.engine(b).reassembly_memory() <= limit,
                "{} bytes parked, limit {limit}",
                sim.engine(b).reassembly_memory()
            );
        }
    }
    assert!(sim.engine(b).stats().dropped_messages >= 3);
    // The dropped messages end cleanly: no bad frame, nothing delivered.
    for &x in &attackers {
        let mut rest = total as usize - 15 * 60_000;
        while rest > 0 {
            let n = rest.min(60_000);
            let chunk = Bytes::from(vec![7u8; n]);
            sim.inject_frame(b, x, Frame::DataCont { chunk }.encode())?;
            rest -= n;
        }
    }
    assert_eq!(sim.engine(b).stats().bad_frames, 0);
    assert_eq!(sim.engine(b).reassembly_memory(), 0);
    let delivered = messages(&sim, b, p);
    assert_eq!(delivered.len(), 1, "only the message kept is delivered");
    assert_eq!(delivered[0].1.len(), total as usize);
    settle_and_check(&mut sim)
}

#[test]
fn a_data_start_interrupting_a_message_is_itself_delivered() -> TestResult {
    let (mut sim, a, b, p) = pair(208, Config::default())?;
    let start = Frame::DataStart {
        protocol: p,
        total_len: 100_000,
        chunk: Bytes::from(vec![1u8; 10_000]),
    };
    sim.inject_frame(b, a, start.encode())?;
    let again = Frame::DataStart {
        protocol: p,
        total_len: 20,
        chunk: Bytes::from_static(b"0123456789"),
    };
    sim.inject_frame(b, a, again.encode())?;
    let rest = Frame::DataCont {
        chunk: Bytes::from_static(b"abcdefghij"),
    };
    sim.inject_frame(b, a, rest.encode())?;
    let got = messages(&sim, b, p);
    assert_eq!(got, vec![(sim.peer(a), b"0123456789abcdefghij".to_vec())]);
    assert_eq!(sim.engine(b).stats().bad_frames, 1);
    Ok(())
}

#[test]
fn occasional_bad_frames_are_forgiven_a_burst_is_not() -> TestResult {
    let (mut sim, a, b, p) = pair(209, Config::default())?;
    let decay = sim.config().engine.bad_frame_decay();
    let max = sim.config().engine.max_bad_frames();
    let garbage = Bytes::from_static(&[0xee, 0xee, 0xee]);
    for _ in 0..(max * 5) {
        sim.inject_frame(b, a, garbage.clone())?;
        sim.run_for(decay * 2);
    }
    assert_eq!(
        sim.engine(b).stats().misbehaving_closed,
        0,
        "an honest peer that errs now and then was cut"
    );
    assert_eq!(in_count(&sim, b, a, p), 1);
    for _ in 0..max {
        sim.inject_frame(b, a, garbage.clone())?;
    }
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 1);
    settle_and_check(&mut sim)
}

#[test]
fn one_neighbour_cannot_fill_the_early_signal_buffer() -> TestResult {
    let (mut sim, a, b, _) = pair(211, Config::default())?;
    let victim = sim.peer(b);
    let max = sim.config().engine.max_early_signals();
    // Answers for handshakes B never saw, well signed by the attacker's keys.
    for i in 0..(max as u64 * 2) {
        let mut secret = [0x55u8; 32];
        secret[..8].copy_from_slice(&i.to_le_bytes());
        let origin = Keypair::from_secret_bytes(secret);
        let handshake = HandshakeId(0xbeef_0000 + i);
        let answer = Signal::Answer { sdp: "v=0".into() };
        let frame = Frame::Forwarded {
            handshake,
            origin: origin.peer_id(),
            signal: SignedSignal::sign(&origin, Some(&victim), handshake, 1, answer),
        };
        sim.inject_frame(b, a, frame.encode())?;
    }
    let held = sim.engine(b).early_signals();
    assert!(
        held > 0,
        "the signals were not buffered: the test does not exercise the buffer"
    );
    assert!(
        held <= max / 8,
        "one neighbour holds {held} of the {max} early signal slots"
    );
    Ok(())
}
