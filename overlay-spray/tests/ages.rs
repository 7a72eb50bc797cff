//! `Ages`: whether a moved arc keeps its age. `Reset` starts it at 0 at
//! its new holder (spray-wrtc); `Carry` keeps it (the paper's algorithm):
//! each side of an exchange announces the ages of the arcs it hands over
//! (`AGES`), and the arcs that open take them. See
//! `docs/spray/in-degree.md`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use overlay_core::sim::{NodeId, SimConfig};
use overlay_core::{Direction, Event, Keypair, PeerId, ProtocolId};
use overlay_spray::message::Message;
use overlay_spray::sim::SpraySim;
use overlay_spray::{Action, Ages, Spray, SprayConfig, AGE_HOLD, MAX_CARRIED_AGE};

fn peer() -> PeerId {
    Keypair::generate().peer_id()
}

fn drain(s: &mut Spray) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn open(s: &mut Spray, now: Instant, peer: PeerId, count: u32) {
    s.handle_event(
        now,
        &Event::ArcOpened {
            peer,
            direction: Direction::Out,
            count,
        },
    );
}

fn message(s: &mut Spray, now: Instant, from: PeerId, m: Message) {
    s.handle_event(
        now,
        &Event::Message {
            peer: from,
            payload: m.encode(),
        },
    );
}

