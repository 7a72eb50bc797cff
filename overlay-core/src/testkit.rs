//! The transport conformance suite (feature `testkit`).
//!
//! Every transport, ours and users', runs it with one call:
//!
//! ```no_run
//! # async fn doc() -> Result<(), overlay_core::testkit::ConformanceError> {
//! use overlay_core::{testkit, MemoryNetwork};
//! let net = MemoryNetwork::new();
//! let report = testkit::run_all(|| { let net = net.clone(); async move { net.transport() } }).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! Each case is also a function of its own, so a transport's test file can
//! run them as separate tests. The first eight run nodes over the
//! transport; the last six ([`frame_sizes`], [`oversized_frame`],
//! [`crash_vs_graceful`], [`local_failure_closes_remote`],
//! [`signals_out_of_order`], [`resources_freed`]) drive two transports
//! directly and check the contract of [`crate::transport`] itself. Cases run in real time (real transports do
//! real I/O) with short timeouts, and each is bounded by
//! [`CASE_TIMEOUT`]: a hang is a failure, not a stuck test.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Config;
use crate::error::ConnectError;
use crate::event::{ArcCloseReason, ConnectFailure, Direction, Event};
use crate::id::{Keypair, PeerId, ProtocolId};
use crate::node::{link_out_of_band, EventStream, Node, NodeConfig, ProtocolHandle};
use crate::transport::Transport;

/// Longest a case may run.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// A case that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conformance case `{case}` failed: {what}")]
pub struct ConformanceError {
    /// The case.
    pub case: &'static str,
    /// What went wrong.
    pub what: String,
}

/// What [`run_all`] measured: each case and its wall time.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Case name and how long it took.
    pub cases: Vec<(&'static str, Duration)>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (case, d) in &self.cases {
            writeln!(f, "{case:<28} ok  {:>8.1} ms", d.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}

type CaseResult = Result<(), String>;

fn protocol() -> ProtocolId {
    ProtocolId::new("conformance").unwrap_or_else(|_| unreachable!("valid literal"))
}

fn config() -> NodeConfig {
    let engine = Config::default()
        .with_pending_timeout(Duration::from_secs(3))
        .with_dying_timeout(Duration::from_millis(800));
    NodeConfig::with_engine(engine)
}

struct Peer {
    node: Node,
    handle: ProtocolHandle,
    events: EventStream,
}

impl Peer {
    fn id(&self) -> PeerId {
        self.node.id()
    }

    /// Wait for an event matching `pred`, skipping others.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Result<Event, String> {
        let wait = async {
            while let Some(e) = self.events.recv().await {
                if pred(&e) {
                    return Ok(e);
                }
            }
            Err(format!("event stream ended while waiting for {what}"))
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .map_err(|_| format!("no {what} within 20 s"))?
    }

    async fn outview(&self) -> Result<BTreeMap<PeerId, u32>, String> {
        self.handle.outview().await.map_err(|e| e.to_string())
    }

    async fn inview(&self) -> Result<BTreeMap<PeerId, u32>, String> {
        self.handle.inview().await.map_err(|e| e.to_string())
    }
}

tokio::task_local! {
    /// Set by [`run_all_unbound`]: the suite's nodes accept connections
    /// without channel binding.
    static UNBOUND: bool;
}

async fn peer<T: Transport, F: Future<Output = T>>(
    make: &mut impl FnMut() -> F,
    mut cfg: NodeConfig,
) -> Result<Peer, String> {
    if UNBOUND.try_with(|u| *u).unwrap_or(false) {
        cfg.engine = cfg.engine.with_insecure_allow_unbound_connections(true);
    }
    let node = Node::spawn(make().await, Keypair::generate(), cfg);
    let (handle, events) = node.protocol(protocol()).await.map_err(|e| e.to_string())?;
    Ok(Peer {
        node,
        handle,
        events,
    })
}

async fn join(a: &Peer, b: &Peer) -> CaseResult {
    let got = link_out_of_band(&a.handle, &b.node)
        .await
        .map_err(|e| format!("out-of-band join failed: {e}"))?;
    if got != b.id() {
        return Err(format!("joined {got:?}, expected {:?}", b.id()));
    }
    Ok(())
}

fn count(view: &BTreeMap<PeerId, u32>, p: &PeerId) -> u32 {
    view.get(p).copied().unwrap_or(0)
}

/// Both ends agree on `n` arcs `from -> to`. Views converge once the
/// control messages in flight arrive, so this waits (up to 10 s) for it.
async fn check_arc(from: &Peer, to: &Peer, n: u32) -> CaseResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = count(&from.outview().await?, &to.id());
        let inn = count(&to.inview().await?, &from.id());
        if out == n && inn == n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "expected {n} arc(s) {:?} -> {:?}; outview says {out}, inview says {inn}",
                from.id(),
                to.id()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Wait until neither `a` nor `b` holds any connection (pending, living or dying).
async fn wait_no_connections(a: &Peer, b: &Peer, within: Duration, what: &str) -> CaseResult {
    let deadline = Instant::now() + within;
    loop {
        let ca = a.node.connections().await.map_err(|e| e.to_string())?.len();
        let cb = b.node.connections().await.map_err(|e| e.to_string())?.len();
        if ca == 0 && cb == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what} ({ca} at A, {cb} at B)"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn case<Fut: Future<Output = CaseResult>>(
    name: &'static str,
    f: Fut,
) -> Result<Duration, ConformanceError> {
    let start = Instant::now();
    match tokio::time::timeout(CASE_TIMEOUT, f).await {
        Ok(Ok(())) => Ok(start.elapsed()),
        Ok(Err(what)) => Err(ConformanceError { case: name, what }),
        Err(_) => Err(ConformanceError {
            case: name,
            what: format!("did not finish within {CASE_TIMEOUT:?}"),
        }),
    }
}

/// A joins B out-of-band: one arc A -> B, seen on both sides.
///
/// # Errors
/// The case's failure.
pub async fn direct_connect<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("direct_connect", async move {
        let mut a = peer(&mut make, config()).await?;
        let mut b = peer(&mut make, config()).await?;
        join(&a, &b).await?;
        a.expect("arc opened at A", |e| {
            matches!(
                e,
                Event::ArcOpened {
                    direction: Direction::Out,
                    count: 1,
                    ..
                }
            )
        })
        .await?;
        b.expect("arc opened at B", |e| {
            matches!(
                e,
                Event::ArcOpened {
                    direction: Direction::In,
                    count: 1,
                    ..
                }
            )
        })
        .await?;
        check_arc(&a, &b, 1).await
    })
    .await
}

