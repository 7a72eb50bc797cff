//! A custom transport: n2n-overlay over plain TCP, that passes the
//! transport conformance suite.
//!
//! ```sh
//! cargo run --example tcp_transport --features testkit    # a triangle over TCP
//! cargo test --example tcp_transport --features testkit   # the conformance suite
//! ```
//!
//! The overlay needs from a transport only what [`Transport`] says:
//! connections opened by a signal exchange, frames delivered whole and in
//! order, credit returned, closes reported. Here:
//!
//! - every transport listens on a TCP port;
//! - `Open { Initiator }` emits an offer, `n2n-tcp <listen address> <token>`;
//! - the acceptor, given the offer, connects to that address, writes the
//!   token (so the initiator knows which connection this stream is), and
//!   answers;
//! - the initiator, once it has both the answer and the stream, writes an
//!   `OPEN` record and reports `Opened`; the acceptor reports `Opened` when
//!   that record arrives. Without the answer nothing opens, so a handshake
//!   whose answer is lost times out, as the overlay expects;
//! - frames go as records (a kind byte, a length, the bytes); a frame
//!   counts as sent (`Sent`) once written to the socket;
//! - `Close` (and a command the transport refuses, which ends its
//!   connection) writes a `CLOSE` record after the queued frames: the
//!   remote reports a graceful close. A stream that ends without one (the
//!   transport was dropped, the process crashed) is reported as a failure,
//!   as the transport contract asks.
//!
//! Channel binding: the overlay's `HELLO` signs both ends' DTLS
//! certificate fingerprints, so that a relay in the middle is caught
//! (`SECURITY.md`). Plain TCP has no certificate, so this transport reports
//! `binding: None`, and its nodes must opt in with the **insecure**
//! `Config::with_insecure_allow_unbound_connections` (its conformance test
//! runs `testkit::run_all_unbound`). A transport for open networks binds:
//! e.g. TLS with a per-node certificate whose SHA-256 it announces in its
//! signals (which the overlay signs) and checks on the stream.
//!
//! A task per stream direction does the I/O and hands events to the
//! transport through a channel, which [`Transport::poll_event`] drains: the
//! shape of an async backend (the webrtc-rs one works this way). Copy this
//! file to start a transport of your own; depend on `n2n-overlay` with the
//! `testkit` feature (as a dev-dependency) to run the conformance suite.
//! The in-memory transport (`overlay-core/src/memory.rs`) is the other
//! reference.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use n2n_overlay::{
    link_out_of_band, CloseReason, Config, ConnId, Event, Keypair, Node, NodeConfig, ProtocolId,
    Role, Signal, Transport, TransportCommand, TransportEvent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Record kinds on a stream.
const OPEN: u8 = 0;
const FRAME: u8 = 1;
const CLOSE: u8 = 2;
/// Largest frame accepted from a remote (the overlay's frames are smaller).
const MAX_FRAME: usize = 1024 * 1024;
/// How long a dialled stream may take to connect or to name its connection.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A command this transport refuses (for one connection).
#[derive(Debug, thiserror::Error)]
pub enum TcpError {
    /// The offer is not one a `TcpTransport` made.
    #[error("not a TCP-transport offer: {0:?}")]
    BadOffer(String),
    /// The signal does not fit the connection's role or state.
    #[error("unexpected {0} signal for this connection")]
    Unexpected(&'static str),
    /// `Open` for a connection that exists.
    #[error("connection {0:?} is already open")]
    Duplicate(ConnId),
    /// A frame the transport contract refuses (empty, or over 64 KiB).
    #[error("cannot send a frame of {0} bytes: frames are 1 to 65536 bytes")]
    FrameSize(usize),
}

/// What the I/O tasks tell the transport.
enum Internal {
    /// The listener got a stream that named `token`.
    Accepted { token: u64, stream: TcpStream },
    /// The acceptor's dial of connection `conn` (generation `generation`) ended.
    Dialled {
        conn: ConnId,
        generation: u64,
        stream: io::Result<TcpStream>,
    },
    /// An event of connection `conn`, as long as it is still generation `generation`.
    Event {
        generation: u64,
        event: TransportEvent,
    },
}

#[derive(Debug)]
enum State {
    /// Initiator: the offer is out; waiting for the answer and the stream.
    Offered {
        token: u64,
        answered: bool,
        stream: Option<TcpStream>,
    },
    /// Acceptor: waiting for the offer.
    AwaitingOffer,
    /// Acceptor: dialling the initiator.
    Dialling,
    /// The stream runs (the acceptor until the `OPEN` record: not yet open).
    Running {
        frames: mpsc::UnboundedSender<Bytes>,
        tasks: [JoinHandle<()>; 2],
    },
}

#[derive(Debug)]
struct Conn {
    generation: u64,
    state: State,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Dropping the stream's halves closes it; the remote sees the end.
        if let State::Running { tasks, .. } = &self.state {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

/// n2n-overlay over TCP. See the [module docs](self).
#[derive(Debug)]
pub struct TcpTransport {
    listen: SocketAddr,
    listener: JoinHandle<()>,
    conns: BTreeMap<ConnId, Conn>,
    generations: u64,
    tx: mpsc::UnboundedSender<Internal>,
    rx: mpsc::UnboundedReceiver<Internal>,
    ready: VecDeque<TransportEvent>,
}

impl TcpTransport {
    /// Listen on `addr` (`127.0.0.1:0` picks a free port).
    ///
    /// # Errors
    /// If the port cannot be bound.
    pub async fn bind(addr: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let listen = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let accepted = tx.clone();
        let listener = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let accepted = accepted.clone();
                tokio::spawn(async move {
                    // A stream names its connection first; one that does not, in time, is dropped.
                    if let Ok(Ok(token)) =
                        tokio::time::timeout(DIAL_TIMEOUT, stream.read_u64()).await
                    {
                        let _ = accepted.send(Internal::Accepted { token, stream });
                    }
                });
            }
        });
        Ok(TcpTransport {
            listen,
            listener,
            conns: BTreeMap::new(),
            generations: 0,
            tx,
            rx,
            ready: VecDeque::new(),
        })
    }

