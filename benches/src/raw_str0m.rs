//! A raw str0m pair: two `Rtc`s with str0m's defaults (a fresh certificate
//! and DTLS configuration per `Rtc`, as a str0m user gets them), one UDP
//! socket each on 127.0.0.1 (4 MiB receive buffer, as the backend), SDP
//! passed in-process, host candidates only, one reliable ordered data
//! channel. No overlay, no tokio: one thread drives both peers in a
//! busy-polling loop on non-blocking sockets (str0m's best case).
//!
//! Adapted from `transport-str0m/examples/setup_bench.rs`, extended with
//! one-way throughput and round trips on the channel.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use str0m::change::SdpOffer;
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::BenchError;

/// Receive buffer of each raw socket (the backend's default too).
const RECV_BUFFER: usize = 4 * 1024 * 1024;

/// Install str0m's crypto provider (once per process; later calls are no-ops).
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// One raw peer: its `Rtc`, its socket and what it received.
pub struct RawPeer {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    channel: Option<ChannelId>,
    timeout: Instant,
    /// Messages received on the channel, oldest first.
    pub inbox: VecDeque<Vec<u8>>,
}

impl RawPeer {
    fn new(now: Instant) -> Result<Self, BenchError> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(SockProtocol::UDP))?;
        // Best effort: the kernel caps it at rmem_max.
        let _ = socket.set_recv_buffer_size(RECV_BUFFER);
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        let socket: UdpSocket = socket.into();
        let addr = socket.local_addr()?;
        Ok(RawPeer {
            rtc: Rtc::builder().build(now),
            socket,
            addr,
            channel: None,
            timeout: now,
            inbox: VecDeque::new(),
        })
    }

    /// Drain output (send transmits at once); remember the next timeout.
    fn drain(&mut self) -> Result<(), BenchError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return Ok(());
                }
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::ChannelOpen(id, _)) => self.channel = Some(id),
                Output::Event(Event::ChannelData(d)) => self.inbox.push_back(d.data),
                Output::Event(_) => {}
            }
        }
    }

    /// Read what is there and feed due timeouts; true if anything happened.
    fn step(&mut self, buf: &mut [u8]) -> Result<bool, BenchError> {
        let mut any = false;
        while let Ok((n, source)) = self.socket.recv_from(buf) {
            any = true;
            let contents = buf
                .get(..n)
                .ok_or("datagram larger than buffer")?
                .try_into()?;
            let input = Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: self.addr,
                    contents,
                },
            );
            self.rtc.handle_input(input)?;
            self.drain()?;
        }
        let now = Instant::now();
        if now >= self.timeout {
            self.rtc.handle_input(Input::Timeout(now))?;
            self.drain()?;
            any = true;
        }
        Ok(any)
    }

    /// Whether the data channel is open.
    pub fn is_open(&self) -> bool {
        self.channel.is_some()
    }

    /// Write one binary message; false if str0m's SCTP buffer is full (retry later).
    ///
    /// # Errors
    /// If the channel is not open or str0m refuses the write.
    pub fn write(&mut self, msg: &[u8]) -> Result<bool, BenchError> {
        let id = self.channel.ok_or("channel not open")?;
        let mut ch = self.rtc.channel(id).ok_or("channel gone")?;
        let taken = ch.write(true, msg)?;
        self.rtc.handle_input(Input::Timeout(Instant::now()))?;
        self.drain()?;
        Ok(taken)
    }
}

/// Two raw peers, `a` offering, `b` answering.
pub struct RawPair {
    /// The offerer.
    pub a: RawPeer,
    /// The answerer.
    pub b: RawPeer,
    buf: Vec<u8>,
}