/// A and C join B; B bridges A to C: A and C get their own connection.
///
/// # Errors
/// The case's failure.
pub async fn bridged_connect<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("bridged_connect", async move {
        let a = peer(&mut make, config()).await?;
        let b = peer(&mut make, config()).await?;
        let mut c = peer(&mut make, config()).await?;
        join(&a, &b).await?;
        join(&c, &b).await?;
        b.handle.connect(a.id(), c.id()).await.map_err(|e| format!("bridge failed: {e}"))?;
        check_arc(&a, &c, 1).await?;
        let neighbours = a.node.neighbours().await.map_err(|e| e.to_string())?;
        if !neighbours.contains(&c.id()) {
            return Err("A has no direct connection to C after the bridge".into());
        }
        a.handle.send(c.id(), &b"over the bridge-made link"[..]).await.map_err(|e| e.to_string())?;
        c.expect("message from A", |e| matches!(e, Event::Message { payload, .. } if &payload[..] == b"over the bridge-made link")).await?;
        Ok(())
    })
    .await
}

/// A batch naming the pair A -> C three times: one connection, three arcs.
///
/// # Errors
/// The case's failure.
pub async fn batch_duplicates<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("batch_duplicates", async move {
        let a = peer(&mut make, config()).await?;
        let b = peer(&mut make, config()).await?;
        let c = peer(&mut make, config()).await?;
        join(&a, &b).await?;
        join(&c, &b).await?;
        let from = vec![a.id(), a.id(), a.id()];
        b.handle
            .connect(from, c.id())
            .await
            .map_err(|e| format!("batch failed: {e}"))?;
        check_arc(&a, &c, 3).await?;
        let to_c = a
            .node
            .connections()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|i| i.peer == Some(c.id()))
            .count();
        if to_c != 1 {
            return Err(format!("A holds {to_c} connections to C, expected 1"));
        }
        let stats = a.node.stats().await.map_err(|e| e.to_string())?;
        if stats.engine.handshakes_started != 2 {
            return Err(format!(
                "A started {} handshakes, expected 2 (join B, then C)",
                stats.engine.handshakes_started
            ));
        }
        Ok(())
    })
    .await
}

