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

use n2n_overlay::join::{join_room, JoinOptions, RoomEvent};
use n2n_overlay::{
    Config, Direction, Event, Keypair, Node, NodeConfig, PeerId, ProtocolHandle, ProtocolId, Via,
};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::backend::{describe_path, Backend, BackendKind, NatArgs, Paths};
use crate::error::CliError;

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
pub(crate) async fn run(args: PeerArgs) -> Result<(), CliError> {
    if args.backend == BackendKind::Memory {
        return Err(CliError::MemoryAcrossProcesses);
    }
    let backend = Backend::new(args.backend, args.bind, &args.nat)?;
    let protocol = ProtocolId::new(&args.protocol).map_err(CliError::ProtocolName)?;
    let config = NodeConfig::with_engine(
        Config::default().with_dying_timeout(Duration::from_secs(args.dying_timeout)),
    );
    let (node, paths) = backend.spawn_with_paths(Keypair::generate(), config)?;
    let (handle, mut events) = node.protocol(protocol).await?;
    println!("id {}", node.id());

    let mut options = JoinOptions::new(args.signal.clone(), args.room.clone());
    if let Some(c) = args.contact {
        options = options.with_contact(c);
    }
    let joined = join_room(&handle, options)
        .await
        .map_err(|e| CliError::join(e, &args.room))?;
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
            print_room_event(&event);
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
            Err(e) => return Err(CliError::Stdin(e)),
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

/// One line for what the room's serving task reports.
fn print_room_event(event: &RoomEvent) {
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

/// One line for an event of the overlay protocol.
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
async fn known(node: &Node, handle: &ProtocolHandle) -> Result<BTreeSet<PeerId>, CliError> {
    let mut all = node.neighbours().await?;
    all.extend(neighbours(handle).await?);
    Ok(all)
}

/// The peers of this protocol: both views.
async fn neighbours(handle: &ProtocolHandle) -> Result<BTreeSet<PeerId>, CliError> {
    let mut all: BTreeSet<PeerId> = handle.inview().await?.into_keys().collect();
    all.extend(handle.outview().await?.into_keys());
    Ok(all)
}

/// The known peer whose id starts with `prefix`.
async fn resolve(node: &Node, handle: &ProtocolHandle, prefix: &str) -> Result<PeerId, CliError> {
    let prefix = prefix.to_ascii_lowercase();
    let matches: Vec<PeerId> = known(node, handle)
        .await?
        .into_iter()
        .filter(|p| p.to_string().starts_with(&prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(CliError::NoSuchPeer(prefix)),
        _ => Err(CliError::AmbiguousPeer {
            prefix,
            count: matches.len(),
        }),
    }
}

/// Run one line typed on stdin: a command, or a message for every neighbour.
async fn command(
    node: &Node,
    handle: &ProtocolHandle,
    paths: &Paths,
    line: &str,
) -> Result<(), CliError> {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(());
    };
    if !first.starts_with('/') {
        return broadcast(handle, line).await;
    }
    match (first, words.next(), words.next()) {
        ("/peers", None, None) => list_peers(node, handle, paths).await,
        ("/bridge", Some(a), Some(b)) => {
            let (a, b) = (
                resolve(node, handle, a).await?,
                resolve(node, handle, b).await?,
            );
            let t = Instant::now();
            handle.connect(a, b).await.map_err(CliError::Bridge)?;
            println!(
                "bridged {a} -> {b} in {:.1} ms",
                t.elapsed().as_secs_f64() * 1000.0
            );
            Ok(())
        }
        ("/connect", Some(b), None) => {
            let b = resolve(node, handle, b).await?;
            handle.connect(None, b).await.map_err(CliError::Connect)?;
            println!("connected -> {b}");
            Ok(())
        }
        ("/disconnect", Some(b), None) => {
            let b = resolve(node, handle, b).await?;
            handle.disconnect(b).await?;
            println!("disconnected -> {b}");
            Ok(())
        }
        ("/send", Some(b), Some(_)) => {
            let b = resolve(node, handle, b).await?;
            let text = line.splitn(3, ' ').nth(2).unwrap_or_default().trim();
            handle.send(b, text.to_owned()).await?;
            println!("sent to 1 peer");
            Ok(())
        }
        ("/help", _, _) => {
            println!("commands: /peers, /bridge A B, /connect B, /disconnect B, /send B TEXT, /quit; other lines go to every neighbour");
            Ok(())
        }
        _ => Err(CliError::UnknownCommand(line.to_owned())),
    }
}

/// A line that is no command: a message for every neighbour of this protocol.
async fn broadcast(handle: &ProtocolHandle, line: &str) -> Result<(), CliError> {
    let peers = neighbours(handle).await?;
    for p in &peers {
        handle.send(*p, line.to_owned()).await?;
    }
    println!("sent to {} peers", peers.len());
    Ok(())
}

/// `/peers`: one line per established connection, then the count.
async fn list_peers(node: &Node, handle: &ProtocolHandle, paths: &Paths) -> Result<(), CliError> {
    let (inview, outview) = (handle.inview().await?, handle.outview().await?);
    let conns = node.connections().await?;
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
