//! The overlay's backends, as transport factories for the generic
//! measurements; and [`ThreadedPair`]: an overlay pair with each peer on a
//! thread of its own, as the raw str0m pair runs.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::{link_out_of_band, Event, MemoryNetwork, Transport};
use rtc_common::RtcConfig;
use tokio::sync::oneshot;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::WebRtcTransport;

use crate::{bench_peer, until_arc_in, BenchError, BenchPeer, Pair};

/// A backend the overlay runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The in-memory reference transport (no network).
    Memory,
    /// `transport-str0m`, loopback.
    Str0m,
    /// `transport-webrtcrs`, loopback.
    WebRtcRs,
}

/// Run `$body` with `$make` bound to a factory of `$backend`'s transport.
macro_rules! with_factory {
    ($backend:expr, $make:ident => $body:expr) => {
        match $backend {
            Backend::Memory => {
                let net = MemoryNetwork::new();
                let mut $make = move || {
                    let net = net.clone();
                    async move { Ok::<_, BenchError>(net.transport()) }
                };
                $body
            }
            Backend::Str0m => {
                let mut $make =
                    || async { Ok::<_, BenchError>(Str0mTransport::bind(&RtcConfig::loopback())?) };
                $body
            }
            Backend::WebRtcRs => {
                let mut $make = || async {
                    Ok::<_, BenchError>(WebRtcTransport::bind(&RtcConfig::loopback())?)
                };
                $body
            }
        }
    };
}

impl Backend {
    /// Every backend, in table order.
    pub const ALL: [Backend; 3] = [Backend::Memory, Backend::Str0m, Backend::WebRtcRs];

    /// The name used in bench ids and tables.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Str0m => "str0m",
            Backend::WebRtcRs => "webrtc-rs",
        }
    }

    /// Parse [`Backend::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// [`crate::setup_direct`] on this backend.
    ///
    /// # Errors
    /// As [`crate::setup_direct`], or if a transport cannot be made.
    pub async fn setup_direct(self) -> Result<Duration, BenchError> {
        with_factory!(self, make => crate::setup_direct(&mut make).await)
    }

    /// [`crate::setup_bridged`] on this backend.
    ///
    /// # Errors
    /// As [`crate::setup_bridged`].
    pub async fn setup_bridged(self) -> Result<Duration, BenchError> {
        with_factory!(self, make => crate::setup_bridged(&mut make).await)
    }

    /// [`crate::pair`] on this backend.
    ///
    /// # Errors
    /// As [`crate::pair`].
    pub async fn pair(self) -> Result<Pair, BenchError> {
        with_factory!(self, make => crate::pair(&mut make).await)
    }

    /// [`ThreadedPair::open`] on this backend.
    ///
    /// # Errors
    /// As [`ThreadedPair::open`].
    pub async fn threaded_pair(self) -> Result<ThreadedPair, BenchError> {
        with_factory!(self, make => ThreadedPair::open(&mut make).await)
    }

    /// `n` pairs of nodes, not connected (for the fixed cost of a node).
    ///
    /// # Errors
    /// If a node cannot be made.
    pub async fn idle_nodes(self, n: usize) -> Result<Vec<Pair>, BenchError> {
        let mut pairs = Vec::with_capacity(n);
        with_factory!(self, make => {
            for _ in 0..n {
                pairs.push(Pair { a: bench_peer(&mut make).await?, b: bench_peer(&mut make).await? });
            }
        });
        Ok(pairs)
    }

    /// `n` pairs of nodes; the nodes are made first (untimed), then all `n`
    /// joins run at once. Returns the pairs (arc open on both sides) and the
    /// time from the first join to the last arc open.
    ///
    /// # Errors
    /// If a node cannot be made or any join fails (within `limit`).
    pub async fn open_pairs(
        self,
        n: usize,
        limit: Duration,
    ) -> Result<(Vec<Pair>, Duration), BenchError> {
        let mut peers = Vec::with_capacity(n);
        with_factory!(self, make => {
            for _ in 0..n {
                peers.push((bench_peer(&mut make).await?, bench_peer(&mut make).await?));
            }
        });
        let start = Instant::now();
        let tasks: Vec<_> = peers
            .into_iter()
            .map(|(a, mut b)| {
                tokio::spawn(async move {
                    link_out_of_band(&a.handle, &b.node).await?;
                    until_arc_in(&mut b.events).await?;
                    Ok::<_, BenchError>(Pair { a, b })
                })
            })
            .collect();
        let all = async {
            let mut pairs = Vec::with_capacity(n);
            for t in tasks {
                pairs.push(t.await??);
            }
            Ok::<_, BenchError>(pairs)
        };
        let pairs = tokio::time::timeout(limit, all)
            .await
            .map_err(|_| format!("{n} joins not done within {limit:?}"))??;
        Ok((pairs, start.elapsed()))
    }
}