/// Messages both ways arrive whole and in order, small and split ones mixed.
///
/// # Errors
/// The case's failure.
pub async fn messages_in_order<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("messages_in_order", async move {
        let mut a = peer(&mut make, config()).await?;
        let mut b = peer(&mut make, config()).await?;
        join(&a, &b).await?;
        const N: u32 = 500;
        let msg = |i: u32| -> Bytes {
            let len = if i % 50 == 7 {
                150_000
            } else {
                8 + (i as usize % 1500)
            };
            let mut v = vec![(i % 251) as u8; len];
            v[..4].copy_from_slice(&i.to_be_bytes());
            Bytes::from(v)
        };
        let (ha, hb, ida, idb) = (a.handle.clone(), b.handle.clone(), a.id(), b.id());
        let send_a = tokio::spawn(async move {
            for i in 0..N {
                ha.send(idb, msg(i)).await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        });
        let send_b = tokio::spawn(async move {
            for i in 0..N {
                hb.send(ida, msg(i)).await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        });
        for (who, p) in [("B", &mut b), ("A", &mut a)] {
            for i in 0..N {
                let e = p
                    .expect("message", |e| matches!(e, Event::Message { .. }))
                    .await?;
                if let Event::Message { payload, .. } = e {
                    if payload != msg(i) {
                        return Err(format!(
                            "{who}: message {i} arrived wrong or out of order ({} bytes)",
                            payload.len()
                        ));
                    }
                }
            }
        }
        send_a.await.map_err(|e| e.to_string())??;
        send_b.await.map_err(|e| e.to_string())??;
        Ok(())
    })
    .await
}

/// A shuts down: B sees its arc close; a removed last arc ends, after the
/// dying timeout, with no connection on either side.
///
/// # Errors
/// The case's failure.
pub async fn close_seen_by_both<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("close_seen_by_both", async move {
        // Graceful end of a dying connection.
        let a = peer(&mut make, config()).await?;
        let mut b = peer(&mut make, config()).await?;
        join(&a, &b).await?;
        a.handle.disconnect(b.id()).await.map_err(|e| e.to_string())?;
        b.expect("arc removed at B", |e| matches!(e, Event::ArcClosed { reason: ArcCloseReason::Removed, .. })).await?;
        wait_no_connections(&a, &b, Duration::from_secs(15), "dying connection not closed on both sides").await?;
        // A node going away is seen by the other side.
        let c = peer(&mut make, config()).await?;
        join(&c, &b).await?;
        b.expect("arc from C", |e| matches!(e, Event::ArcOpened { .. })).await?;
        c.node.shutdown().await;
        b.expect("arc from C closed", |e| {
            matches!(e, Event::ArcClosed { direction: Direction::In, reason, .. } if *reason != ArcCloseReason::Removed)
        })
        .await?;
        drop(a);
        Ok(())
    })
    .await
}

/// A handshake whose answer never comes is dropped at the pending timeout
/// on both sides, and the initiator learns `Timeout`.
///
/// # Errors
/// The case's failure.
pub async fn pending_timeout<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("pending_timeout", async move {
        let mut a = peer(&mut make, config()).await?;
        let b = peer(&mut make, config()).await?;
        let mut oob = a
            .handle
            .connect_out_of_band()
            .await
            .map_err(|e| e.to_string())?;
        let offer = oob.next_signal().await.ok_or("no offer")?;
        // The acceptor gets the offer, but its answer is never carried back.
        let _acc = b
            .node
            .accept_out_of_band(offer)
            .await
            .map_err(|e| e.to_string())?;
        match oob.finished().await {
            Err(ConnectError::Failed(ConnectFailure::Timeout)) => {}
            other => return Err(format!("expected a timeout, got {other:?}")),
        }
        a.expect("connect failed event", |e| {
            matches!(
                e,
                Event::ConnectFailed {
                    reason: ConnectFailure::Timeout,
                    ..
                }
            )
        })
        .await?;
        wait_no_connections(
            &a,
            &b,
            Duration::from_secs(10),
            "pending entries outlived their timeout",
        )
        .await
    })
    .await
}

/// An arc removed and added again within the dying timeout reuses the
/// connection: no new handshake.
///
/// # Errors
/// The case's failure.
pub async fn dying_revive<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("dying_revive", async move {
        let cfg =
            NodeConfig::with_engine(Config::default().with_pending_timeout(Duration::from_secs(3)));
        let a = peer(&mut make, cfg.clone()).await?;
        let b = peer(&mut make, cfg).await?;
        join(&a, &b).await?;
        a.handle
            .disconnect(b.id())
            .await
            .map_err(|e| e.to_string())?;
        a.handle
            .connect(None, b.id())
            .await
            .map_err(|e| format!("revive failed: {e}"))?;
        check_arc(&a, &b, 1).await?;
        let s = a.node.stats().await.map_err(|e| e.to_string())?.engine;
        if s.revived != 1 || s.handshakes_started != 1 {
            return Err(format!(
                "expected one revival and one handshake, got {} and {}",
                s.revived, s.handshakes_started
            ));
        }
        a.handle
            .send(b.id(), &b"still here"[..])
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    })
    .await
}

