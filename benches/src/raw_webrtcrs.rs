//! A raw webrtc-rs pair: two `PeerConnection`s with the library's defaults
//! (its tokio runtime, default ICE settings), UDP on 127.0.0.1, SDP passed
//! in-process, candidates trickled, one reliable ordered data channel. No
//! overlay. Two settings differ from the defaults, both only for data
//! transfer, as webrtc-rs users are told to set them: a 1 MiB data-channel
//! send-buffer limit (`send` is unbounded otherwise: 3.8 MB/s) and a 4 MiB
//! socket receive buffer (a runtime that wraps the library's tokio runtime
//! and only sizes the sockets; the OS default drops packets on loopback).
//!
//! The one copy in the workspace (`examples/webrtcrs_setup.rs` uses it), with
//! one-way throughput and round trips on the channel. Needs a tokio runtime.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent,
};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle as RtJoinHandle,
    Runtime, TokioRuntime,
};

use crate::BenchError;

const RECV_BUFFER: usize = 4 * 1024 * 1024;
const SEND_BUFFER_LIMIT: usize = 1024 * 1024;

/// The library's tokio runtime, with a larger socket receive buffer.
#[derive(Debug)]
struct BufferedRuntime(TokioRuntime);

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn RtJoinHandle> {
        self.0.spawn(future)
    }
    fn spawn_reactor(
        &self,
        pool: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn RtJoinHandle> {
        self.0.spawn_reactor(pool, future)
    }
    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let s = socket2::SockRef::from(&socket);
        let _ = s.set_recv_buffer_size(RECV_BUFFER);
        self.0.wrap_udp_socket(socket)
    }
    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }
    fn connect_tcp<'a>(
        &'a self,
        remote: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.0.connect_tcp(remote)
    }
    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.0.resolve_host(host)
    }
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.sleep(duration)
    }
    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.0.interval(period)
    }
    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.0.block_on(future)
    }
    fn name(&self) -> &'static str {
        "tokio, 4 MiB receive buffer"
    }
}

struct Handler {
    candidates: mpsc::UnboundedSender<String>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init.candidate);
        }
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.channels.send(dc);
    }
}

type Peer = (
    Arc<dyn PeerConnection>,
    mpsc::UnboundedReceiver<String>,
    mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
);

async fn peer() -> Result<Peer, BenchError> {
    let (ctx, crx) = mpsc::unbounded_channel();
    let (dtx, drx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_handler(Arc::new(Handler {
            candidates: ctx,
            channels: dtx,
        }))
        .with_runtime(Arc::new(BufferedRuntime(TokioRuntime)))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .with_data_channel_send_buffer_limit(SEND_BUFFER_LIMIT)
        .build()
        .await?;
    Ok((Arc::new(pc), crx, drx))
}

/// What a channel's poller reports.
enum ChanEvent {
    Open,
    Message(BytesMut),
    Closed,
}

/// One end: the channel and the events its poller task forwards (every
/// channel, the sending side too, must be polled).
pub struct End {
    dc: Arc<dyn DataChannel>,
    events: mpsc::UnboundedReceiver<ChanEvent>,
    poller: JoinHandle<()>,
}

impl End {
    fn new(dc: Arc<dyn DataChannel>) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let d = Arc::clone(&dc);
        let poller = tokio::spawn(async move {
            while let Some(e) = d.poll().await {
                let out = match e {
                    DataChannelEvent::OnOpen => ChanEvent::Open,
                    DataChannelEvent::OnMessage(m) => ChanEvent::Message(m.data),
                    DataChannelEvent::OnClose => ChanEvent::Closed,
                    _ => continue,
                };
                if tx.send(out).is_err() {
                    return;
                }
            }
            let _ = tx.send(ChanEvent::Closed);
        });
        End { dc, events, poller }
    }

    async fn wait_open(&mut self) -> Result<(), BenchError> {
        loop {
            match self.events.recv().await {
                Some(ChanEvent::Open) => return Ok(()),
                Some(ChanEvent::Message(_)) => {}
                Some(ChanEvent::Closed) | None => {
                    return Err("channel closed before it opened".into())
                }
            }
        }
    }

    async fn next_message(&mut self) -> Result<BytesMut, BenchError> {
        loop {
            match self.events.recv().await {
                Some(ChanEvent::Message(m)) => return Ok(m),
                Some(ChanEvent::Open) => {}
                Some(ChanEvent::Closed) | None => return Err("channel closed".into()),
            }
        }
    }
}

