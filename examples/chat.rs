//! A chat between terminal peers: each peer joins a room of a signaling
//! server once, then every message floods the overlay, peer to peer.
//!
//! ```sh
//! cargo run --release -- signal --listen 127.0.0.1:8765          # terminal 1: the server
//! cargo run --release --example chat -- ws://127.0.0.1:8765/ lobby alice   # terminal 2
//! cargo run --release --example chat -- ws://127.0.0.1:8765/ lobby bob     # terminal 3, ...
//! ```
//!
//! Type a line to send it to everyone; `/peers` lists this peer's
//! neighbours, `/quit` leaves.
//!
//! How it works, on the public API only:
//! - [`join_room`] opens one arc to a contact the server picks (the offer
//!   and answer cross the server), then keeps serving the room: a
//!   newcomer that gets this peer as contact arrives as
//!   [`RoomEvent::Accepted`].
//! - This peer then bridges the newcomer to one of its other neighbours
//!   (`connect(newcomer, other)`: the offer and answer travel through this
//!   peer, not the server), so the overlay has cycles and survives a peer
//!   leaving.
//! - A line goes to every neighbour as `ORIGIN SEQ NAME\nTEXT`; a peer that
//!   has not seen `(ORIGIN, SEQ)` prints it and passes it on to its other
//!   neighbours (flooding, duplicates dropped).
//!
//! Peers here bind to 127.0.0.1 (one machine). Across machines, bind to
//! every interface and give a STUN server:
//! `RtcConfig::default().with_bind_ip([0, 0, 0, 0].into()).with_stun_server("stun.example.org:3478")`.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::error::Error;

use n2n_overlay::join::{join_room, JoinOptions, RoomEvent};
use n2n_overlay::str0m::Str0mTransport;
use n2n_overlay::{
    Direction, Event, Keypair, Node, NodeConfig, PeerId, ProtocolHandle, ProtocolId, RtcConfig,
};
use rand::seq::IteratorRandom;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Messages remembered to drop duplicates.
const SEEN: usize = 4096;

/// This peer's neighbours in the chat protocol (either direction).
async fn neighbours(h: &ProtocolHandle) -> Result<BTreeSet<PeerId>, Box<dyn Error>> {
    let mut all: BTreeSet<PeerId> = h.outview().await?.into_keys().collect();
    all.extend(h.inview().await?.into_keys());
    Ok(all)
}

/// Send `payload` to every neighbour but `except`.
async fn flood(
    h: &ProtocolHandle,
    payload: &[u8],
    except: &[PeerId],
) -> Result<(), Box<dyn Error>> {
    for peer in neighbours(h).await? {
        if !except.contains(&peer) {
            if let Err(e) = h.send(peer, payload.to_vec()).await {
                eprintln!("* could not send to {}: {e}", peer.short());
            }
        }
    }
    Ok(())
}

/// Duplicates to drop, bounded.
#[derive(Default)]
struct Seen {
    set: HashSet<(PeerId, u64)>,
    order: VecDeque<(PeerId, u64)>,
}

impl Seen {
    /// True the first time `id` is seen.
    fn first(&mut self, id: (PeerId, u64)) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > SEEN {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// `ORIGIN SEQ NAME\nTEXT` read back; `None` if malformed.
fn parse(payload: &[u8]) -> Option<(PeerId, u64, &str, &str)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (head, body) = text.split_once('\n')?;
    let mut words = head.splitn(3, ' ');
    let origin = words.next()?.parse().ok()?;
    let seq = words.next()?.parse().ok()?;
    Some((origin, seq, words.next()?, body))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:8765/".into());
    let room = args.next().unwrap_or_else(|| "lobby".into());

    let transport = Str0mTransport::bind(&RtcConfig::loopback())?;
    let node = Node::spawn(transport, Keypair::generate(), NodeConfig::default());
    let name = args.next().unwrap_or_else(|| node.id().short());
    let (chat, mut events) = node.protocol(ProtocolId::new("chat")?).await?;

    let joined = join_room(&chat, JoinOptions::new(&url, &room)).await?;
    match joined.contact {
        Some(contact) => println!("* joined {room} through {}", contact.short()),
        None => println!("* first in {room}; waiting for others"),
    }
    let mut membership = joined.room;

    let me = node.id();
    let mut seq = 0u64;
    let mut seen = Seen::default();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                match line.trim() {
                    "" => {}
                    "/quit" => break,
                    "/peers" => {
                        let peers: Vec<String> = neighbours(&chat).await?.iter().map(PeerId::short).collect();
                        println!("* neighbours: {}", peers.join(" "));
                    }
                    text => {
                        seq += 1;
                        seen.first((me, seq));
                        flood(&chat, format!("{me} {seq} {name}\n{text}").as_bytes(), &[]).await?;
                    }
                }
            }
            Some(event) = events.recv() => match event {
                Event::Message { peer, payload } => match parse(&payload) {
                    Some((origin, n, who, text)) if seen.first((origin, n)) => {
                        println!("<{who}> {text}");
                        flood(&chat, &payload, &[peer, origin]).await?;
                    }
                    Some(_) => {} // seen before
                    None => eprintln!("* dropped a malformed message from {}", peer.short()),
                },
                Event::ArcOpened { peer, direction: Direction::Out, .. } => println!("* connected to {}", peer.short()),
                Event::ArcClosed { peer, reason, .. } => println!("* arc with {} closed: {reason}", peer.short()),
                _ => {}
            },
            Some(event) = membership.next_event() => match event {
                RoomEvent::Accepted { peer, .. } => {
                    println!("* {} joined through us", peer.short());
                    // One more path for the newcomer, bridged by us.
                    let others = neighbours(&chat).await?.into_iter().filter(|p| *p != peer);
                    let other = others.choose(&mut rand::thread_rng());
                    if let Some(other) = other {
                        if let Err(e) = chat.connect(peer, other).await {
                            eprintln!("* could not bridge {} to {}: {e}", peer.short(), other.short());
                        }
                    }
                }
                RoomEvent::ServerLost(e) => println!("* signaling server lost ({e}); the chat goes on peer to peer"),
                other => eprintln!("* {other:?}"),
            },
        }
    }
    membership.leave().await;
    node.shutdown().await;
    Ok(())
}
