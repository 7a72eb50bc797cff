//! `n2n peer`: one peer, joined through a signaling server, driven from stdin.
//!
//! Prints one line per event on stdout (`id ...`, `joined ...`,
//! `arc opened out PEER`, `message from PEER: TEXT`, ...). Reads stdin: a
//! line is sent to every neighbour, unless it is a command:
//!
//! | command | does |
//! |---|---|
//! | `/peers` | one `peer ID out=N in=N state=S via=server|bridge:ID path=host|srflx|relay local=KIND remote=KIND` line per neighbour, then `peers: N` |
//! | `/bridge A B` | bridge neighbour A to neighbour B (arc A -> B) |
//! | `/connect B` | one more arc to neighbour B |
//! | `/disconnect B` | remove one arc to B |
//! | `/send B TEXT` | send TEXT to B only |
//! | `/quit` | leave (also at the end of stdin) |
//!
//! Peers are named by their id or any unambiguous prefix of it.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use n2n_overlay::join::{join_room, JoinError, JoinOptions, RoomEvent};
use n2n_overlay::signaling::ClientError;
use n2n_overlay::{
    Config, Direction, Event, Keypair, Node, NodeConfig, PeerId, ProtocolHandle, ProtocolId, Via,
};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::backend::{describe_path, Backend, BackendKind, NatArgs, Paths};

/// Options of `n2n peer`.
#[derive(Debug, clap::Args)]
pub(crate) struct PeerArgs {
    /// The signaling server, ws://HOST:PORT/ (see `n2n signal`).
    #[arg(long)]
    signal: String,
    /// The room to join.
    #[arg(long, default_value = "lobby")]
    room: String,
    /// Join through this member (its full id, as it printed it) instead of a random one.
    #[arg(long)]
    contact: Option<PeerId>,
    /// Transport.
    #[arg(long, value_enum, default_value_t = if cfg!(feature = "str0m") { BackendKind::Str0m } else { BackendKind::WebrtcRs })]
    backend: BackendKind,
    /// Local address for WebRTC (0.0.0.0: every interface, to reach other machines).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// STUN, TURN and handshake options.
    #[command(flatten)]
    nat: NatArgs,
    /// Seconds a connection with no arc left stays open before it closes.
    #[arg(long, default_value_t = 60)]
    dying_timeout: u64,
    /// The overlay protocol's name.
    #[arg(long, default_value = "n2n-chat")]
    protocol: String,
}

/// Join, then print events and run stdin commands until `/quit` or the end of stdin.
pub(crate) async fn run(args: PeerArgs) -> Result<(), String> {
    if args.backend == BackendKind::Memory {
        return Err("the memory backend only connects peers of one process: use --backend str0m or webrtc-rs".into());
    }
    let backend = Backend::new(args.backend, args.bind, &args.nat)?;
    let protocol = ProtocolId::new(&args.protocol).map_err(|e| format!("{e} (--protocol)"))?;
    let config = NodeConfig::with_engine(
        Config::default().with_dying_timeout(Duration::from_secs(args.dying_timeout)),
    );
    let (node, paths) = backend.spawn_with_paths(Keypair::generate(), config)?;
    let (handle, mut events) = node.protocol(protocol).await.map_err(|e| e.to_string())?;
    println!("id {}", node.id());

    let mut options = JoinOptions::new(args.signal.clone(), args.room.clone());
    if let Some(c) = args.contact {
        options = options.with_contact(c);
    }
    let joined = join_room(&handle, options)
        .await
        .map_err(|e| join_error(e, &args.room))?;
    match joined.contact {
        None => println!("joined room {}: alone, waiting for newcomers", args.room),
        Some(c) => println!(
            "joined room {} via {c} in {:.1} ms",
            args.room,
            joined.setup.as_secs_f64() * 1000.0
        ),
    }
    let mut room = joined.room;
    tokio::spawn(async move {
        while let Some(event) = room.next_event().await {
            match event {
                RoomEvent::Accepted { peer, took } => println!(
                    "newcomer {peer} joined through us in {:.1} ms",
                    took.as_secs_f64() * 1000.0
                ),
                RoomEvent::AcceptFailed { peer, reason } => {
                    println!("newcomer {peer} failed to join: {reason}")
                }
                RoomEvent::RelayFailed { to, error } => {
                    println!("signaling relay to {to} failed: {error}")
                }
                RoomEvent::ServerLost(e) => {
                    println!("signaling server lost ({e}); the overlay goes on through bridges")
                }
                other => println!("room event {other:?}"),
            }
        }
    });
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            print_event(&event);
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => return Err(format!("cannot read stdin: {e}")),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/quit" {
            break;
        }
        if let Err(e) = command(&node, &handle, &paths, line).await {
            println!("error: {e}");
        }
    }
    node.shutdown().await;
    Ok(())
}

fn join_error(e: JoinError, room: &str) -> String {
    match e {
        JoinError::Signaling(ClientError::RoomFull(m)) => {
            format!("room {room:?} is full ({m}): pick another room with --room")
        }
        JoinError::Signaling(ClientError::DuplicatePeer(m)) => {
            format!("this peer id is already in room {room:?} ({m}): start the peer again")
        }
        e => e.to_string(),
    }
}