/// Two connected peers, `a` offering, `b` answering, channel open on both.
pub struct RawPair {
    pa: Arc<dyn PeerConnection>,
    pb: Arc<dyn PeerConnection>,
    /// The offerer's end.
    pub a: End,
    /// The answerer's end.
    pub b: End,
    forwarders: [JoinHandle<()>; 2],
}

fn forward(
    mut from: mpsc::UnboundedReceiver<String>,
    to: Arc<dyn PeerConnection>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(candidate) = from.recv().await {
            let _ = to
                .add_ice_candidate(RTCIceCandidateInit {
                    candidate,
                    ..Default::default()
                })
                .await;
        }
    })
}

impl RawPair {
    /// Build both peers, negotiate (descriptions, then trickled candidates),
    /// until the channel is open on both sides.
    ///
    /// # Errors
    /// If the library fails or the channel is not open within 10 s.
    pub async fn open() -> Result<Self, BenchError> {
        Self::open_within(Duration::from_secs(10)).await
    }

    /// [`RawPair::open`] with a time limit.
    ///
    /// # Errors
    /// If the library fails or the channel is not open within `limit`.
    pub async fn open_within(limit: Duration) -> Result<Self, BenchError> {
        let (pa, ca, _) = peer().await?;
        let (pb, cb, mut chb) = peer().await?;
        let dca = pa.create_data_channel("bench", None).await?;
        let mut a = End::new(dca);
        let offer = pa.create_offer(None).await?;
        pa.set_local_description(offer.clone()).await?;
        pb.set_remote_description(offer).await?;
        let answer = pb.create_answer(None).await?;
        pb.set_local_description(answer.clone()).await?;
        pa.set_remote_description(answer).await?;
        let forwarders = [forward(ca, Arc::clone(&pb)), forward(cb, Arc::clone(&pa))];
        let open = async {
            a.wait_open().await?;
            let mut b = End::new(chb.recv().await.ok_or("no data channel at B")?);
            b.wait_open().await?;
            Ok::<_, BenchError>(b)
        };
        let b = tokio::time::timeout(limit, open)
            .await
            .map_err(|_| format!("raw webrtc-rs setup took over {limit:?}"))??;
        Ok(RawPair {
            pa,
            pb,
            a,
            b,
            forwarders,
        })
    }

    /// Close both peer connections.
    pub async fn close(self) {
        for f in &self.forwarders {
            f.abort();
        }
        let _ = self.pa.close().await;
        let _ = self.pb.close().await;
        self.a.poller.abort();
        self.b.poller.abort();
    }
}

/// Setup: build two peer connections, negotiate, until the channel is open on both sides.
///
/// # Errors
/// If the pair does not open.
pub async fn setup() -> Result<Duration, BenchError> {
    let start = Instant::now();
    let pair = RawPair::open().await?;
    let took = start.elapsed();
    pair.close().await;
    Ok(took)
}

/// One way: `count` messages of `size` bytes from `a` to `b`, all received,
/// order checked; from the first send to the last receipt.
///
/// # Errors
/// If a send fails or a message arrives out of order.
pub async fn throughput(
    pair: &mut RawPair,
    size: usize,
    count: u32,
) -> Result<Duration, BenchError> {
    let dc = Arc::clone(&pair.a.dc);
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for i in 0..count {
            let mut m = BytesMut::zeroed(size.max(4));
            m[..4].copy_from_slice(&i.to_be_bytes());
            dc.send(m).await?;
        }
        Ok::<_, webrtc::error::Error>(())
    });
    for next in 0..count {
        let m = pair.b.next_message().await?;
        if m.get(..4) != Some(&next.to_be_bytes()[..]) {
            return Err(format!("raw webrtc-rs: message {next} out of order").into());
        }
    }
    let took = start.elapsed();
    sender.await??;
    Ok(took)
}

/// Round trip of a 32-byte message: `a` sends, `b` echoes, `a` receives.
///
/// # Errors
/// If a send fails or the echo does not come.
pub async fn rtt(pair: &mut RawPair) -> Result<Duration, BenchError> {
    let start = Instant::now();
    pair.a.dc.send(BytesMut::from(&[7u8; 32][..])).await?;
    let m = pair.b.next_message().await?;
    pair.b.dc.send(m).await?;
    pair.a.next_message().await?;
    Ok(start.elapsed())
}
