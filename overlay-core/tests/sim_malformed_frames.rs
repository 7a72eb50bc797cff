//! Malformed and oversize frames are dropped and counted; a peer that keeps
//! sending garbage is disconnected.

mod common;

use bytes::Bytes;
use common::*;
use overlay_core::sim::Fault;
use overlay_core::{ArcCloseReason, Direction, TransportEvent};

#[test]
fn garbage_is_dropped_counted_then_the_sender_is_disconnected() -> TestResult {
    let p = proto("frames");
    let mut sim = sim(80);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let limit = sim.config().engine.max_frame_size();
    let max_bad = sim.config().engine.max_bad_frames();
    let pa = sim.peer(a);
    let info = |sim: &overlay_core::sim::Sim| {
        sim.engine(b)
            .connections()
            .into_iter()
            .find(|i| i.peer == Some(pa))
    };

    // One frame of each kind of garbage, as if a had sent it to b.
    let garbage: Vec<Bytes> = vec![
        Bytes::new(),                             // empty
        Bytes::from_static(b"\x07\x02hello"),     // unknown version
        Bytes::from_static(b"\x01\xeezz"),        // unknown type
        Bytes::from_static(b"\x01\x05\x01x\x00"), // truncated arc-add
        Bytes::from(vec![1u8; limit + 1]),        // oversize
    ];
    for (i, g) in garbage.iter().enumerate() {
        sim.inject_frame(b, a, g.clone())?;
        let c = info(&sim).ok_or("the connection closed too early")?;
        assert_eq!(
            c.stats.bad_frames as usize,
            i + 1,
            "counted on the connection"
        );
        assert_eq!(
            sim.engine(b).stats().bad_frames as usize,
            i + 1,
            "counted on the engine"
        );
    }
    // Still connected, and still working both ways.
    sim.send(a, p, b, Bytes::from_static(b"still fine"))?;
    settle_and_check(&mut sim)?;
    assert_eq!(messages(&sim, b, p), vec![(pa, b"still fine".to_vec())]);
    assert_eq!(in_count(&sim, b, a, p), 1);

    // More garbage, up to the limit: b closes the connection.
    for _ in garbage.len()..max_bad as usize {
        sim.inject_frame(b, a, Bytes::from_static(b"\x01\x63"))?;
    }
    assert!(info(&sim).is_none(), "b dropped the connection");
    assert_eq!(sim.engine(b).stats().misbehaving_closed, 1);
    assert_eq!(
        closes(&sim, b, p, pa),
        vec![(Direction::In, ArcCloseReason::ProtocolViolation)]
    );
    // a sees the close.
    settle_and_check(&mut sim)?;
    assert_eq!(
        closes(&sim, a, p, sim.peer(b)),
        vec![(Direction::Out, ArcCloseReason::ConnectionClosed)]
    );
    assert!(sim.engine(a).connections().is_empty());
    assert_eq!(sim.transport_connections(a), 0);
    Ok(())
}

#[test]
fn frames_corrupted_on_the_wire_are_dropped_and_counted() -> TestResult {
    // A fault hook corrupts every 'x' message from a: b counts and drops them,
    // the other messages arrive.
    let p = proto("frames");
    let mut sim = sim(81);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    sim.set_fault_hook(Some(Box::new(|_, _, frame: &Bytes| {
        if frame.ends_with(b"corrupt me") {
            Fault::Replace(Bytes::from_static(b"\x01\x02\x00"))
        } else {
            Fault::Deliver
        }
    })));
    sim.send(a, p, b, Bytes::from_static(b"corrupt me"))?;
    sim.send(a, p, b, Bytes::from_static(b"fine"))?;
    settle_and_check(&mut sim)?;
    assert_eq!(messages(&sim, b, p), vec![(sim.peer(a), b"fine".to_vec())]);
    assert_eq!(sim.engine(b).stats().bad_frames, 1);
    assert_eq!(sim.stats().transport.frames_faulted, 1);
    Ok(())
}

#[test]
fn events_for_unknown_connections_are_counted_not_fatal() -> TestResult {
    let p = proto("frames");
    let mut sim = sim(82);
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    settle(&mut sim)?;
    let bogus = overlay_core::ConnId(9_999);
    sim.inject(
        b,
        TransportEvent::Frame {
            conn: bogus,
            frame: Bytes::from_static(b"\x01\x02\x01xhi"),
        },
    );
    sim.inject(
        b,
        TransportEvent::Opened {
            conn: bogus,
            binding: None,
        },
    );
    assert_eq!(sim.engine(b).stats().stale_events, 2);
    settle_and_check(&mut sim)?;
    assert_eq!(in_count(&sim, b, a, p), 1);
    Ok(())
}
