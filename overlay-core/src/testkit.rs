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
//! run them as separate tests. Cases run in real time (real transports do
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
