//! The seed's triangle: A joins B, C joins B, B bridges A to C.

mod common;

use bytes::Bytes;
use common::*;
use overlay_core::{ConnState, Direction, Event, Via};

#[test]
fn b_bridges_a_to_c() -> TestResult {
    let p = proto("triangle");
    let mut sim = sim(1);
    let (a, b, c) = (sim.add_node(), sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    join_ok(&mut sim, c, b, p)?;
    settle_and_check(&mut sim)?;
    assert_eq!(
        sim.engine(b).inview(&p).len(),
        2,
        "b has both newcomers in its inview"
    );
    assert!(sim.engine(b).outview(&p).is_empty());

    let bridge = sim.connect(b, p, &[a], &[c])?;
    complete_ok(&mut sim, bridge)?;
    settle_and_check(&mut sim)?;

    // a -> b, a -> c, c -> b; views agree at both ends.
    assert_eq!(out_count(&sim, a, b, p), 1);
    assert_eq!(out_count(&sim, a, c, p), 1);
    assert_eq!(out_count(&sim, c, b, p), 1);
    assert_eq!(in_count(&sim, c, a, p), 1);
    assert_eq!(in_count(&sim, b, a, p), 1);
    assert_eq!(in_count(&sim, b, c, p), 1);
    assert_eq!(out_count(&sim, c, a, p), 0);

    // The a-c connection was signaled through b, which relayed.
    let ac: Vec<_> = sim
        .engine(a)
        .connections()
        .into_iter()
        .filter(|i| i.peer == Some(sim.peer(c)))
        .collect();
    assert_eq!(ac.len(), 1);
    assert_eq!(ac[0].state, ConnState::Living);
    assert_eq!(ac[0].via, Via::Bridge(sim.peer(b)));
    assert!(
        sim.engine(b).stats().relayed >= 2,
        "offer and answer went through b"
    );
    assert!(sim.events(c, p).contains(&Event::ArcOpened {
        peer: sim.peer(a),
        direction: Direction::In,
        count: 1
    }));

    // The new arc carries messages, both ways.
    sim.send(a, p, c, Bytes::from_static(b"hello c"))?;
    sim.send(c, p, a, Bytes::from_static(b"hello a"))?;
    settle_and_check(&mut sim)?;
    assert_eq!(
        messages(&sim, c, p),
        vec![(sim.peer(a), b"hello c".to_vec())]
    );
    assert_eq!(
        messages(&sim, a, p),
        vec![(sim.peer(c), b"hello a".to_vec())]
    );
    Ok(())
}

#[test]
fn a_large_message_crosses_in_frames_under_a_small_window() -> TestResult {
    use overlay_core::sim::{NetConfig, SimConfig};
    let p = proto("bulk");
    let net = NetConfig::default()
        .with_send_window(16 * 1024)
        .with_bandwidth(Some(1_000_000));
    let mut sim = sim_with(SimConfig::new(2).with_net(net));
    let (a, b) = (sim.add_node(), sim.add_node());
    join_ok(&mut sim, a, b, p)?;
    let payload: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    sim.send(a, p, b, Bytes::from(payload.clone()))?;
    settle_and_check(&mut sim)?;
    assert_eq!(messages(&sim, b, p), vec![(sim.peer(a), payload)]);
    assert!(
        sim.stats().transport.frames > 10,
        "the message was split into frames"
    );
    Ok(())
}
