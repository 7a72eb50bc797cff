//! `Duplicates`: what a peer does when a shuffle hands it an arc to a peer
//! already in its view. `Keep` holds it twice (the paper's algorithm,
//! spray-wrtc); `Swap` (the authors' PeerSim code) drops the received arc
//! and keeps instead an arc it handed out in the same exchange, if that
//! peer is no longer in its view. See `docs/spray/in-degree.md`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use overlay_core::sim::{NodeId, SimConfig};
use overlay_core::{Direction, Event, Keypair, PeerId, ProtocolId};
use overlay_spray::graph::Summary;
use overlay_spray::message::Message;
use overlay_spray::sim::SpraySim;
use overlay_spray::{Action, Duplicates, Spray, SprayConfig};

fn outview(net: &SpraySim, node: NodeId) -> BTreeMap<PeerId, u32> {
    net.sim().engine(node).outview(&net.protocol())
}

fn view(net: &SpraySim, pairs: &[(NodeId, u32)]) -> BTreeMap<PeerId, u32> {
    pairs.iter().map(|(n, c)| (net.peer(*n), *c)).collect()
}

fn arcs(net: &SpraySim) -> u32 {
    net.live_nodes()
        .iter()
        .map(|n| outview(net, *n).values().sum::<u32>())
        .sum()
}

/// Invariants of the simulator hold and every Spray view mirrors its
/// engine's outview.
fn check(net: &SpraySim) {
    if let Err(e) = net.sim().check_invariants() {
        panic!("simulator invariants: {e}");
    }
    for node in net.live_nodes() {
        let spray = net.spray(node).expect("live");
        assert_eq!(spray.view(), outview(net, node), "view of {node:?}");
    }
}

/// Three peers: P: {Q, Y}, Q: {Y}, Y: {Q, P}. No shuffle runs by itself
/// (Δt is 11 days); P then exchanges with Q: P hands its arc to Q over
/// (Q gets Q → P), Q hands its arc to Y over (P gets P → Y), and P already
/// holds Y.
fn three_peers(duplicates: Duplicates) -> (SpraySim, NodeId, NodeId, NodeId) {
    let protocol = ProtocolId::new("spray").expect("valid id");
    let config = SprayConfig::default()
        .with_period(Duration::from_secs(1_000_000))
        .with_duplicates(duplicates);
    let mut net = SpraySim::new(SimConfig::new(3), config, protocol);
    let y = net.add_peer(None);
    let q = net.add_peer(Some(y));
    net.run_for(Duration::from_secs(5));
    let p = net.add_peer(Some(q));
    net.run_for(Duration::from_secs(5));
    // One more arc P -> Y, bridged by Q (a neighbour of both).
    let (pp, yp) = (net.peer(p), net.peer(y));
    let r = net
        .sim_mut()
        .act(q, |e, now| e.connect(now, protocol, &[pp], &[yp]));
    assert!(r.is_ok(), "{r:?}");
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        outview(&net, p),
        view(&net, &[(q, 1), (y, 1)]),
        "P: {{Q, Y}}"
    );
    assert_eq!(outview(&net, q), view(&net, &[(y, 1)]), "Q: {{Y}}");
    assert_eq!(
        outview(&net, y),
        view(&net, &[(q, 1), (p, 1)]),
        "Y: {{Q, P}}"
    );
    check(&net);
    (net, p, q, y)
}

fn exchange(net: &mut SpraySim, p: NodeId, q: NodeId) {
    assert!(net.exchange(p, q), "P has a free arc to Q");
    // Long enough for the bridges, the reports, and a missed report's
    // timeout (30 s): a merge that never happened would show.
    net.run_for(Duration::from_secs(40));
    let s = net.spray_stats();
    assert_eq!(
        s.exchanges_started, 1,
        "only the exchange we started: {s:?}"
    );
    assert_eq!(s.exchanges_answered, 1, "{s:?}");
    assert_eq!(s.moves_failed, 0, "{s:?}");
    assert_eq!(s.reports_missed, 0, "{s:?}");
    check(net);
}

