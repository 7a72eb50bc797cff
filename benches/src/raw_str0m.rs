//! A raw str0m pair: two `Rtc`s with str0m's defaults (a fresh certificate
//! and DTLS configuration per `Rtc`, as a str0m user gets them), one UDP
//! socket each on 127.0.0.1 (4 MiB receive buffer), SDP passed in-process,
//! host candidates only, one reliable ordered data channel. No overlay, no
//! tokio. Written as a careful str0m user would:
//!
//! - setup and [`RawPair::step`]: one thread drives both peers,
//!   busy-polling non-blocking sockets (str0m's best case for setup);
//! - [`throughput`] and [`rtt_samples`]: one loop thread per peer, blocking
//!   on its socket until a datagram arrives or str0m's next timeout
//!   (no busy-polling), every ready datagram fed before writing, the sender
//!   writing all the SCTP buffer takes before it drains str0m's output once;
//! - [`rtt_one_thread`]: both peers on one busy-polling thread (no wake-ups
//!   at all: the floor of str0m's own cost).
//!
//! One copy for the whole workspace: `examples/str0m_setup.rs` uses it too.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The read timeout last set on the socket (blocking mode).
    read_timeout: Option<Duration>,
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
            read_timeout: None,
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

    fn receive(&mut self, data: &[u8], source: SocketAddr) -> Result<(), BenchError> {
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.addr,
                contents: data.try_into()?,
            },
        );
        self.rtc.handle_input(input)?;
        self.drain()
    }

    fn feed_timeout(&mut self) -> Result<bool, BenchError> {
        let now = Instant::now();
        if now < self.timeout {
            return Ok(false);
        }
        self.rtc.handle_input(Input::Timeout(now))?;
        self.drain()?;
        Ok(true)
    }

    /// Read what is there and feed due timeouts; true if anything happened
    /// (non-blocking socket).
    fn step(&mut self, buf: &mut [u8]) -> Result<bool, BenchError> {
        let mut any = false;
        while let Ok((n, source)) = self.socket.recv_from(buf) {
            any = true;
            self.receive(buf.get(..n).ok_or("datagram larger than buffer")?, source)?;
        }
        any |= self.feed_timeout()?;
        Ok(any)
    }

    /// Blocking mode (a loop thread of its own): sleep in `recv_from` until
    /// a datagram arrives or str0m's next timeout is due (at most `cap`),
    /// feed it, then every other datagram already there, then the timeout.
    fn wait_step(&mut self, buf: &mut [u8], cap: Duration) -> Result<(), BenchError> {
        let now = Instant::now();
        if self.timeout > now {
            // Whole milliseconds, so the socket option rarely changes.
            let ms = (self.timeout - now).min(cap).as_millis().max(1);
            let wait = Duration::from_millis(u64::try_from(ms).unwrap_or(1));
            if self.read_timeout != Some(wait) {
                self.socket.set_read_timeout(Some(wait))?;
                self.read_timeout = Some(wait);
            }
            match self.socket.recv_from(buf) {
                Ok((n, source)) => {
                    self.receive(buf.get(..n).ok_or("datagram larger than buffer")?, source)?;
                    // Then what else is ready, without blocking.
                    self.socket.set_nonblocking(true)?;
                    let more = self.step(buf);
                    self.socket.set_nonblocking(false)?;
                    more?;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.feed_timeout()?;
        Ok(())
    }

    /// Whether the data channel is open.
    pub fn is_open(&self) -> bool {
        self.channel.is_some()
    }

    /// Write one binary message and send what it produced; false if str0m's
    /// SCTP buffer is full (retry later).
    ///
    /// # Errors
    /// If the channel is not open or str0m refuses the write.
    pub fn write(&mut self, msg: &[u8]) -> Result<bool, BenchError> {
        let taken = self.write_only(msg)?;
        self.flush()?;
        Ok(taken)
    }

    /// Write one binary message without driving str0m (call [`RawPeer::flush`]
    /// after a batch); false if str0m's SCTP buffer is full.
    ///
    /// # Errors
    /// If the channel is not open or str0m refuses the write.
    pub fn write_only(&mut self, msg: &[u8]) -> Result<bool, BenchError> {
        let id = self.channel.ok_or("channel not open")?;
        let mut ch = self.rtc.channel(id).ok_or("channel gone")?;
        Ok(ch.write(true, msg)?)
    }

    /// Give str0m the time and send what it has (after writes).
    ///
    /// # Errors
    /// If str0m fails.
    pub fn flush(&mut self) -> Result<(), BenchError> {
        self.rtc.handle_input(Input::Timeout(Instant::now()))?;
        self.drain()
    }

    fn blocking(&mut self, on: bool) -> Result<(), BenchError> {
        self.socket.set_nonblocking(!on)?;
        if !on {
            self.read_timeout = None;
        }
        Ok(())
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

/// Longest a loop thread sleeps in `recv_from` without a datagram (it then
/// looks whether its measurement ended).
const WAIT_CAP: Duration = Duration::from_millis(5);

/// Run `fa` on a loop thread for `a` and `fb` on one for `b`, sockets in
/// blocking mode; returns both results.
fn two_threads<A: Send, B: Send>(
    pair: &mut RawPair,
    fa: impl FnOnce(&mut RawPeer) -> Result<A, BenchError> + Send,
    fb: impl FnOnce(&mut RawPeer) -> Result<B, BenchError> + Send,
) -> Result<(A, B), BenchError> {
    pair.a.blocking(true)?;
    pair.b.blocking(true)?;
    let (a, b) = (&mut pair.a, &mut pair.b);
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(move || fa(a));
        let tb = s.spawn(move || fb(b));
        (ta.join(), tb.join())
    });
    pair.a.blocking(false)?;
    pair.b.blocking(false)?;
    let ra = ra.map_err(|_| "raw str0m: a loop thread panicked")?;
    let rb = rb.map_err(|_| "raw str0m: a loop thread panicked")?;
    Ok((ra?, rb?))
}

/// One way: `count` messages of `size` bytes from `a` to `b`, all received,
/// order checked; from the first write to the last receipt. One loop thread
/// per peer, each blocking on its socket.
///
/// # Errors
/// If a message arrives out of order or the transfer stalls for 30 s.
pub fn throughput(pair: &mut RawPair, size: usize, count: u32) -> Result<Duration, BenchError> {
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let limit = Duration::from_secs(30);
    let size = size.max(4);
    two_threads(
        pair,
        |a| {
            let mut buf = vec![0u8; 2048];
            let mut msg = vec![0u8; size];
            let mut sent = 0u32;
            while !done.load(Ordering::Acquire) {
                let mut wrote = false;
                while sent < count {
                    msg[..4].copy_from_slice(&sent.to_be_bytes());
                    if !a.write_only(&msg)? {
                        break;
                    }
                    wrote = true;
                    sent += 1;
                }
                if wrote {
                    a.flush()?;
                }
                a.wait_step(&mut buf, WAIT_CAP)?;
                if start.elapsed() > limit {
                    return Err("raw str0m throughput: stalled".into());
                }
            }
            Ok(())
        },
        |b| {
            let mut buf = vec![0u8; 2048];
            let mut received = 0u32;
            let result = (|| {
                while received < count {
                    b.wait_step(&mut buf, WAIT_CAP)?;
                    while let Some(m) = b.inbox.pop_front() {
                        if m.get(..4) != Some(&received.to_be_bytes()[..]) || m.len() != size {
                            return Err(
                                format!("raw str0m: message {received} out of order").into()
                            );
                        }
                        received += 1;
                    }
                    if start.elapsed() > limit {
                        return Err("raw str0m throughput: stalled".into());
                    }
                }
                Ok(start.elapsed())
            })();
            done.store(true, Ordering::Release);
            result
        },
    )
    .map(|((), took)| took)
}

/// `n` round trips of a 32-byte message: `a` writes, `b` echoes, `a`
/// receives. One loop thread per peer, each blocking on its socket.
///
/// # Errors
/// If an echo does not come within 5 s.
pub fn rtt_samples(pair: &mut RawPair, n: usize) -> Result<Vec<Duration>, BenchError> {
    let done = AtomicBool::new(false);
    two_threads(
        pair,
        |a| {
            let mut buf = vec![0u8; 2048];
            let result = (|| {
                let mut samples = Vec::with_capacity(n);
                for _ in 0..n {
                    let start = Instant::now();
                    if !a.write(&[7u8; 32])? {
                        return Err("raw str0m: send buffer full".into());
                    }
                    while a.inbox.pop_front().is_none() {
                        a.wait_step(&mut buf, WAIT_CAP)?;
                        if start.elapsed() > Duration::from_secs(5) {
                            return Err("raw str0m: no echo within 5 s".into());
                        }
                    }
                    samples.push(start.elapsed());
                }
                Ok(samples)
            })();
            done.store(true, Ordering::Release);
            result
        },
        |b| {
            let mut buf = vec![0u8; 2048];
            while !done.load(Ordering::Acquire) {
                b.wait_step(&mut buf, WAIT_CAP)?;
                while let Some(m) = b.inbox.pop_front() {
                    if !b.write(&m)? {
                        return Err("raw str0m: send buffer full".into());
                    }
                }
            }
            Ok(())
        },
    )
    .map(|(mut v, ())| {
        v.sort();
        v
    })
}

/// One round trip, as [`rtt_samples`].
///
/// # Errors
/// As [`rtt_samples`].
pub fn rtt(pair: &mut RawPair) -> Result<Duration, BenchError> {
    rtt_samples(pair, 1)?
        .first()
        .copied()
        .ok_or_else(|| "no sample".into())
}

/// Round trip of a 32-byte message with both peers on this one
/// busy-polling thread (no wake-ups: str0m's own cost).
///
/// # Errors
/// If the echo does not come within 5 s.
pub fn rtt_one_thread(pair: &mut RawPair) -> Result<Duration, BenchError> {
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