    /// Start the stream's reader and writer; the initiator writes `OPEN` first.
    fn run(&mut self, conn: ConnId, stream: TcpStream, role: Role) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (frames, queue) = mpsc::unbounded_channel();
        let events = self.tx.clone();
        let generation = c.generation;
        let reader = tokio::spawn(read_records(read, conn, generation, role, events.clone()));
        let writer = tokio::spawn(write_records(write, queue, conn, generation, role, events));
        c.state = State::Running {
            frames,
            tasks: [reader, writer],
        };
        if role == Role::Initiator {
            self.ready.push_back(TransportEvent::Opened {
                conn,
                binding: None,
            });
        }
    }

    fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Accepted { token, stream } => {
                let found = self
                    .conns
                    .iter_mut()
                    .find_map(|(id, c)| match &mut c.state {
                        State::Offered {
                            token: t,
                            answered,
                            stream: slot @ None,
                        } if *t == token => Some((*id, *answered, slot)),
                        _ => None,
                    });
                // A stream with an unknown token is dropped here.
                if let Some((conn, answered, slot)) = found {
                    *slot = Some(stream);
                    if answered {
                        self.open_initiator(conn);
                    }
                }
            }
            Internal::Dialled {
                conn,
                generation,
                stream,
            } => {
                if !self.is_current(conn, generation) {
                    return;
                }
                match stream {
                    Ok(stream) => {
                        self.run(conn, stream, Role::Acceptor);
                        let answer = Signal::Answer {
                            sdp: "n2n-tcp-answer".into(),
                        };
                        self.ready.push_back(TransportEvent::Signal {
                            conn,
                            signal: answer,
                        });
                    }
                    Err(e) => self.closed(conn, CloseReason::Failed(format!("dial: {e}"))),
                }
            }
            Internal::Event { generation, event } => {
                let conn = event.conn();
                if !self.is_current(conn, generation) {
                    return; // from a connection closed since
                }
                if let TransportEvent::Closed { reason, .. } = event {
                    self.closed(conn, reason);
                } else {
                    self.ready.push_back(event);
                }
            }
        }
    }

    fn open_initiator(&mut self, conn: ConnId) {
        let stream = match self.conns.get_mut(&conn).map(|c| &mut c.state) {
            Some(State::Offered { stream, .. }) => stream.take(),
            _ => None,
        };
        if let Some(stream) = stream {
            self.run(conn, stream, Role::Initiator);
        }
    }

    fn is_current(&self, conn: ConnId, generation: u64) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.generation == generation)
    }

    fn closed(&mut self, conn: ConnId, reason: CloseReason) {
        if self.conns.remove(&conn).is_some() {
            self.ready
                .push_back(TransportEvent::Closed { conn, reason });
        }
    }
}