#[test]
fn swap_keeps_the_handed_arc_and_drops_the_duplicate() {
    let (mut net, p, q, y) = three_peers(Duplicates::Swap);
    let before = arcs(&net);
    exchange(&mut net, p, q);
    // P kept its arc to Q (handed out, and Q no longer in P's view) and
    // dropped the new arc to Y it already had; Q got Q -> P.
    assert_eq!(outview(&net, p), view(&net, &[(q, 1), (y, 1)]));
    assert_eq!(outview(&net, q), view(&net, &[(p, 1)]));
    assert_eq!(outview(&net, y), view(&net, &[(q, 1), (p, 1)]));
    assert_eq!(arcs(&net), before, "the swap conserves the arc count");
    let s = net.spray(p).expect("live").stats();
    assert_eq!(s.duplicates_swapped, 1, "{s:?}");
    // In-degree moved from Y (2 -> 1) to P (0 -> 1).
    let g = net.graph();
    let mut ins = g.in_degrees();
    ins.sort_unstable();
    assert_eq!(ins, vec![1, 2, 2]);
}

#[test]
fn keep_holds_the_duplicate() {
    let (mut net, p, q, y) = three_peers(Duplicates::Keep);
    let before = arcs(&net);
    exchange(&mut net, p, q);
    assert_eq!(outview(&net, p), view(&net, &[(y, 2)]), "P holds Y twice");
    assert_eq!(outview(&net, q), view(&net, &[(p, 1)]));
    assert_eq!(outview(&net, y), view(&net, &[(q, 1), (p, 1)]));
    assert_eq!(arcs(&net), before);
    assert_eq!(net.spray_stats().duplicates_swapped, 0);
}

/// A network of 150 peers shuffling with `Swap`: duplicates are swapped,
/// every exchange is reported, the arc count holds, views mirror the
/// engines and the simulator's invariants hold.
#[test]
fn swap_in_a_shuffling_network() {
    shuffling_network(Duplicates::Swap);
}

#[test]
fn keep_in_a_shuffling_network() {
    shuffling_network(Duplicates::Keep);
}

fn shuffling_network(duplicates: Duplicates) {
    let protocol = ProtocolId::new("spray").expect("valid id");
    let period = Duration::from_secs(10);
    let config = SprayConfig::default()
        .with_period(period)
        .with_duplicates(duplicates);
    let mut net = SpraySim::new(SimConfig::new(11), config, protocol);
    net.grow(150, 20.0);
    net.run_for(period);
    assert!(net.settle(Duration::from_secs(60)));
    let start = arcs(&net);
    // Ten periods; after each, let the exchanges under way end: then every
    // arc handed over has left its giver and every swap has dropped its
    // duplicate, so the count must be back where it was.
    for _ in 0..10 {
        net.run_for(period);
        assert!(net.settle(Duration::from_secs(60)));
        assert_eq!(arcs(&net), start, "shuffles and swaps conserve the arcs");
    }
    let end = arcs(&net);
    let s = net.spray_stats();
    println!("arcs {start} -> {end}, {s:?} {:?}", net.stats());
    assert_eq!(
        s.duplicates_swapped > 0,
        duplicates == Duplicates::Swap,
        "{s:?}"
    );
    assert_eq!(s.reports_missed, 0, "{s:?}");
    assert!(s.exchanges_started > 1000, "{s:?}");
    let g = net.graph();
    assert_eq!(g.components(), 1);
    let ins = Summary::of(&g.in_degrees());
    assert!((ins.max as f64) < 3.0 * ins.mean, "{ins:?}");
    check(&net);
}

// ----- sans-IO: the report's timeout and bad reports --------------------

fn peer() -> PeerId {
    Keypair::generate().peer_id()
}