/// 50 peers join one hub at the same time.
///
/// # Errors
/// The case's failure.
pub async fn concurrent_handshakes<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("concurrent_handshakes", async move {
        let cfg = NodeConfig::with_engine(
            Config::default().with_pending_timeout(Duration::from_secs(20)),
        );
        let hub = peer(&mut make, cfg.clone()).await?;
        let mut others = Vec::new();
        for _ in 0..50 {
            others.push(peer(&mut make, cfg.clone()).await?);
        }
        let joins = others.iter().map(|o| join(o, &hub));
        let results = futures::future::join_all(joins).await;
        let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        if !failed.is_empty() {
            return Err(format!(
                "{} of 50 joins failed; first: {}",
                failed.len(),
                failed[0]
            ));
        }
        let inview = hub.inview().await?;
        if inview.len() != 50 || inview.values().any(|n| *n != 1) {
            return Err(format!(
                "hub inview holds {} peers, expected 50 with one arc each",
                inview.len()
            ));
        }
        Ok(())
    })
    .await
}

/// Run every case in turn.
///
/// # Errors
/// The first failing case.
pub async fn run_all<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Report, ConformanceError> {
    let mut r = Report::default();
    r.cases
        .push(("direct_connect", direct_connect(&mut make).await?));
    r.cases
        .push(("bridged_connect", bridged_connect(&mut make).await?));
    r.cases
        .push(("batch_duplicates", batch_duplicates(&mut make).await?));
    r.cases
        .push(("messages_in_order", messages_in_order(&mut make).await?));
    r.cases
        .push(("close_seen_by_both", close_seen_by_both(&mut make).await?));
    r.cases
        .push(("pending_timeout", pending_timeout(&mut make).await?));
    r.cases
        .push(("dying_revive", dying_revive(&mut make).await?));
    r.cases.push((
        "concurrent_handshakes",
        concurrent_handshakes(&mut make).await?,
    ));
    r.cases.push(("frame_sizes", frame_sizes(&mut make).await?));
    r.cases
        .push(("oversized_frame", oversized_frame(&mut make).await?));
    r.cases
        .push(("crash_vs_graceful", crash_vs_graceful(&mut make).await?));
    r.cases.push((
        "local_failure_closes_remote",
        local_failure_closes_remote(&mut make).await?,
    ));
    r.cases.push((
        "signals_out_of_order",
        signals_out_of_order(&mut make).await?,
    ));
    r.cases
        .push(("resources_freed", resources_freed(&mut make).await?));
    Ok(r)
}

/// [`run_all`] for a transport that cannot bind its connections to DTLS
/// certificates (it reports `binding: None`, as a transport over plain TCP
/// must): the suite's nodes opt in to
/// [`Config::with_insecure_allow_unbound_connections`]. **Insecure**: such
/// a transport proves identities but not the absence of a relay in the
/// middle; a transport that can bind must pass [`run_all`].
///
/// # Errors
/// The first failing case.
pub async fn run_all_unbound<T: Transport, F: Future<Output = T>>(
    make: impl FnMut() -> F,
) -> Result<Report, ConformanceError> {
    UNBOUND.scope(true, run_all(make)).await
}

// ---------------------------------------------------------------------------
// Transport-level cases: the contract of `crate::transport`, checked on two
// transports driven directly (no engine), signals carried by the case.

/// Longest wait for one transport event in the transport-level cases: a
/// guard against hangs (a silent remote must be reported well within it),
/// not a timing goal.
const EVENT_GUARD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// How signals travel between the two sides.
#[derive(Debug, Clone, Copy, Default)]
struct Carry {
    /// Hold each side's offer/answer back until that side has sent its
    /// end-of-candidates (or 300 ms passed): candidates arrive first.
    late_descriptions: bool,
    /// Deliver every candidate signal twice.
    twice: bool,
    /// Deliver the offer and the answer twice too.
    twice_descriptions: bool,
}

/// Two transports, one connection (`ConnId(1)` on both) between them.
struct Duo<T: Transport> {
    sides: [Option<T>; 2],
    conn: crate::id::ConnId,
    carry: Carry,
    held: Vec<(Side, crate::signal::Signal, Instant)>,
    ended: [bool; 2],
    /// Signals a side refused (only collected while `tolerant`).
    refused: Vec<(Side, String)>,
    tolerant: bool,
    /// Frames received by each side, not yet taken.
    inbox: [std::collections::VecDeque<Bytes>; 2],
    /// Send credit returned to each side (sum of `Sent`).
    credit: [usize; 2],
    /// `Closed` reported by each side.
    closed: [Option<crate::transport::CloseReason>; 2],
    opened: [bool; 2],
    flip: bool,
}