impl Pair {
    /// Shut both nodes down.
    pub async fn shutdown(self) {
        self.a.node.shutdown().await;
        self.b.node.shutdown().await;
    }
}

/// A tokio current-thread runtime driven by an OS thread of its own: one
/// overlay peer (its node task and the application's tasks) on one
/// thread, as one raw str0m peer on its loop thread. Hand-offs between the
/// node and the application are then wake-ups within the thread.
pub struct PeerThread {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeerThread {
    /// Start the thread and its runtime.
    ///
    /// # Errors
    /// If the runtime or the thread cannot start.
    pub fn start(name: &str) -> Result<Self, BenchError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Drives every task spawned on `handle` until told to stop.
                let _ = rt.block_on(stopped);
            })?;
        Ok(PeerThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Run `f` on this thread; resolves (on any runtime) with its output.
    pub fn run<F>(&self, f: F) -> impl Future<Output = Result<F::Output, BenchError>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.handle.spawn(f);
        async move {
            task.await
                .map_err(|e| format!("peer thread task: {e}").into())
        }
    }
}

impl Drop for PeerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How a [`ThreadedPair`]'s application hands its messages to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// `send(..).await` per message: each waits for the node's answer.
    Await,
    /// `feed(..).await` per message (returns once queued for the node),
    /// `flush` at the end.
    Feed,
}

/// A connected overlay pair, each node on a [`PeerThread`] of its own:
/// the same number of threads as the raw str0m pair's measurements (one
/// loop thread per peer), the application's sends and receives on the
/// node's thread.
pub struct ThreadedPair {
    /// `a` (the sender, the pinger) and `b` (the receiver, the echo);
    /// `None` while a measurement has them on their threads.
    peers: Option<(BenchPeer, BenchPeer)>,
    // Dropped after `peers` (field order): nodes stop before their runtimes.
    threads: [PeerThread; 2],
}

/// Two peers on transports from `make`, `a` made and run on `threads[0]`,
/// `b` on `threads[1]`, joined out-of-band until the arc is open on both
/// sides.
///
/// # Errors
/// If a node cannot be made or the join fails.
pub async fn connected_on<T, F, M>(
    threads: &[PeerThread; 2],
    make: &mut M,
) -> Result<(BenchPeer, BenchPeer), BenchError>
where
    T: Transport,
    F: Future<Output = Result<T, BenchError>> + Send + 'static,
    M: FnMut() -> F + Clone + Send + 'static,
{
    let on = |t: &PeerThread| {
        let mut make = make.clone();
        t.run(async move { bench_peer(&mut make).await })
    };
    let a = on(&threads[0]).await??;
    let mut b = on(&threads[1]).await??;
    link_out_of_band(&a.handle, &b.node).await?;
    until_arc_in(&mut b.events).await?;
    Ok((a, b))
}

impl ThreadedPair {
    /// Two nodes on transports from `make` (each peer thread gets a copy),
    /// each made and run on its own thread, joined out-of-band until the arc is open on both sides.
    ///
    /// # Errors
    /// If a node cannot be made or the join fails.
    pub async fn open<T, F, M>(make: &mut M) -> Result<Self, BenchError>
    where
        T: Transport,
        F: Future<Output = Result<T, BenchError>> + Send + 'static,
        M: FnMut() -> F + Clone + Send + 'static,
    {
        let threads = [PeerThread::start("peer-a")?, PeerThread::start("peer-b")?];
        let (a, b) = connected_on(&threads, make).await?;
        Ok(ThreadedPair {
            peers: Some((a, b)),
            threads,
        })
    }

    fn take(&mut self) -> Result<(BenchPeer, BenchPeer), BenchError> {
        self.peers
            .take()
            .ok_or_else(|| "pair lost in an earlier failed measurement".into())
    }

    /// One way: `count` messages of `size` bytes from `a` (on its thread)
    /// to `b` (on its thread), all received, order checked; from the first
    /// send to the last receipt. The sender streams them as a careful user
    /// of the overlay would: [`overlay_core::ProtocolHandle::feed`] for
    /// each, [`overlay_core::ProtocolHandle::flush`] at the end.
    ///
    /// # Errors
    /// If a send fails or a message arrives out of order.
    pub async fn throughput(&mut self, size: usize, count: u32) -> Result<Duration, BenchError> {
        self.throughput_with(size, count, SendMode::Feed).await
    }

