//! `n2n demo`: a signaling server and N peers in one process.
//!
//! 1. **join**: each peer in turn joins the room through the embedded
//!    server (the first is alone; each newcomer gets a random member as
//!    contact and opens one arc to it, the handshake relayed by the server);
//! 2. **bridge**: each newcomer's contact bridges it to a few of the
//!    contact's other neighbours (`connect(newcomer, target)` on the
//!    contact): every one of these connections is set up through the overlay,
//!    none through the server;
//! 3. **messages**: every peer sends a few messages over each of its arcs;
//! 4. the summary: a per-peer table, connections by how they were set up,
//!    setup-time percentiles, messages delivered/lost; and the topology as
//!    DOT and SVG.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use n2n_overlay::join::{join_room, JoinOptions, Room};
use n2n_overlay::signaling::{ObserveRooms, ServerConfig, SignalingServer, ViewReporter};
use n2n_overlay::{Event, Keypair, Node, NodeConfig, PeerId, ProtocolHandle, ProtocolId};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tokio::sync::Notify;

use crate::backend::{Backend, BackendKind};
use crate::report::{PeerRow, Summary};

/// The protocol the demo's arcs belong to.
pub(crate) const PROTOCOL: &str = "n2n-demo";

/// The demo's room.
const ROOM: &str = "demo";

fn default_backend() -> BackendKind {
    if cfg!(feature = "str0m") {
        BackendKind::Str0m
    } else {
        BackendKind::Memory
    }
}

/// Options of `n2n demo`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DemoArgs {
    /// Transport of the peers.
    #[arg(long, value_enum, default_value_t = default_backend())]
    backend: BackendKind,
    /// Number of peers.
    #[arg(long, default_value_t = 24)]
    peers: usize,
    /// Bridged connects each newcomer's contact makes for it.
    #[arg(long, default_value_t = 3)]
    bridges: usize,
    /// Messages sent over each arc.
    #[arg(long, default_value_t = 5)]
    messages: u32,
    /// Directory for topology.dot and topology.svg.
    #[arg(long, default_value = "target/n2n-demo")]
    out: PathBuf,
    /// Seed of the choice of bridge targets (random if absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Rows of the per-peer table shown (the first ones and the last).
    #[arg(long, default_value_t = 60)]
    rows: usize,
    /// Open the room to browsers: serve the page on --listen, show the room
    /// graph, and keep the peers in the room after the summary until Ctrl-C.
    #[arg(long)]
    web: bool,
    /// Where the signaling server (and with --web, the page) listens.
    #[arg(long, default_value = "127.0.0.1:8765", requires = "web")]
    listen: std::net::SocketAddr,
}

#[derive(Parser)]
struct DefaultsOnly {
    #[command(flatten)]
    demo: DemoArgs,
}

impl DemoArgs {
    /// What `n2n` with no arguments runs.
    pub(crate) fn defaults() -> Self {
        DefaultsOnly::parse_from(["n2n"]).demo
    }
}

/// One peer of the demo.
struct Peer {
    node: Node,
    handle: ProtocolHandle,
    received: Arc<AtomicU64>,
    contact: Option<usize>,
    room: Option<Room>,
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg:<34} [{bar:32}] {pos}/{len} {elapsed}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