impl<T: Transport> Duo<T> {
    async fn new<F: Future<Output = T>>(make: &mut impl FnMut() -> F, carry: Carry) -> Self {
        let a = make().await;
        let b = make().await;
        Duo {
            sides: [Some(a), Some(b)],
            conn: crate::id::ConnId(1),
            carry,
            held: Vec::new(),
            ended: [false; 2],
            refused: Vec::new(),
            tolerant: false,
            inbox: Default::default(),
            credit: [0; 2],
            closed: [None, None],
            opened: [false; 2],
            flip: false,
        }
    }

    /// A new pair, open (A offers).
    async fn open_new<F: Future<Output = T>>(
        make: &mut impl FnMut() -> F,
        carry: Carry,
    ) -> Result<Self, String> {
        let mut d = Self::new(make, carry).await;
        d.open().await?;
        Ok(d)
    }

    fn transport(&mut self, side: Side) -> Result<&mut T, String> {
        self.sides[side.index()]
            .as_mut()
            .ok_or_else(|| format!("transport {side:?} is gone"))
    }

    /// Apply `cmd` to `side`; the transport's error as text.
    fn command(
        &mut self,
        side: Side,
        cmd: crate::transport::TransportCommand,
    ) -> Result<Result<(), String>, String> {
        let t = self.transport(side)?;
        Ok(t.handle_command(Instant::now(), cmd)
            .map_err(|e| e.to_string()))
    }

    fn send(&mut self, side: Side, frame: Bytes) -> CaseResult {
        let conn = self.conn;
        self.command(
            side,
            crate::transport::TransportCommand::Send { conn, frame },
        )?
        .map_err(|e| format!("{side:?} refused to send a frame: {e}"))
    }

    fn count(&self, side: Side) -> Option<usize> {
        self.sides[side.index()]
            .as_ref()
            .and_then(Transport::connection_count)
    }

    /// Open the connection, A offering.
    async fn open(&mut self) -> CaseResult {
        use crate::transport::{Role, TransportCommand};
        let conn = self.conn;
        self.command(
            Side::A,
            TransportCommand::Open {
                conn,
                role: Role::Initiator,
            },
        )?
        .map_err(|e| format!("A refused Open: {e}"))?;
        self.command(
            Side::B,
            TransportCommand::Open {
                conn,
                role: Role::Acceptor,
            },
        )?
        .map_err(|e| format!("B refused Open: {e}"))?;
        while !(self.opened[0] && self.opened[1]) {
            self.step(EVENT_GUARD).await?;
            if let Some(side) = [Side::A, Side::B]
                .into_iter()
                .find(|s| self.closed[s.index()].is_some())
            {
                return Err(format!(
                    "{side:?} closed the connection while opening: {:?}",
                    self.closed[side.index()]
                ));
            }
        }
        Ok(())
    }

    /// Deliver `signal` from `from` to the other side.
    fn deliver(&mut self, from: Side, signal: crate::signal::Signal) -> CaseResult {
        let to = from.other();
        if self.sides[to.index()].is_none() {
            return Ok(());
        }
        let conn = self.conn;
        let cmd = crate::transport::TransportCommand::Signal { conn, signal };
        match self.command(to, cmd)? {
            Ok(()) => Ok(()),
            Err(e) if self.tolerant => {
                self.refused.push((to, e));
                Ok(())
            }
            Err(e) => Err(format!("{to:?} refused a signal from {from:?}: {e}")),
        }
    }

    fn route(&mut self, from: Side, signal: crate::signal::Signal) -> CaseResult {
        use crate::signal::Signal;
        let description = matches!(signal, Signal::Offer { .. } | Signal::Answer { .. });
        if matches!(signal, Signal::EndOfCandidates) {
            self.ended[from.index()] = true;
        }
        if description && self.carry.late_descriptions {
            self.held.push((from, signal, Instant::now()));
        } else {
            let times = if (description && self.carry.twice_descriptions)
                || (!description && self.carry.twice)
            {
                2
            } else {
                1
            };
            for _ in 0..times {
                self.deliver(from, signal.clone())?;
            }
        }
        self.release_held()
    }