    /// [`ThreadedPair::throughput`] with the sender's API chosen.
    ///
    /// # Errors
    /// As [`ThreadedPair::throughput`].
    pub async fn throughput_with(
        &mut self,
        size: usize,
        count: u32,
        mode: SendMode,
    ) -> Result<Duration, BenchError> {
        let (a, mut b) = self.take()?;
        let to = b.node.id();
        let size = size.max(4);
        let start = Instant::now();
        let sender = self.threads[0].run(async move {
            for i in 0..count {
                let mut v = vec![0u8; size];
                v[..4].copy_from_slice(&i.to_be_bytes());
                match mode {
                    SendMode::Await => a.handle.send(to, Bytes::from(v)).await?,
                    SendMode::Feed => a.handle.feed(to, Bytes::from(v)).await?,
                }
            }
            a.handle.flush().await.map_err(|e| e.first)?;
            Ok::<_, overlay_core::SendError>(a)
        });
        let receiver = self.threads[1].run(async move {
            let mut next = 0u32;
            while next < count {
                match b.events.recv().await {
                    Some(Event::Message { payload, .. }) => {
                        if payload.get(..4) != Some(&next.to_be_bytes()[..]) {
                            return Err(format!("message {next} out of order"));
                        }
                        next += 1;
                    }
                    Some(_) => {}
                    None => return Err("receiver stopped".to_owned()),
                }
            }
            Ok((start.elapsed(), b))
        });
        let (took, b) = receiver.await??;
        let a = sender.await??;
        self.peers = Some((a, b));
        Ok(took)
    }

    /// `n` round trips of a 32-byte message: `a` sends, `b` echoes, `a`
    /// receives, each on its thread. Returns the samples, sorted. Both
    /// applications hand their message to their node with
    /// [`overlay_core::ProtocolHandle::feed`] (they do not wait for the
    /// node's answer: the echo goes back to its event stream at once).
    ///
    /// # Errors
    /// If a send fails or an echo does not come.
    pub async fn rtt_samples(&mut self, n: usize) -> Result<Vec<Duration>, BenchError> {
        self.rtt_samples_with(n, SendMode::Feed).await
    }

    /// [`ThreadedPair::rtt_samples`] with the applications' API chosen.
    ///
    /// # Errors
    /// As [`ThreadedPair::rtt_samples`].
    pub async fn rtt_samples_with(
        &mut self,
        n: usize,
        mode: SendMode,
    ) -> Result<Vec<Duration>, BenchError> {
        let (mut a, mut b) = self.take()?;
        let (ida, idb) = (a.node.id(), b.node.id());
        let (stop, mut stopped) = oneshot::channel::<()>();
        let echo = self.threads[1].run(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return Ok(b),
                    ev = b.events.recv() => match ev {
                        Some(Event::Message { payload, .. }) => {
                            let sent = match mode {
                                SendMode::Await => b.handle.send(ida, payload).await,
                                SendMode::Feed => b.handle.feed(ida, payload).await,
                            };
                            sent.map_err(|e| e.to_string())?;
                        }
                        Some(_) => {}
                        None => return Err("receiver stopped".to_owned()),
                    },
                }
            }
        });
        let ping = self.threads[0].run(async move {
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let start = Instant::now();
                let ping = Bytes::from_static(&[7u8; 32]);
                let sent = match mode {
                    SendMode::Await => a.handle.send(idb, ping).await,
                    SendMode::Feed => a.handle.feed(idb, ping).await,
                };
                sent.map_err(|e| e.to_string())?;
                loop {
                    match a.events.recv().await {
                        Some(Event::Message { .. }) => break,
                        Some(_) => {}
                        None => return Err("sender stopped".to_owned()),
                    }
                }
                samples.push(start.elapsed());
            }
            Ok((samples, a))
        });
        let pinged = ping.await?;
        let _ = stop.send(());
        let b = echo.await??;
        let (mut samples, a) = pinged?;
        // Every ping and echo was answered, so none was refused; say so
        // anyway if one was.
        a.handle.flush().await.map_err(|e| e.to_string())?;
        b.handle.flush().await.map_err(|e| e.to_string())?;
        self.peers = Some((a, b));
        samples.sort();
        Ok(samples)
    }

    /// Shut both nodes down (then their threads stop).
    pub async fn shutdown(mut self) {
        if let Some((a, b)) = self.peers.take() {
            a.node.shutdown().await;
            b.node.shutdown().await;
        }
    }
}