/// Read records until the stream ends; report frames, the acceptor's
/// `Opened`, and the close.
async fn read_records(
    mut read: OwnedReadHalf,
    conn: ConnId,
    generation: u64,
    role: Role,
    events: mpsc::UnboundedSender<Internal>,
) {
    let mut open = role == Role::Initiator;
    let reason = loop {
        let kind = match read.read_u8().await {
            Ok(kind) => kind,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                break CloseReason::Failed(
                    "the stream ended without a close: the remote is gone".into(),
                )
            }
            Err(e) => break CloseReason::Failed(e.to_string()),
        };
        let event = match kind {
            OPEN if !open => {
                open = true;
                TransportEvent::Opened {
                    conn,
                    binding: None,
                }
            }
            FRAME if open => {
                let len = match read.read_u32().await {
                    Ok(len) if len as usize <= MAX_FRAME => len as usize,
                    Ok(len) => break CloseReason::Failed(format!("frame of {len} bytes")),
                    Err(e) => break CloseReason::Failed(e.to_string()),
                };
                let mut frame = vec![0; len];
                if let Err(e) = read.read_exact(&mut frame).await {
                    break CloseReason::Failed(e.to_string());
                }
                TransportEvent::Frame {
                    conn,
                    frame: frame.into(),
                }
            }
            CLOSE => break CloseReason::Remote,
            other => break CloseReason::Failed(format!("unexpected record {other}")),
        };
        if events.send(Internal::Event { generation, event }).is_err() {
            return; // the transport is gone
        }
    };
    let event = TransportEvent::Closed { conn, reason };
    let _ = events.send(Internal::Event { generation, event });
}

/// Write the queued frames as records, returning their credit as they go.
async fn write_records(
    mut write: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    conn: ConnId,
    generation: u64,
    role: Role,
    events: mpsc::UnboundedSender<Internal>,
) {
    let failed = |e: io::Error| TransportEvent::Closed {
        conn,
        reason: CloseReason::Failed(e.to_string()),
    };
    if role == Role::Initiator {
        if let Err(e) = write.write_u8(OPEN).await {
            let _ = events.send(Internal::Event {
                generation,
                event: failed(e),
            });
            return;
        }
    }
    while let Some(frame) = queue.recv().await {
        if frame.is_empty() {
            // The transport closed the connection (frames are never empty).
            let _ = write.write_u8(CLOSE).await;
            return;
        }
        let mut record = Vec::with_capacity(5 + frame.len());
        record.push(FRAME);
        // Frames are at most the engine's frame limit, far below 4 GiB.
        record.extend_from_slice(&u32::try_from(frame.len()).unwrap_or(u32::MAX).to_be_bytes());
        record.extend_from_slice(&frame);
        let event = match write.write_all(&record).await {
            Ok(()) => TransportEvent::Sent {
                conn,
                bytes: frame.len(),
            },
            Err(e) => failed(e),
        };
        let stop = matches!(event, TransportEvent::Closed { .. });
        if events.send(Internal::Event { generation, event }).is_err() || stop {
            return;
        }
    }
}

fn parse_offer(sdp: &str) -> Result<(SocketAddr, u64), TcpError> {
    let bad = || TcpError::BadOffer(sdp.chars().take(64).collect());
    let mut words = sdp.split(' ');
    if words.next() != Some("n2n-tcp") {
        return Err(bad());
    }
    let addr = words.next().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
    let token = words
        .next()
        .and_then(|t| u64::from_str_radix(t, 16).ok())
        .ok_or_else(bad)?;
    Ok((addr, token))
}

impl TcpTransport {
    /// Close `conn` toward the remote: a `CLOSE` record after its queued
    /// frames (the writer finishes on its own), nothing more reported here.
    fn close(&mut self, conn: ConnId) {
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        if let State::Running { frames, tasks } = std::mem::replace(&mut c.state, State::Dialling) {
            let _ = frames.send(Bytes::new());
            tasks[0].abort();
        }
    }
}

impl Transport for TcpTransport {
    type Error = TcpError;

    fn handle_command(&mut self, now: Instant, cmd: TransportCommand) -> Result<(), TcpError> {
        let conn = cmd.conn();
        let result = self.command(now, cmd);
        if result.is_err() {
            // An error ends the connection; the remote is told at once.
            self.close(conn);
            self.ready.retain(|e| e.conn() != conn);
        }
        result
    }

    fn connection_count(&self) -> Option<usize> {
        Some(self.conns.len())
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        self.poll(cx)
    }
}