impl RawPair {
    /// Build both peers and negotiate (SDP in-process); not yet open.
    ///
    /// # Errors
    /// If str0m refuses the offer or answer, or a socket cannot be bound.
    pub fn start() -> Result<Self, BenchError> {
        install_crypto();
        let now = Instant::now();
        let mut a = RawPeer::new(now)?;
        let mut b = RawPeer::new(now)?;
        a.rtc.add_local_candidate(Candidate::host(a.addr, "udp")?);
        b.rtc.add_local_candidate(Candidate::host(b.addr, "udp")?);
        let mut api = a.rtc.sdp_api();
        api.add_channel("bench".into());
        let (offer, pending) = api.apply().ok_or("no offer")?;
        let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string())?;
        let answer = b.rtc.sdp_api().accept_offer(offer)?;
        a.rtc.sdp_api().accept_answer(pending, answer)?;
        a.drain()?;
        b.drain()?;
        Ok(RawPair {
            a,
            b,
            buf: vec![0u8; 2048],
        })
    }

    /// One pass over both peers; true if anything happened.
    ///
    /// # Errors
    /// If str0m fails.
    pub fn step(&mut self) -> Result<bool, BenchError> {
        Ok(self.a.step(&mut self.buf)? | self.b.step(&mut self.buf)?)
    }

    /// Whether the channel is open on both sides.
    pub fn is_open(&self) -> bool {
        self.a.is_open() && self.b.is_open()
    }

    /// Step until `done` or `limit` passes.
    ///
    /// # Errors
    /// If str0m fails or the limit passes.
    pub fn drive_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> Result<(), BenchError> {
        let start = Instant::now();
        while !done(self) {
            if !self.step()? {
                std::thread::yield_now();
            }
            if start.elapsed() > limit {
                return Err("raw str0m pair: timed out".into());
            }
        }
        Ok(())
    }

    /// A pair with its channel open on both sides.
    ///
    /// # Errors
    /// If the pair does not open within 10 s.
    pub fn open() -> Result<Self, BenchError> {
        let mut p = Self::start()?;
        p.drive_until(Duration::from_secs(10), |p| p.is_open())?;
        Ok(p)
    }
}

/// Setup: build two `Rtc`s, negotiate, until the channel is open on both sides.
///
/// # Errors
/// If the pair does not open.
pub fn setup() -> Result<Duration, BenchError> {
    let start = Instant::now();
    let pair = RawPair::open()?;
    let took = start.elapsed();
    drop(pair);
    Ok(took)
}

/// One way: `count` messages of `size` bytes from `a` to `b`, all received,
/// order checked; from the first write to the last receipt.
///
/// # Errors
/// If a message arrives out of order or the transfer stalls for 30 s.
pub fn throughput(pair: &mut RawPair, size: usize, count: u32) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut msg = vec![0u8; size.max(4)];
    let (mut sent, mut received) = (0u32, 0u32);
    while received < count {
        while sent < count {
            msg[..4].copy_from_slice(&sent.to_be_bytes());
            if !pair.a.write(&msg)? {
                break;
            }
            sent += 1;
        }
        let any = pair.step()?;
        while let Some(m) = pair.b.inbox.pop_front() {
            if m.get(..4) != Some(&received.to_be_bytes()[..]) || m.len() != msg.len() {
                return Err(format!("raw str0m: message {received} out of order").into());
            }
            received += 1;
        }
        if !any {
            std::thread::yield_now();
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err("raw str0m throughput: stalled".into());
        }
    }
    Ok(start.elapsed())
}

/// Round trip of a 32-byte message: `a` writes, `b` echoes, `a` receives.
///
/// # Errors
/// If the echo does not come within 5 s.
pub fn rtt(pair: &mut RawPair) -> Result<Duration, BenchError> {
    let start = Instant::now();
    if !pair.a.write(&[7u8; 32])? {
        return Err("raw str0m: send buffer full".into());
    }
    pair.drive_until(Duration::from_secs(5), |p| !p.b.inbox.is_empty())?;
    let m = pair.b.inbox.pop_front().ok_or("no message")?;
    if !pair.b.write(&m)? {
        return Err("raw str0m: send buffer full".into());
    }
    pair.drive_until(Duration::from_secs(5), |p| !p.a.inbox.is_empty())?;
    pair.a.inbox.clear();
    Ok(start.elapsed())
}
