//! `n2n demo`: a signaling server and N peers in one process, through the
//! four phases of [`crate::scenario`], one method of [`Demo`] each:
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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use n2n_overlay::join::{join_room, JoinOptions, Room};
use n2n_overlay::signaling::{ObserveRooms, ServerConfig, SignalingServer, ViewReporter};
use n2n_overlay::{Event, Keypair, Node, NodeConfig, PeerId, ProtocolHandle};
use rand::SeedableRng;
use tokio::sync::Notify;

use crate::backend::{Backend, BackendKind, NatArgs};
use crate::error::CliError;
use crate::report::{PeerRow, Summary};
use crate::scenario::{self, PROTOCOL};

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
    /// STUN, TURN and handshake options (the demo's peers bind 127.0.0.1).
    #[command(flatten)]
    nat: NatArgs,
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

/// The demo's peers, and what their event readers count.
struct Demo {
    peers: Vec<Peer>,
    /// Each peer's index in `peers`.
    index: BTreeMap<PeerId, usize>,
    /// Messages received by all peers.
    delivered: Arc<AtomicU64>,
    /// Woken on each message received.
    progress: Arc<Notify>,
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
pub(crate) async fn run(args: DemoArgs) -> Result<(), CliError> {
    scenario::check_peers(args.peers)?;
    let started = Instant::now();
    let backend = Backend::new(
        args.backend,
        std::net::Ipv4Addr::LOCALHOST.into(),
        &args.nat,
    )?;
    let server = start_server(&args).await?;
    let url = server.url();
    println!(
        "n2n demo: {} peers on {}, signaling server at {url}",
        args.peers,
        backend.kind().name()
    );
    let mut demo = Demo::start(&backend, args.peers).await?;
    let mut summary = Summary::new("wall clock");
    demo.join(&url, &mut summary).await?;
    demo.bridge(args.bridges, args.seed, &mut summary).await;
    demo.exchange_messages(args.messages, &mut summary).await?;
    demo.summarize(&mut summary).await?;
    summary.elapsed = started.elapsed();
    summary.title = format!(
        "n2n demo: {} peers on {}",
        demo.peers.len(),
        backend.kind().name()
    );
    scenario::report(&summary, args.rows, &args.out)?;
    if args.web {
        serve_browsers(&demo.peers, &url, server.local_addr()).await;
    }
    demo.tear_down().await;
    server.shutdown().await;
    scenario::verdict("the demo", &summary)
}

/// The embedded signaling server, with limits for one address's many peers
/// and room for 64 more (browser tabs with `--web`, which also turns on the
/// room graph).
async fn start_server(args: &DemoArgs) -> Result<SignalingServer, CliError> {
    // All the peers run here, on one address; every newcomer's handshake
    // crosses the server, and one member may be the contact of many
    // newcomers in a row.
    let mut config = ServerConfig::for_local_clients(args.peers + 64);
    if args.web {
        config.listen = args.listen;
        config.web.observe = ObserveRooms::Named(vec![ROOM.to_owned()]);
    }
    Ok(SignalingServer::bind(config).await?)
}

impl Demo {
    /// Start `n` nodes on `backend`, each with a reader counting the
    /// messages it receives.
    async fn start(backend: &Backend, n: usize) -> Result<Self, CliError> {
        let protocol = scenario::protocol()?;
        let delivered = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(Notify::new());
        let mut peers = Vec::with_capacity(n);
        for _ in 0..n {
            let node = backend.spawn(Keypair::generate(), NodeConfig::default())?;
            let (handle, mut events) = node.protocol(protocol).await?;
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
        let index = peers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.node.id(), i))
            .collect();
        Ok(Demo {
            peers,
            index,
            delivered,
            progress,
        })
    }