fn drain(s: &mut Spray) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

#[test]
fn without_the_partners_report_the_exchange_ends_as_keep() {
    let now = Instant::now();
    let local = peer();
    let q = peer();
    let config = SprayConfig::default().with_duplicates(Duplicates::Swap);
    let mut s = Spray::new(local, config, 1);
    s.handle_event(
        now,
        &Event::ArcOpened {
            peer: q,
            direction: Direction::Out,
            count: 1,
        },
    );
    assert!(s.exchange_with(now, q));
    let actions = drain(&mut s);
    let Some(Action::Send { payload, .. }) = actions.first() else {
        panic!("{actions:?}")
    };
    let Ok(Message::ExchangeReport { id }) = Message::decode(payload) else {
        panic!("{payload:?}")
    };
    let token = actions
        .iter()
        .find_map(|a| match a {
            Action::Connect { token, .. } => Some(*token),
            _ => None,
        })
        .expect("the arc to Q is handed over");
    // The bridge opened: the arc stays pinned, our report goes out.
    s.handle_connect_result(now, token, true);
    let actions = drain(&mut s);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Unpin { .. } | Action::Disconnect { .. })),
        "{actions:?}"
    );
    let reported = actions.iter().any(|a| match a {
        Action::Send { payload, .. } => {
            Message::decode(payload)
                == Ok(Message::Handed {
                    id,
                    targets: vec![local],
                })
        }
        _ => false,
    });
    assert!(reported, "{actions:?}");
    // A report for another exchange is dropped.
    s.handle_event(
        now,
        &Event::Message {
            peer: q,
            payload: Message::Handed {
                id: id.wrapping_add(1),
                targets: vec![],
            }
            .encode(),
        },
    );
    assert_eq!(s.stats().dropped_messages, 1);
    // No report from Q: 30 s later the arc goes.
    let deadline = s.poll_timeout().expect("a deadline");
    assert!(deadline <= now + Duration::from_secs(30));
    s.handle_timeout(deadline);
    let actions = drain(&mut s);
    assert_eq!(
        actions,
        vec![Action::Unpin { peer: q }, Action::Disconnect { peer: q }]
    );
    assert_eq!(s.stats().reports_missed, 1);
    // A late report finds nothing.
    s.handle_event(
        now,
        &Event::Message {
            peer: q,
            payload: Message::Handed {
                id,
                targets: vec![],
            }
            .encode(),
        },
    );
    assert_eq!(s.stats().dropped_messages, 2);
    assert!(drain(&mut s).is_empty());
}

#[test]
fn a_keep_partner_reports_what_it_handed_over() {
    // Mixed settings still end every exchange: a peer in `Keep` mode
    // answers EXCHANGE_REPORT with a report, and drops its own arcs at once.
    let now = Instant::now();
    let (local, p, x) = (peer(), peer(), peer());
    let mut s = Spray::new(local, SprayConfig::default(), 1);
    s.handle_event(
        now,
        &Event::ArcOpened {
            peer: x,
            direction: Direction::Out,
            count: 1,
        },
    );
    s.handle_event(
        now,
        &Event::Message {
            peer: p,
            payload: Message::ExchangeReport { id: 9 }.encode(),
        },
    );
    let token = drain(&mut s)
        .iter()
        .find_map(|a| match a {
            Action::Connect { token, from, to } => {
                assert_eq!((*from, *to), (Some(p), Some(x)));
                Some(*token)
            }
            _ => None,
        })
        .expect("x is handed to p");
    s.handle_connect_result(now, token, true);
    let actions = drain(&mut s);
    assert!(
        actions.contains(&Action::Disconnect { peer: x }),
        "{actions:?}"
    );
    let handed = Message::Handed {
        id: 9,
        targets: vec![x],
    }
    .encode();
    assert!(
        actions.contains(&Action::Send {
            peer: p,
            payload: handed
        }),
        "{actions:?}"
    );
}