    /// Deliver held descriptions whose side has ended its candidates, or
    /// that waited 300 ms.
    fn release_held(&mut self) -> CaseResult {
        let now = Instant::now();
        let mut i = 0;
        while i < self.held.len() {
            let (side, _, at) = &self.held[i];
            if self.ended[side.index()] || now.duration_since(*at) > Duration::from_millis(300) {
                let (side, signal, _) = self.held.remove(i);
                let times = if self.carry.twice_descriptions { 2 } else { 1 };
                for _ in 0..times {
                    self.deliver(side, signal.clone())?;
                }
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn poll_sides(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<(Side, crate::transport::TransportEvent)> {
        use std::task::Poll;
        self.flip = !self.flip;
        let order = if self.flip {
            [Side::A, Side::B]
        } else {
            [Side::B, Side::A]
        };
        for side in order {
            if let Some(t) = self.sides[side.index()].as_mut() {
                if let Poll::Ready(e) = t.poll_event(cx) {
                    return Poll::Ready((side, e));
                }
            }
        }
        Poll::Pending
    }

    /// Take one event (signals are carried, the rest recorded). `Ok(false)`
    /// if nothing came within `within`.
    async fn step(&mut self, within: Duration) -> Result<bool, String> {
        use crate::transport::TransportEvent;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            self.release_held()?;
            let tick = (tokio::time::Instant::now() + Duration::from_millis(20)).min(deadline);
            let got =
                tokio::time::timeout_at(tick, std::future::poll_fn(|cx| self.poll_sides(cx))).await;
            let (side, event) = match got {
                Ok(x) => x,
                Err(_) if tokio::time::Instant::now() >= deadline => return Ok(false),
                Err(_) => continue,
            };
            if event.conn() != self.conn {
                return Err(format!(
                    "{side:?} emitted {event:?} for an unknown connection"
                ));
            }
            if self.closed[side.index()].is_some() {
                return Err(format!(
                    "{side:?} emitted {event:?} after it reported the connection closed"
                ));
            }
            let i = side.index();
            match event {
                TransportEvent::Signal { signal, .. } => self.route(side, signal)?,
                TransportEvent::Opened { .. } => {
                    if std::mem::replace(&mut self.opened[i], true) {
                        return Err(format!("{side:?} reported Opened twice"));
                    }
                }
                TransportEvent::Frame { frame, .. } => self.inbox[i].push_back(frame),
                TransportEvent::Sent { bytes, .. } => self.credit[i] += bytes,
                TransportEvent::Closed { reason, .. } => self.closed[i] = Some(reason),
            }
            return Ok(true);
        }
    }

    /// The next frame `side` received.
    async fn frame(&mut self, side: Side) -> Result<Bytes, String> {
        loop {
            if let Some(f) = self.inbox[side.index()].pop_front() {
                return Ok(f);
            }
            if let Some(r) = &self.closed[side.index()] {
                return Err(format!(
                    "{side:?} reported the connection closed ({r}) while waiting for a frame"
                ));
            }
            if !self.step(EVENT_GUARD).await? {
                return Err(format!("{side:?} received no frame within {EVENT_GUARD:?}"));
            }
        }
    }

    async fn expect_frame(&mut self, side: Side, want: &[u8]) -> CaseResult {
        let got = self.frame(side).await?;
        if got[..] != *want {
            return Err(format!(
                "{side:?} received a frame of {} bytes, expected {} bytes{}",
                got.len(),
                want.len(),
                if got.len() == want.len() {
                    " (contents differ)"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }

    /// Wait until `side` got back at least `bytes` of send credit.
    async fn expect_credit(&mut self, side: Side, bytes: usize) -> CaseResult {
        while self.credit[side.index()] < bytes {
            if !self.step(EVENT_GUARD).await? {
                return Err(format!(
                    "{side:?} got {} bytes of send credit back, expected {bytes}",
                    self.credit[side.index()]
                ));
            }
        }
        Ok(())
    }

    /// Wait for `side` to report the connection closed; its reason.
    async fn closed(&mut self, side: Side) -> Result<crate::transport::CloseReason, String> {
        loop {
            if let Some(r) = &self.closed[side.index()] {
                return Ok(r.clone());
            }
            if !self.step(EVENT_GUARD).await? {
                return Err(format!(
                    "{side:?} did not report the connection closed within {EVENT_GUARD:?}"
                ));
            }
        }
    }

    /// Nothing more from `side` for a short while (after its local close).
    async fn quiet(&mut self, side: Side, what: &str) -> CaseResult {
        let before = (
            self.inbox[side.index()].len(),
            self.closed[side.index()].clone(),
        );
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            self.step(Duration::from_millis(50)).await?;
        }
        if (
            self.inbox[side.index()].len(),
            self.closed[side.index()].clone(),
        ) != before
        {
            return Err(format!("{side:?} emitted events {what}"));
        }
        Ok(())
    }

    /// Both sides' connection counts drop to zero (where counted).
    async fn expect_freed(&mut self, what: &str) -> CaseResult {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let counts = [self.count(Side::A), self.count(Side::B)];
            if counts.iter().all(|c| c.unwrap_or(0) == 0) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what}: the transports still count {counts:?} connection(s)"
                ));
            }
            self.step(Duration::from_millis(50)).await?;
        }
    }
}

/// A recognisable frame of `len` bytes.
fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

/// Frames of 1 byte and of [`MAX_FRAME_SIZE`](crate::config::MAX_FRAME_SIZE)
/// bytes cross both ways whole and in order, and their send credit comes
/// back. An empty frame is refused with an error (never lost silently, as
/// str0m 0.25 would: its data channel then wedges), which ends the
/// connection; the remote is told at once.
///
/// # Errors
/// The case's failure.
pub async fn frame_sizes<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("frame_sizes", async move {
        let max = crate::config::MAX_FRAME_SIZE;
        let mut d = Duo::open_new(&mut make, Carry::default()).await?;
        for side in [Side::A, Side::B] {
            d.send(side, pattern(1, 1))?;
            d.send(side, pattern(max, 2))?;
            d.send(side, pattern(1000, 3))?;
        }
        for side in [Side::B, Side::A] {
            d.expect_frame(side, &pattern(1, 1)).await?;
            d.expect_frame(side, &pattern(max, 2)).await?;
            d.expect_frame(side, &pattern(1000, 3)).await?;
        }
        d.expect_credit(Side::A, max + 1001).await?;
        d.expect_credit(Side::B, max + 1001).await?;
        // An empty frame: refused with an error, the remote told at once.
        let conn = d.conn;
        let frame = Bytes::new();
        match d.command(Side::A, crate::transport::TransportCommand::Send { conn, frame })? {
            Err(_) => {}
            Ok(()) => {
                return Err(
                    "an empty frame was accepted: the contract says refuse it with an error".into(),
                )
            }
        }
        let reason = d.closed(Side::B).await?;
        if reason == crate::transport::CloseReason::TimedOut {
            return Err("after A refused an empty frame, B learnt of the end only by timing out: the refusing side must close the connection".into());
        }
        d.quiet(Side::A, "after refusing a frame (the error ends the connection)").await?;
        d.expect_freed("after the refused frame").await
    })
    .await
}

