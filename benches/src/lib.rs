//! Measurements shared by the criterion benches (`benches/overlay.rs`), the
//! `compare` and `scale` binaries and `n2n bench`: each function builds fresh
//! nodes on a transport, measures one thing, and tears them down. Only the
//! measured part is timed.
//!
//! - the overlay on any [`Transport`] factory: [`setup_direct`],
//!   [`setup_bridged`], [`pair`], [`throughput`], [`rtt`]; per backend via
//!   [`Backend`];
//! - the raw libraries, no overlay: [`raw_str0m`], [`raw_webrtcrs`];
//! - [`hub`]: one str0m node holding thousands of connections;
//! - [`scale`]: memory per idle connection and setup rate with many
//!   connections; [`report`]: the comparison table;
//! - [`floor`]: issue 14's ratio table, every goal against its floor in
//!   one run.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod floor;
pub mod hub;
pub mod raw_str0m;
pub mod raw_webrtcrs;
pub mod report;
pub mod scale;

pub use backend::{Backend, SendMode};

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::{
    link_out_of_band, Direction, Event, EventStream, Keypair, Node, NodeConfig, ProtocolHandle,
    ProtocolId, Transport,
};

/// What a measurement failed on.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

fn protocol() -> ProtocolId {
    ProtocolId::new("bench").unwrap_or_else(|_| unreachable!("valid literal"))
}

/// A node with its one protocol handle and event stream.
pub struct BenchPeer {
    /// The node.
    pub node: Node,
    /// Its handle for the bench protocol.
    pub handle: ProtocolHandle,
    /// Its events.
    pub events: EventStream,
}

/// A node on the transport `make` gives.
///
/// # Errors
/// If the node cannot register its protocol.
pub async fn bench_peer<T: Transport, F: Future<Output = Result<T, BenchError>>>(
    make: &mut impl FnMut() -> F,
) -> Result<BenchPeer, BenchError> {
    let node = Node::spawn(make().await?, Keypair::generate(), NodeConfig::default());
    let (handle, events) = node.protocol(protocol()).await?;
    Ok(BenchPeer {
        node,
        handle,
        events,
    })
}

pub(crate) async fn until_arc_in(events: &mut EventStream) -> Result<(), BenchError> {
    while let Some(e) = events.recv().await {
        if matches!(
            e,
            Event::ArcOpened {
                direction: Direction::In,
                ..
            }
        ) {
            return Ok(());
        }
    }
    Err("node stopped".into())
}

/// Direct setup: A joins B out-of-band (signals passed in process), until
/// the arc is open on both sides.
///
/// # Errors
/// If the join fails.
pub async fn setup_direct<T: Transport, F: Future<Output = Result<T, BenchError>>>(
    make: &mut impl FnMut() -> F,
) -> Result<Duration, BenchError> {
    let a = bench_peer(make).await?;
    let mut b = bench_peer(make).await?;
    let start = Instant::now();
    link_out_of_band(&a.handle, &b.node).await?;
    until_arc_in(&mut b.events).await?;
    let took = start.elapsed();
    a.node.shutdown().await;
    b.node.shutdown().await;
    Ok(took)
}

/// Bridged setup: A and C joined B (untimed); B bridges A to C, until the
/// arc A -> C is open on both sides.
///
/// # Errors
/// If a join or the bridge fails.
pub async fn setup_bridged<T: Transport, F: Future<Output = Result<T, BenchError>>>(
    make: &mut impl FnMut() -> F,
) -> Result<Duration, BenchError> {
    let a = bench_peer(make).await?;
    let mut b = bench_peer(make).await?;
    let mut c = bench_peer(make).await?;
    link_out_of_band(&a.handle, &b.node).await?;
    until_arc_in(&mut b.events).await?;
    link_out_of_band(&c.handle, &b.node).await?;
    until_arc_in(&mut b.events).await?;
    let start = Instant::now();
    b.handle.connect(a.node.id(), c.node.id()).await?;
    until_arc_in(&mut c.events).await?;
    let took = start.elapsed();
    for p in [a, b, c] {
        p.node.shutdown().await;
    }
    Ok(took)
}

/// A connected pair, for throughput and round trips.
pub struct Pair {
    /// The sender.
    pub a: BenchPeer,
    /// The receiver.
    pub b: BenchPeer,
}

/// Two nodes joined, arc open on both sides.
///
/// # Errors
/// If the join fails.
pub async fn pair<T: Transport, F: Future<Output = Result<T, BenchError>>>(
    make: &mut impl FnMut() -> F,
) -> Result<Pair, BenchError> {
    let a = bench_peer(make).await?;
    let mut b = bench_peer(make).await?;
    link_out_of_band(&a.handle, &b.node).await?;
    until_arc_in(&mut b.events).await?;
    Ok(Pair { a, b })
}

/// One way: `count` messages of `size` bytes from A to B, all received,
/// order checked. Returns the time from the first send to the last receipt.
///
/// # Errors
/// If a send fails or a message arrives out of order.
pub async fn throughput(pair: &mut Pair, size: usize, count: u32) -> Result<Duration, BenchError> {
    let to = pair.b.node.id();
    let handle = pair.a.handle.clone();
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for i in 0..count {
            let mut v = vec![0u8; size.max(4)];
            v[..4].copy_from_slice(&i.to_be_bytes());
            handle.send(to, Bytes::from(v)).await?;
        }
        Ok::<_, overlay_core::SendError>(())
    });
    let mut next = 0u32;
    while next < count {
        match pair.b.events.recv().await {
            Some(Event::Message { payload, .. }) => {
                if payload.get(..4) != Some(&next.to_be_bytes()[..]) {
                    return Err(format!("message {next} out of order").into());
                }
                next += 1;
            }
            Some(_) => {}
            None => return Err("receiver stopped".into()),
        }
    }
    let took = start.elapsed();
    sender.await??;
    Ok(took)
}

/// Round trip of a 32-byte message: A sends, B echoes, A receives.
///
/// # Errors
/// If a send fails or the echo does not come.
pub async fn rtt(pair: &mut Pair) -> Result<Duration, BenchError> {
    let (ida, idb) = (pair.a.node.id(), pair.b.node.id());
    let start = Instant::now();
    pair.a
        .handle
        .send(idb, Bytes::from_static(&[7u8; 32]))
        .await?;
    loop {
        match pair.b.events.recv().await {
            Some(Event::Message { payload, .. }) => {
                pair.b.handle.send(ida, payload).await?;
                break;
            }
            Some(_) => {}
            None => return Err("receiver stopped".into()),
        }
    }
    loop {
        match pair.a.events.recv().await {
            Some(Event::Message { .. }) => return Ok(start.elapsed()),
            Some(_) => {}
            None => return Err("sender stopped".into()),
        }
    }
}

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}