/// Run the demo; `Err` if it could not run, or ran with failures.
pub(crate) async fn run(args: DemoArgs) -> Result<(), String> {
    if args.peers < 2 {
        return Err("--peers must be at least 2".into());
    }
    let started = Instant::now();
    let backend = Backend::new(
        args.backend,
        std::net::Ipv4Addr::LOCALHOST.into(),
        Vec::new(),
    )?;
    let protocol = ProtocolId::new(PROTOCOL).map_err(|e| e.to_string())?;
    let mut server_config = ServerConfig::default();
    // Every newcomer's handshake crosses the server; one member may be the
    // contact of many newcomers in a row.
    server_config.messages_per_second = 10_000;
    server_config.burst = 10_000;
    server_config.max_peers_per_room = args.peers.max(2);
    // All the peers run here, on one address.
    server_config.max_members_per_address = args.peers.max(2);
    server_config.max_connections_per_address = args.peers.max(2);
    if args.web {
        // Room for browser tabs, and the room graph for the demo room.
        server_config.listen = args.listen;
        server_config.max_peers_per_room += 64;
        server_config.max_members_per_address += 64;
        server_config.max_connections_per_address += 64;
        server_config.web.observe = ObserveRooms::Named(vec![ROOM.to_owned()]);
    }
    let server = SignalingServer::bind(server_config)
        .await
        .map_err(|e| e.to_string())?;
    let url = server.url();
    println!(
        "n2n demo: {} peers on {}, signaling server at {url}",
        args.peers,
        backend.kind().name()
    );

    // Start the nodes and their event readers.
    let delivered = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Notify::new());
    let mut peers = Vec::with_capacity(args.peers);
    for _ in 0..args.peers {
        let node = backend.spawn(Keypair::generate(), NodeConfig::default())?;
        let (handle, mut events) = node.protocol(protocol).await.map_err(|e| e.to_string())?;
        let received = Arc::new(AtomicU64::new(0));
        let (r, d, p) = (received.clone(), delivered.clone(), progress.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Event::Message { .. } = event {
                    r.fetch_add(1, Ordering::Relaxed);
                    d.fetch_add(1, Ordering::Relaxed);
                    p.notify_one();
                }
            }
        });
        peers.push(Peer {
            node,
            handle,
            received,
            contact: None,
            room: None,
        });
    }
    let index: BTreeMap<PeerId, usize> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.node.id(), i))
        .collect();
    let mut summary = Summary {
        clock: "wall clock",
        ..Summary::default()
    };

    // 1. Join through the server, one newcomer at a time.
    let t = Instant::now();
    let pb = bar(peers.len(), "joining through the signaling server");
    for (i, peer) in peers.iter_mut().enumerate() {
        match join_room(&peer.handle, JoinOptions::new(url.clone(), ROOM)).await {
            Ok(joined) => {
                peer.contact = joined.contact.and_then(|c| index.get(&c).copied());
                if joined.contact.is_some() {
                    summary.join_times.push(joined.setup);
                }
                peer.room = Some(joined.room);
            }
            // Without a server there is no demo.
            Err(e) if i == 0 => return Err(e.to_string()),
            Err(e) => summary.join_failures.push(format!("peer {i}: {e}")),
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    println!(
        "joined: {} of {} peers through the server in {:.0?}",
        peers.iter().filter(|p| p.room.is_some()).count(),
        peers.len(),
        t.elapsed()
    );

    // 2. Grow by bridges only: each newcomer's contact bridges it to some of
    // the contact's other neighbours.
    let t = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed.unwrap_or_else(rand::random));
    let pb = bar(
        peers.len().saturating_sub(1),
        "bridging newcomers to more peers",
    );
    for i in 1..peers.len() {
        let Some(c) = peers[i].contact else {
            pb.inc(1);
            continue;
        };
        let newcomer = peers[i].node.id();
        let mine: BTreeSet<PeerId> = peers[i].node.neighbours().await.unwrap_or_default();
        let theirs = peers[c].node.neighbours().await.unwrap_or_default();
        let mut candidates: Vec<PeerId> = theirs
            .into_iter()
            .filter(|p| *p != newcomer && !mine.contains(p))
            .collect();
        candidates.shuffle(&mut rng);
        candidates.truncate(args.bridges);
        let bridge = &peers[c].handle;
        let results = join_all(candidates.iter().map(|target| async move {
            let t0 = Instant::now();
            let r = bridge.connect(newcomer, *target).await;
            (*target, t0.elapsed(), r)
        }))
        .await;
        for (target, took, r) in results {
            match r {
                Ok(()) => summary.bridge_times.push(took),
                Err(e) => summary.bridge_failures.push(format!(
                    "peer {c} bridging {i} to {}: {e}",
                    index.get(&target).copied().unwrap_or(usize::MAX)
                )),
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    println!(
        "bridged: {} connects in {:.0?}",
        summary.bridge_times.len() + summary.bridge_failures.len(),
        t.elapsed()
    );

    // 3. Messages over every arc.
    let t = Instant::now();
    let mut plan = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        for (q, _) in p.handle.outview().await.map_err(|e| e.to_string())? {
            plan.push((i, q));
        }
    }
    let pb = bar(plan.len() * args.messages as usize, "exchanging messages");
    let sends = join_all(peers.iter().enumerate().map(|(i, p)| {
        let targets: Vec<PeerId> = plan
            .iter()
            .filter(|(from, _)| *from == i)
            .map(|(_, q)| *q)
            .collect();
        let (handle, pb, count) = (p.handle.clone(), pb.clone(), args.messages);
        async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            for q in targets {
                for m in 0..count {
                    match handle.send(q, format!("message {m} from peer {i}")).await {
                        Ok(()) => ok += 1,
                        Err(e) => {
                            tracing::warn!(%e, "send refused");
                            failed += 1;
                        }
                    }
                    pb.inc(1);
                }
            }
            (ok, failed)
        }
    }))
    .await;
    summary.sent = sends.iter().map(|s| s.0).sum();
    summary.send_failures = sends.iter().map(|s| s.1).sum();
    // Wait for delivery: until all arrived, or nothing new for 10 s.
    let mut last = (delivered.load(Ordering::Relaxed), Instant::now());
    while delivered.load(Ordering::Relaxed) < summary.sent
        && last.1.elapsed() < Duration::from_secs(10)
    {
        let _ = tokio::time::timeout(Duration::from_millis(100), progress.notified()).await;
        let now = delivered.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    pb.finish_and_clear();
    summary.delivered = delivered.load(Ordering::Relaxed);
    println!(
        "messages: {} delivered of {} in {:.0?}",
        summary.delivered,
        summary.sent,
        t.elapsed()
    );

    // 4. Summary.
    for (i, p) in peers.iter().enumerate() {
        let conns = p.node.connections().await.map_err(|e| e.to_string())?;
        summary.add_connections(i, &conns, &index);
        summary.peers.push(PeerRow {
            id: p.node.id(),
            contact: p.contact,
            inview: p.handle.inview().await.map_err(|e| e.to_string())?,
            outview: p.handle.outview().await.map_err(|e| e.to_string())?,
            received: p.received.load(Ordering::Relaxed),
        });
    }
    summary.elapsed = started.elapsed();
    summary.title = format!(
        "n2n demo: {} peers on {}",
        peers.len(),
        backend.kind().name()
    );
    println!();
    print!("{}", summary.render(args.rows));
    let (dot, svg) = summary.write_topology(&args.out)?;
    println!(
        "topology: {} and {} (open the .svg in a browser)",
        dot.display(),
        svg.display()
    );

    if args.web {
        serve_browsers(&peers, &url, server.local_addr()).await;
    }

    // Tear down: the rooms, the nodes, the server.
    for p in &mut peers {
        if let Some(room) = p.room.take() {
            room.leave().await;
        }
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        join_all(peers.iter().map(|p| p.node.shutdown())),
    )
    .await;
    server.shutdown().await;

    let mut problems = Vec::new();
    if !summary.join_failures.is_empty() {
        problems.push(format!("{} joins failed", summary.join_failures.len()));
    }
    if !summary.bridge_failures.is_empty() {
        problems.push(format!(
            "{} bridged connects failed",
            summary.bridge_failures.len()
        ));
    }
    if summary.lost() > 0 || summary.send_failures > 0 {
        problems.push(format!(
            "{} messages lost, {} refused",
            summary.lost(),
            summary.send_failures
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the demo ran with failures: {} (run with RUST_LOG=debug for details)",
            problems.join(", ")
        ))
    }
}

/// `--web`: the peers stay in the room (they accept newcomers, browser tabs
/// included) and report their views to the room graph, until Ctrl-C.
async fn serve_browsers(peers: &[Peer], url: &str, addr: std::net::SocketAddr) {
    println!();
    println!(
        "open http://{addr}/?room={ROOM}&protocol={PROTOCOL} in a browser (each tab is a peer); Ctrl-C ends the demo"
    );
    let mut reporters = Vec::new();
    for p in peers {
        let handle = p.handle.clone();
        let (url, id) = (url.to_owned(), p.node.id());
        reporters.push(tokio::spawn(async move {
            let Ok(mut reporter) = ViewReporter::connect(&url, ROOM, id).await else {
                return;
            };
            loop {
                let Ok(out) = handle.outview().await else {
                    return;
                };
                if let Err(e) = reporter.report(&out).await {
                    tracing::debug!(%e, "room graph report stopped");
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        println!("cannot wait for Ctrl-C ({e}): ending now");
    }
    for r in reporters {
        r.abort();
    }
}