fn print_event(event: &Event) {
    let dir = |d: &Direction| if *d == Direction::Out { "out" } else { "in" };
    match event {
        Event::ArcOpened {
            peer,
            direction,
            count,
        } => println!("arc opened {} {peer} (x{count})", dir(direction)),
        Event::ArcClosed {
            peer,
            direction,
            reason,
            count,
        } => println!(
            "arc closed {} {peer} (x{count} left): {reason}",
            dir(direction)
        ),
        Event::ConnectFailed { peer, reason } => match peer {
            Some(p) => println!("connect failed {p}: {reason}"),
            None => println!("connect failed: {reason}"),
        },
        Event::Message { peer, payload } => {
            println!("message from {peer}: {}", printable(payload))
        }
        other => println!("event {other:?}"),
    }
}

/// Everyone this peer knows: neighbours and both views.
async fn known(node: &Node, handle: &ProtocolHandle) -> Result<BTreeSet<PeerId>, String> {
    let mut all = node.neighbours().await.map_err(|e| e.to_string())?;
    all.extend(
        handle
            .inview()
            .await
            .map_err(|e| e.to_string())?
            .into_keys(),
    );
    all.extend(
        handle
            .outview()
            .await
            .map_err(|e| e.to_string())?
            .into_keys(),
    );
    Ok(all)
}

/// The known peer whose id starts with `prefix`.
async fn resolve(node: &Node, handle: &ProtocolHandle, prefix: &str) -> Result<PeerId, String> {
    let prefix = prefix.to_ascii_lowercase();
    let matches: Vec<PeerId> = known(node, handle)
        .await?
        .into_iter()
        .filter(|p| p.to_string().starts_with(&prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "no neighbour has an id starting with {prefix:?}: /peers lists them"
        )),
        _ => Err(format!(
            "{prefix:?} names {} neighbours: give more digits",
            matches.len()
        )),
    }
}

async fn command(
    node: &Node,
    handle: &ProtocolHandle,
    paths: &Paths,
    line: &str,
) -> Result<(), String> {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(());
    };
    if !first.starts_with('/') {
        // A message for every neighbour of this protocol.
        let peers = {
            let mut p: BTreeSet<PeerId> = handle
                .inview()
                .await
                .map_err(|e| e.to_string())?
                .into_keys()
                .collect();
            p.extend(
                handle
                    .outview()
                    .await
                    .map_err(|e| e.to_string())?
                    .into_keys(),
            );
            p
        };
        for p in &peers {
            handle
                .send(*p, line.to_owned())
                .await
                .map_err(|e| e.to_string())?;
        }
        println!("sent to {} peers", peers.len());
        return Ok(());
    }
    match (first, words.next(), words.next()) {
        ("/peers", None, None) => {
            let (inview, outview) = (
                handle.inview().await.map_err(|e| e.to_string())?,
                handle.outview().await.map_err(|e| e.to_string())?,
            );
            let conns = node.connections().await.map_err(|e| e.to_string())?;
            let mut n = 0;
            for c in conns.iter().filter(|c| c.state.is_established()) {
                let Some(p) = c.peer else { continue };
                let via = match c.via {
                    Via::OutOfBand => "server".to_owned(),
                    Via::Bridge(b) => format!("bridge:{}", b.short()),
                };
                println!(
                    "peer {p} out={} in={} state={:?} via={via} {}",
                    outview.get(&p).copied().unwrap_or(0),
                    inview.get(&p).copied().unwrap_or(0),
                    c.state,
                    describe_path(paths, c.conn)
                );
                n += 1;
            }
            println!("peers: {n}");
            Ok(())
        }
        ("/bridge", Some(a), Some(b)) => {
            let (a, b) = (
                resolve(node, handle, a).await?,
                resolve(node, handle, b).await?,
            );
            let t = Instant::now();
            handle
                .connect(a, b)
                .await
                .map_err(|e| format!("bridge failed: {e}"))?;
            println!(
                "bridged {a} -> {b} in {:.1} ms",
                t.elapsed().as_secs_f64() * 1000.0
            );
            Ok(())
        }
        ("/connect", Some(b), None) => {
            let b = resolve(node, handle, b).await?;
            handle
                .connect(None, b)
                .await
                .map_err(|e| format!("connect failed: {e}"))?;
            println!("connected -> {b}");
            Ok(())
        }
        ("/disconnect", Some(b), None) => {
            let b = resolve(node, handle, b).await?;
            handle.disconnect(b).await.map_err(|e| e.to_string())?;
            println!("disconnected -> {b}");
            Ok(())
        }
        ("/send", Some(b), Some(_)) => {
            let b = resolve(node, handle, b).await?;
            let text = line.splitn(3, ' ').nth(2).unwrap_or_default().trim();
            handle
                .send(b, text.to_owned())
                .await
                .map_err(|e| e.to_string())?;
            println!("sent to 1 peer");
            Ok(())
        }
        ("/help", _, _) => {
            println!("commands: /peers, /bridge A B, /connect B, /disconnect B, /send B TEXT, /quit; other lines go to every neighbour");
            Ok(())
        }
        _ => Err(format!(
            "unknown command {line:?}: /help lists the commands"
        )),
    }
}

/// Remote bytes for the terminal: control characters escaped, so a peer
/// cannot inject terminal escape sequences.
fn printable(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload).escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn remote_payloads_cannot_carry_terminal_escapes() {
        let shown = super::printable(b"hi \x1b]0;owned\x07\x1b[2J");
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown}"
        );
        assert!(shown.starts_with("hi "));
    }
}