/// The AGES messages among `actions`, with their receiver.
fn announced(actions: &[Action]) -> Vec<(PeerId, Vec<(PeerId, u16)>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { peer, payload } => match Message::decode(payload) {
                Ok(Message::Ages { entries }) => Some((*peer, entries)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn the_initiator_announces_its_sample_and_takes_the_partners_ages() {
    let now = Instant::now();
    let (local, q, x, y, z) = (peer(), peer(), peer(), peer(), peer());
    let mut s = Spray::new(local, SprayConfig::default().with_ages(Ages::Carry), 1);
    for p in [q, x, y] {
        open(&mut s, now, p, 1);
    }
    assert!(s.exchange_with(now, q));
    let actions = drain(&mut s);
    // EXCHANGE first, then AGES, then the bridges.
    let kinds: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { payload, .. } => Message::decode(payload).ok(),
            _ => None,
        })
        .collect();
    assert!(
        matches!(kinds.as_slice(), [Message::Exchange, Message::Ages { .. }]),
        "{kinds:?}"
    );
    let ages = announced(&actions);
    assert_eq!(ages.len(), 1);
    let (to, mut entries) = ages[0].clone();
    assert_eq!(to, q);
    // ⌈3/2⌉ = 2 entries: the oldest (Q, reversed: Q -> local, age 0) and one
    // of X, Y at the age the shuffle just gave it (1).
    entries.sort_by_key(|e| e.1);
    assert_eq!(entries[0], (local, 0), "{entries:?}");
    assert!(entries[1] == (x, 1) || entries[1] == (y, 1), "{entries:?}");

    // Q answers with its own ages: an arc to X (we have one already), one
    // to Z with an age no honest peer has (clamped), one to ourselves (no
    // such arc can exist: ignored).
    message(
        &mut s,
        now,
        q,
        Message::Ages {
            entries: vec![(x, 5), (z, u16::MAX), (local, 3)],
        },
    );
    assert_eq!(s.stats().ages_unused, 1);
    let before = s.ages(&x);
    open(&mut s, now, x, before.len() as u32 + 1);
    let mut after = s.ages(&x);
    assert_eq!(after.pop(), Some(5), "the new arc to X carries its age");
    open(&mut s, now, z, 1);
    assert_eq!(s.ages(&z), vec![MAX_CARRIED_AGE]);
    assert_eq!(s.stats().ages_carried, 2);
    // The next shuffle starts from the oldest: Z.
    assert!(s.exchange_with(now, z));
    assert_eq!(s.ages(&z), vec![MAX_CARRIED_AGE + 1]);

    // One AGES per exchange: a second one, or one from a peer we are not
    // exchanging with, is dropped and counted.
    let dropped = s.stats().dropped_messages;
    message(
        &mut s,
        now,
        q,
        Message::Ages {
            entries: vec![(y, 2)],
        },
    );
    message(
        &mut s,
        now,
        peer(),
        Message::Ages {
            entries: vec![(y, 2)],
        },
    );
    assert_eq!(s.stats().dropped_messages, dropped + 2);
    let n = s.ages(&y).len() as u32;
    open(&mut s, now, y, n + 1);
    assert_eq!(s.ages(&y).last(), Some(&0), "no age was waiting for Y");
}

#[test]
fn the_partner_announces_its_answer_and_forgets_ages_whose_arc_is_late() {
    let now = Instant::now();
    let (local, p, a, c) = (peer(), peer(), peer(), peer());
    let mut s = Spray::new(local, SprayConfig::default().with_ages(Ages::Carry), 1);
    open(&mut s, now, a, 1);
    open(&mut s, now, p, 1);
    message(&mut s, now, p, Message::Exchange);
    let ages = announced(&drain(&mut s));
    // ⌈2/2⌉ = 1 arc handed to P, announced first, at its age (0: this peer
    // never shuffled); an arc to P itself is named as P will see it (us).
    assert_eq!(ages.len(), 1, "{ages:?}");
    assert_eq!(ages[0].0, p);
    assert!(
        ages[0].1 == vec![(a, 0)] || ages[0].1 == vec![(local, 0)],
        "{ages:?}"
    );
    // P's AGES is expected; its arc to C opens after the hold: age 0.
    message(
        &mut s,
        now,
        p,
        Message::Ages {
            entries: vec![(c, 7)],
        },
    );
    assert_eq!(s.stats().dropped_messages, 0);
    open(&mut s, now + AGE_HOLD + Duration::from_secs(1), c, 1);
    assert_eq!(s.ages(&c), vec![0]);
    assert_eq!(s.stats().ages_unused, 1);
    assert_eq!(s.stats().ages_carried, 0);
}

#[test]
fn reset_neither_announces_nor_takes_ages() {
    let now = Instant::now();
    let (local, p, a, c) = (peer(), peer(), peer(), peer());
    let mut s = Spray::new(local, SprayConfig::default().with_ages(Ages::Reset), 1);
    open(&mut s, now, a, 1);
    assert!(s.exchange_with(now, a));
    assert!(announced(&drain(&mut s)).is_empty());
    message(&mut s, now, p, Message::Exchange);
    assert!(announced(&drain(&mut s)).is_empty());
    message(
        &mut s,
        now,
        p,
        Message::Ages {
            entries: vec![(c, 7)],
        },
    );
    open(&mut s, now, c, 1);
    assert_eq!(s.ages(&c), vec![0]);
    let st = s.stats();
    assert_eq!((st.ages_carried, st.dropped_messages), (0, 0), "{st:?}");
}

fn outview(net: &SpraySim, node: NodeId) -> BTreeMap<PeerId, u32> {
    net.sim().engine(node).outview(&net.protocol())
}

/// 150 peers shuffling with `Carry`: every arc a shuffle moved opened with
/// the age its giver announced, the arc count holds,
/// views mirror the engines and the simulator's invariants hold.
#[test]
fn carry_in_a_shuffling_network() {
    let protocol = ProtocolId::new("spray").expect("valid id");
    let period = Duration::from_secs(10);
    let config = SprayConfig::default()
        .with_period(period)
        .with_ages(Ages::Carry);
    let mut net = SpraySim::new(SimConfig::new(11), config, protocol);
    net.grow(150, 20.0);
    net.run_for(period);
    assert!(net.settle(Duration::from_secs(60)));
    let arcs = |net: &SpraySim| -> u32 {
        net.live_nodes()
            .iter()
            .map(|n| outview(net, *n).values().sum::<u32>())
            .sum()
    };
    let start = arcs(&net);
    for _ in 0..10 {
        net.run_for(period);
        assert!(net.settle(Duration::from_secs(60)));
        assert_eq!(arcs(&net), start, "shuffles conserve the arcs");
    }
    let s = net.spray_stats();
    assert!(s.exchanges_started > 1000, "{s:?}");
    // Every moved arc opened with the age its giver announced; the ages
    // of moves that failed (the engine refuses an arc on a connection at
    // the end of its dying period) went unused.
    assert_eq!(s.ages_carried, s.arcs_moved, "{s:?}");
    assert!(s.ages_unused <= s.moves_failed, "{s:?}");
    // Carried ages are not all 0.
    let old = net
        .live_nodes()
        .iter()
        .flat_map(|n| {
            let sp = net.spray(*n).expect("live");
            sp.view()
                .keys()
                .flat_map(|p| sp.ages(p))
                .collect::<Vec<_>>()
        })
        .filter(|a| *a > 1)
        .count();
    assert!(old > 0);
    assert_eq!(net.graph().components(), 1);
    if let Err(e) = net.sim().check_invariants() {
        panic!("simulator invariants: {e}");
    }
    for node in net.live_nodes() {
        let spray = net.spray(node).expect("live");
        assert_eq!(spray.view(), outview(&net, node), "view of {node:?}");
    }
}