    /// Phase 1: join through the server, one newcomer at a time.
    async fn join(&mut self, url: &str, summary: &mut Summary) -> Result<(), CliError> {
        let t = Instant::now();
        let pb = bar(self.peers.len(), "joining through the signaling server");
        for (i, peer) in self.peers.iter_mut().enumerate() {
            match join_room(&peer.handle, JoinOptions::new(url.to_owned(), ROOM)).await {
                Ok(joined) => {
                    peer.contact = joined.contact.and_then(|c| self.index.get(&c).copied());
                    if joined.contact.is_some() {
                        summary.join_times.push(joined.setup);
                    }
                    peer.room = Some(joined.room);
                }
                // Without a server there is no demo.
                Err(e) if i == 0 => return Err(CliError::join(e, ROOM)),
                Err(e) => summary.join_failures.push(format!("peer {i}: {e}")),
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        println!(
            "joined: {} of {} peers through the server in {:.0?}",
            self.peers.iter().filter(|p| p.room.is_some()).count(),
            self.peers.len(),
            t.elapsed()
        );
        Ok(())
    }

    /// Phase 2: grow by bridges only: each newcomer's contact bridges it to up to
    /// `bridges` of the contact's other neighbours.
    async fn bridge(&self, bridges: usize, seed: Option<u64>, summary: &mut Summary) {
        let t = Instant::now();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed.unwrap_or_else(rand::random));
        let pb = bar(
            self.peers.len().saturating_sub(1),
            "bridging newcomers to more peers",
        );
        for (i, peer) in self.peers.iter().enumerate().skip(1) {
            pb.inc(1);
            let Some(c) = peer.contact else { continue };
            let newcomer = peer.node.id();
            let mine = peer.node.neighbours().await.unwrap_or_default();
            let theirs = self.peers[c].node.neighbours().await.unwrap_or_default();
            let targets = scenario::bridge_targets(newcomer, &mine, theirs, bridges, &mut rng);
            let bridge = &self.peers[c].handle;
            let results = join_all(targets.iter().map(|target| async move {
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
                        self.index.get(&target).copied().unwrap_or(usize::MAX)
                    )),
                }
            }
        }
        pb.finish_and_clear();
        println!(
            "bridged: {} connects in {:.0?}",
            summary.bridge_times.len() + summary.bridge_failures.len(),
            t.elapsed()
        );
    }

    /// Phase 3: `messages` messages over every arc; then wait for delivery: until
    /// all arrived, or nothing new for 10 s.
    async fn exchange_messages(
        &self,
        messages: u32,
        summary: &mut Summary,
    ) -> Result<(), CliError> {
        let t = Instant::now();
        let mut plan: Vec<Vec<PeerId>> = Vec::with_capacity(self.peers.len());
        for p in &self.peers {
            plan.push(p.handle.outview().await?.into_keys().collect());
        }
        let arcs: usize = plan.iter().map(Vec::len).sum();
        let pb = bar(arcs * messages as usize, "exchanging messages");
        let sends = join_all(
            self.peers
                .iter()
                .zip(plan)
                .enumerate()
                .map(|(i, (p, targets))| {
                    let (handle, pb) = (p.handle.clone(), pb.clone());
                    async move {
                        let (mut ok, mut failed) = (0u64, 0u64);
                        for q in targets {
                            for m in 0..messages {
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
                }),
        )
        .await;
        summary.sent = sends.iter().map(|s| s.0).sum();
        summary.send_failures = sends.iter().map(|s| s.1).sum();
        let mut last = (self.delivered.load(Ordering::Relaxed), Instant::now());
        while self.delivered.load(Ordering::Relaxed) < summary.sent
            && last.1.elapsed() < Duration::from_secs(10)
        {
            let _ =
                tokio::time::timeout(Duration::from_millis(100), self.progress.notified()).await;
            let now = self.delivered.load(Ordering::Relaxed);
            if now != last.0 {
                last = (now, Instant::now());
            }
        }
        pb.finish_and_clear();
        summary.delivered = self.delivered.load(Ordering::Relaxed);
        println!(
            "messages: {} delivered of {} in {:.0?}",
            summary.delivered,
            summary.sent,
            t.elapsed()
        );
        Ok(())
    }

    /// Phase 4: each peer's row and connections into the summary.
    async fn summarize(&self, summary: &mut Summary) -> Result<(), CliError> {
        for (i, p) in self.peers.iter().enumerate() {
            let conns = p.node.connections().await?;
            summary.add_connections(i, &conns, &self.index);
            summary.peers.push(PeerRow {
                id: p.node.id(),
                contact: p.contact,
                inview: p.handle.inview().await?,
                outview: p.handle.outview().await?,
                received: p.received.load(Ordering::Relaxed),
            });
        }
        Ok(())
    }

    /// Leave the rooms, stop the nodes (5 s at most).
    async fn tear_down(mut self) {
        for p in &mut self.peers {
            if let Some(room) = p.room.take() {
                room.leave().await;
            }
        }
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            join_all(self.peers.iter().map(|p| p.node.shutdown())),
        )
        .await;
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