impl TcpTransport {
    fn command(&mut self, _now: Instant, cmd: TransportCommand) -> Result<(), TcpError> {
        match cmd {
            TransportCommand::Open { conn, role } => {
                if self.conns.contains_key(&conn) {
                    return Err(TcpError::Duplicate(conn));
                }
                self.generations += 1;
                let state = match role {
                    Role::Initiator => {
                        let token = rand::random();
                        let sdp = format!("n2n-tcp {} {token:016x}", self.listen);
                        self.ready.push_back(TransportEvent::Signal {
                            conn,
                            signal: Signal::Offer { sdp },
                        });
                        State::Offered {
                            token,
                            answered: false,
                            stream: None,
                        }
                    }
                    Role::Acceptor => State::AwaitingOffer,
                };
                let generation = self.generations;
                self.conns.insert(conn, Conn { generation, state });
            }
            TransportCommand::Signal { conn, signal } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return Ok(()); // a connection closed since
                };
                match (signal, &mut c.state) {
                    (Signal::Offer { sdp }, State::AwaitingOffer) => {
                        let (addr, token) = parse_offer(&sdp)?;
                        c.state = State::Dialling;
                        let (tx, generation) = (self.tx.clone(), c.generation);
                        tokio::spawn(async move {
                            let stream =
                                match tokio::time::timeout(DIAL_TIMEOUT, dial(addr, token)).await {
                                    Ok(result) => result,
                                    Err(_) => Err(io::ErrorKind::TimedOut.into()),
                                };
                            let _ = tx.send(Internal::Dialled {
                                conn,
                                generation,
                                stream,
                            });
                        });
                    }
                    (
                        Signal::Answer { .. },
                        State::Offered {
                            answered, stream, ..
                        },
                    ) if !*answered => {
                        *answered = true;
                        if stream.is_some() {
                            self.open_initiator(conn);
                        }
                    }
                    // The same description delivered twice: once is enough.
                    (Signal::Offer { .. }, State::Dialling)
                    | (Signal::Answer { .. }, State::Offered { answered: true, .. }) => {}
                    // No ICE here: candidates mean nothing to TCP.
                    (Signal::Candidate { .. } | Signal::EndOfCandidates, _) => {}
                    (signal, _) => return Err(TcpError::Unexpected(signal.kind())),
                }
            }
            TransportCommand::Send { conn, frame } => {
                if frame.is_empty() || frame.len() > n2n_overlay::config::MAX_FRAME_SIZE {
                    return Err(TcpError::FrameSize(frame.len()));
                }
                if let Some(Conn {
                    state: State::Running { frames, .. },
                    ..
                }) = self.conns.get(&conn)
                {
                    // The writer ended only if the stream failed: its Closed event is on the way.
                    let _ = frames.send(frame);
                }
            }
            TransportCommand::Close { conn } => self.close(conn),
            // The enum is `#[non_exhaustive]`: a command added later is
            // ignored until this transport learns it.
            _ => {}
        }
        Ok(())
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Poll::Ready(event);
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(msg)) => self.on_internal(msg),
                // We hold a sender ourselves: the channel never ends.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// The acceptor's side of a stream: connect, then name the connection.
async fn dial(addr: SocketAddr, token: u64) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_u64(token).await?;
    Ok(stream)
}

/// Three nodes over TCP: A and C join B out of band, B bridges A to C
/// (their offer and answer travel through B), A greets C.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = ProtocolId::new("tcp-example")?;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let transport = TcpTransport::bind("127.0.0.1:0").await?;
        println!("a node listens on {}", transport.listen);
        nodes.push(Node::spawn(
            transport,
            Keypair::generate(),
            // Plain TCP cannot bind connections to certificates: opt in.
            NodeConfig::with_engine(
                Config::default().with_insecure_allow_unbound_connections(true),
            ),
        ));
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let (ha, _ea) = a.protocol(proto).await?;
    let (hb, _eb) = b.protocol(proto).await?;
    let (hc, mut ec) = c.protocol(proto).await?;
    link_out_of_band(&ha, b).await?;
    link_out_of_band(&hc, b).await?;
    // A join completes at the joiner first; bridge once B has both.
    while b.neighbours().await?.len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    hb.connect(a.id(), c.id()).await?;
    ha.send(c.id(), "hello C, from A over TCP").await?;
    while let Some(event) = ec.recv().await {
        if let Event::Message { peer, payload } = event {
            println!(
                "C got {:?} from {}",
                String::from_utf8_lossy(&payload),
                peer.short()
            );
            break;
        }
    }
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TcpTransport;

    async fn make() -> TcpTransport {
        match TcpTransport::bind("127.0.0.1:0").await {
            Ok(t) => t,
            Err(e) => panic!("cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Every case of the suite, in turn.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tcp_transport_passes_the_conformance_suite(
    ) -> Result<(), n2n_overlay::testkit::ConformanceError> {
        let report = n2n_overlay::testkit::run_all_unbound(make).await?;
        println!("{report}");
        Ok(())
    }
}