/// A frame larger than [`MAX_FRAME_SIZE`](crate::config::MAX_FRAME_SIZE)
/// is refused with an error before anything of it is queued (webrtc-rs
/// would stop sending; str0m would fail the connection later), and the
/// connection ends cleanly: the remote is told at once, both sides free it.
///
/// # Errors
/// The case's failure.
pub async fn oversized_frame<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("oversized_frame", async move {
        let max = crate::config::MAX_FRAME_SIZE;
        let mut d = Duo::open_new(&mut make, Carry::default()).await?;
        d.send(Side::A, pattern(100, 5))?;
        d.expect_frame(Side::B, &pattern(100, 5)).await?;
        let conn = d.conn;
        let frame = pattern(max + 1, 6);
        match d.command(
            Side::A,
            crate::transport::TransportCommand::Send { conn, frame },
        )? {
            Err(_) => {}
            Ok(()) => {
                return Err(format!(
                    "a frame of {} bytes was accepted: the contract says refuse it with an error",
                    max + 1
                ))
            }
        }
        let reason = d.closed(Side::B).await?;
        if reason == crate::transport::CloseReason::TimedOut {
            return Err("after A refused a frame, B learnt of the end only by timing out".into());
        }
        if !d.inbox[Side::B.index()].is_empty() {
            return Err("B received (part of) the refused frame".into());
        }
        d.quiet(Side::A, "after refusing a frame").await?;
        d.expect_freed("after the refused frame").await
    })
    .await
}

/// A local `Close` is seen by the remote as graceful; a transport dropped
/// without closing (a crash) is seen as a crash (`TimedOut` or `Failed`,
/// never graceful) within the guard time.
///
/// # Errors
/// The case's failure.
pub async fn crash_vs_graceful<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("crash_vs_graceful", async move {
        let mut d = Duo::open_new(&mut make, Carry::default()).await?;
        let conn = d.conn;
        d.command(Side::A, crate::transport::TransportCommand::Close { conn })?
            .map_err(|e| format!("A refused Close: {e}"))?;
        let reason = d.closed(Side::B).await?;
        if !reason.is_graceful() {
            return Err(format!("a local Close was reported to the remote as {reason:?}, not as a graceful close"));
        }
        d.quiet(Side::A, "after its local Close").await?;
        d.expect_freed("after a graceful close").await?;

        let mut d = Duo::open_new(&mut make, Carry::default()).await?;
        drop(d.sides[Side::A.index()].take());
        let reason = d.closed(Side::B).await?;
        if reason.is_graceful() {
            return Err("a remote that vanished (transport dropped without Close) was reported as a graceful close".into());
        }
        d.expect_freed("after a crash").await
    })
    .await
}

