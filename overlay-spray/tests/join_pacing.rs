//! A contact bridges a newcomer to its whole view, but keeps at most 16
//! join bridges in flight: every one reaches the newcomer through the
//! contact, and an engine refuses pending handshakes past 32 per relaying
//! neighbour (`Config::max_pending_per_neighbour`), so a contact with a
//! larger view that bridged all at once lost the excess arcs for good.

use std::time::Instant;

use overlay_core::{Direction, Event, Keypair, PeerId};
use overlay_spray::message::Message;
use overlay_spray::{Action, Spray, SprayConfig};

fn peer() -> PeerId {
    Keypair::generate().peer_id()
}

fn connects(spray: &mut Spray) -> Vec<overlay_spray::Token> {
    let mut tokens = Vec::new();
    while let Some(a) = spray.poll_action() {
        if let Action::Connect { token, to, .. } = a {
            assert!(to.is_some(), "a join bridge points to the newcomer");
            tokens.push(token);
        }
    }
    tokens
}

#[test]
fn a_large_view_is_bridged_sixteen_at_a_time() {
    let now = Instant::now();
    let mut c = Spray::new(peer(), SprayConfig::default(), 1);
    let view: Vec<PeerId> = (0..40).map(|_| peer()).collect();
    for q in &view {
        c.handle_event(
            now,
            &Event::ArcOpened {
                peer: *q,
                direction: Direction::Out,
                count: 1,
            },
        );
    }
    let newcomer = peer();
    c.handle_event(
        now,
        &Event::ArcOpened {
            peer: newcomer,
            direction: Direction::In,
            count: 1,
        },
    );
    c.handle_event(
        now,
        &Event::Message {
            peer: newcomer,
            payload: Message::Join.encode(),
        },
    );
    let mut in_flight = connects(&mut c);
    assert_eq!(in_flight.len(), 16, "16 join bridges at first");
    let mut started = in_flight.len();
    // Each bridge that ends (ok or not) makes room for the next.
    let mut ended = 0;
    while let Some(t) = in_flight.pop() {
        c.handle_connect_result(now, t, ended % 3 != 0);
        ended += 1;
        let more = connects(&mut c);
        assert!(more.len() <= 1);
        started += more.len();
        in_flight.extend(more);
        assert!(in_flight.len() <= 16);
    }
    assert_eq!(started, 40, "every arc of the view was bridged in the end");
    assert_eq!(c.stats().connects_failed, 14, "failures are counted");
}