/// A connection that fails locally (here: a signal it cannot use arrives
/// after it opened, so `handle_command` returns an error) is closed toward
/// the remote at once: the remote reports it closed without waiting for a
/// timeout, and both sides free it.
///
/// # Errors
/// The case's failure.
pub async fn local_failure_closes_remote<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("local_failure_closes_remote", async move {
        let mut d = Duo::open_new(&mut make, Carry::default()).await?;
        let conn = d.conn;
        // An offer to the side that made the offer: no transport can use it.
        let signal = crate::signal::Signal::Offer {
            sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n".into(),
        };
        match d.command(Side::A, crate::transport::TransportCommand::Signal { conn, signal })? {
            Err(_) => {}
            Ok(()) => return Err("A accepted a second offer on its open connection".into()),
        }
        let reason = d.closed(Side::B).await?;
        if reason == crate::transport::CloseReason::TimedOut {
            return Err("A failed the connection but B learnt of it only by timing out: the failing side must close it".into());
        }
        d.quiet(Side::A, "after its command failed").await?;
        d.expect_freed("after a local failure").await
    })
    .await
}

/// Signals out of order still connect: every candidate before its offer or
/// answer, every candidate twice. A duplicated offer or answer either
/// connects or fails cleanly (an error, and both sides end the connection).
///
/// # Errors
/// The case's failure.
pub async fn signals_out_of_order<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("signals_out_of_order", async move {
        let carry = Carry {
            late_descriptions: true,
            twice: true,
            twice_descriptions: false,
        };
        let mut d = Duo::open_new(&mut make, carry)
            .await
            .map_err(|e| format!("candidates first, twice: {e}"))?;
        d.send(Side::A, pattern(10, 7))?;
        d.expect_frame(Side::B, &pattern(10, 7)).await?;
        drop(d);

        let carry = Carry {
            late_descriptions: false,
            twice: true,
            twice_descriptions: true,
        };
        let mut d = Duo::new(&mut make, carry).await;
        d.tolerant = true;
        match d.open().await {
            Ok(()) if d.refused.is_empty() => {
                d.send(Side::A, pattern(10, 8))?;
                d.expect_frame(Side::B, &pattern(10, 8)).await
            }
            _ if !d.refused.is_empty() => {
                // A side refused a duplicate: it ended the connection, and
                // the other side must learn it (not hang).
                let failed = d.refused[0].0;
                d.closed(failed.other()).await.map_err(|e| {
                    format!(
                        "{failed:?} refused a duplicate signal ({}), then: {e}",
                        d.refused[0].1
                    )
                })?;
                d.quiet(failed, "after refusing a signal").await?;
                d.expect_freed("after a refused duplicate").await
            }
            Ok(()) => unreachable!("guarded above"),
            Err(e) => Err(format!("duplicated descriptions: {e}")),
        }
    })
    .await
}

/// Many connections opened, used and closed (locally on one side, so the
/// other sees a remote close), one at a time and then together: each
/// transport's [`Transport::connection_count`] is back to zero.
///
/// # Errors
/// The case's failure.
pub async fn resources_freed<T: Transport, F: Future<Output = T>>(
    mut make: impl FnMut() -> F,
) -> Result<Duration, ConformanceError> {
    case("resources_freed", async move {
        let mut d = Duo::new(&mut make, Carry::default()).await;
        for round in 0..5u8 {
            d.conn = crate::id::ConnId(100 + u64::from(round));
            d.opened = [false; 2];
            d.closed = [None, None];
            d.open().await?;
            let counts = [d.count(Side::A), d.count(Side::B)];
            if counts.iter().any(|c| c.is_some_and(|n| n != 1)) {
                return Err(format!(
                    "one open connection, but the transports count {counts:?}"
                ));
            }
            d.send(Side::B, pattern(2000, round))?;
            d.expect_frame(Side::A, &pattern(2000, round)).await?;
            let (closer, other) = if round % 2 == 0 {
                (Side::A, Side::B)
            } else {
                (Side::B, Side::A)
            };
            let conn = d.conn;
            d.command(closer, crate::transport::TransportCommand::Close { conn })?
                .map_err(|e| format!("Close refused: {e}"))?;
            d.closed(other).await?;
            d.expect_freed("after a close").await?;
        }
        Ok(())
    })
    .await
}
