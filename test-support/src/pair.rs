//! Two transports driven against each other in one process, signals
//! passed in memory; and the triangle scenario on three running nodes.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::{
    CloseReason, ConnId, Role, Signal, Transport, TransportCommand, TransportEvent,
};

use crate::{TestResult, GUARD};

/// Which transport of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first transport.
    A,
    /// The second transport.
    B,
}

/// A signal on its way to the other side, for tests that reshape it.
pub type SignalHook = Box<dyn FnMut(Side, Signal) -> Vec<Signal> + Send>;

/// Two transports and one connection between them (`conn` on both sides).
pub struct Pair<A: Transport, B: Transport> {
    /// The first transport.
    pub a: A,
    /// The second transport.
    pub b: B,
    /// The connection's id, on both sides.
    pub conn: ConnId,
    /// Reshapes signals from `Side` before delivery (default: as is).
    pub hook: Option<SignalHook>,
    /// Signals held back (for tests that deliver them late).
    pub held: Vec<(Side, Signal)>,
}

impl<A: Transport, B: Transport> Pair<A, B> {
    /// A pair on connection 1, signals delivered as they are.
    pub fn new(a: A, b: B) -> Self {
        Pair {
            a,
            b,
            conn: ConnId(1),
            hook: None,
            held: Vec::new(),
        }
    }

    /// The next non-signal event of either side; signals are delivered to
    /// the other side on the way. Panics (test failure) after [`GUARD`].
    pub async fn next(&mut self) -> (Side, TransportEvent) {
        tokio::time::timeout(GUARD, self.next_inner())
            .await
            .expect("no transport event within the guard time")
    }

    /// Like [`Pair::next`] with a custom guard; `None` if nothing came.
    pub async fn next_within(&mut self, d: Duration) -> Option<(Side, TransportEvent)> {
        tokio::time::timeout(d, self.next_inner()).await.ok()
    }

    async fn next_inner(&mut self) -> (Side, TransportEvent) {
        loop {
            let (side, event) = poll_fn(|cx| {
                if let std::task::Poll::Ready(e) = self.a.poll_event(cx) {
                    return std::task::Poll::Ready((Side::A, e));
                }
                if let std::task::Poll::Ready(e) = self.b.poll_event(cx) {
                    return std::task::Poll::Ready((Side::B, e));
                }
                std::task::Poll::Pending
            })
            .await;
            match event {
                TransportEvent::Signal { conn, signal } => {
                    assert_eq!(conn, self.conn, "signal for an unknown connection");
                    let signals = match self.hook.as_mut() {
                        Some(hook) => hook(side, signal),
                        None => vec![signal],
                    };
                    for signal in signals {
                        self.deliver(side, signal);
                    }
                }
                other => return (side, other),
            }
        }
    }

    /// Deliver `signal`, produced by `from`, to the other side.
    pub fn deliver(&mut self, from: Side, signal: Signal) {
        let to = match from {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let cmd = TransportCommand::Signal {
            conn: self.conn,
            signal,
        };
        if let Err(err) = self.apply(to, cmd) {
            panic!("signal from {from:?} refused: {err}");
        }
    }

    /// Apply `cmd` to `side`; panics (a test failure) if refused.
    pub fn command(&mut self, side: Side, cmd: TransportCommand) {
        if let Err(err) = self.apply(side, cmd) {
            panic!("command to {side:?} refused: {err}");
        }
    }

    fn apply(&mut self, side: Side, cmd: TransportCommand) -> Result<(), String> {
        let now = Instant::now();
        match side {
            Side::A => self.a.handle_command(now, cmd).map_err(|e| e.to_string()),
            Side::B => self.b.handle_command(now, cmd).map_err(|e| e.to_string()),
        }
    }

    /// Open the connection with `initiator` offering; returns once both
    /// sides reported `Opened`.
    pub async fn open(&mut self, initiator: Side) {
        let (ra, rb) = match initiator {
            Side::A => (Role::Initiator, Role::Acceptor),
            Side::B => (Role::Acceptor, Role::Initiator),
        };
        let conn = self.conn;
        self.command(Side::A, TransportCommand::Open { conn, role: ra });
        self.command(Side::B, TransportCommand::Open { conn, role: rb });
        let (mut a_open, mut b_open) = (false, false);
        while !(a_open && b_open) {
            match self.next().await {
                (Side::A, TransportEvent::Opened { .. }) => a_open = true,
                (Side::B, TransportEvent::Opened { .. }) => b_open = true,
                other => panic!("unexpected event while opening: {other:?}"),
            }
        }
    }

    /// `side` sends `frame` on the connection.
    pub fn send(&mut self, side: Side, frame: Bytes) {
        let conn = self.conn;
        self.command(side, TransportCommand::Send { conn, frame });
    }

    /// Both sides send `n` [`numbered_frame`]s, frame `seq` of
    /// `size(seq)` bytes (4 at least), interleaved; returns once each side
    /// got all of the other's, whole and in order, and each side's `Sent`
    /// events counted every byte it sent exactly once. Panics (a test
    /// failure) on anything else.
    pub async fn exchange_both_ways(&mut self, n: u32, size: impl Fn(u32) -> usize) {
        for seq in 0..n {
            self.send(Side::A, numbered_frame(seq, size(seq)));
            self.send(Side::B, numbered_frame(seq, size(seq)));
        }
        let total: usize = (0..n).map(|seq| size(seq).max(4)).sum();
        let (mut at_a, mut at_b, mut sent_a, mut sent_b) = (0u32, 0u32, 0usize, 0usize);
        while at_a < n || at_b < n || sent_a < total || sent_b < total {
            match self.next().await {
                (Side::A, TransportEvent::Frame { frame, .. }) => {
                    assert_eq!(frame_seq(&frame), at_a, "frames B -> A out of order");
                    at_a += 1;
                }
                (Side::B, TransportEvent::Frame { frame, .. }) => {
                    assert_eq!(frame_seq(&frame), at_b, "frames A -> B out of order");
                    at_b += 1;
                }
                (Side::A, TransportEvent::Sent { bytes, .. }) => sent_a += bytes,
                (Side::B, TransportEvent::Sent { bytes, .. }) => sent_b += bytes,
                other => panic!("unexpected event: {other:?}"),
            }
        }
        assert_eq!(
            (sent_a, sent_b),
            (total, total),
            "Sent reports each byte once"
        );
    }
}

/// Panics (a test failure) unless `event` is the connection closed by the
/// remote side.
pub fn assert_closed_by_remote(event: &TransportEvent) {
    assert!(
        matches!(
            event,
            TransportEvent::Closed {
                reason: CloseReason::Remote,
                ..
            }
        ),
        "expected a close by the remote side, got {event:?}"
    );
}

/// A frame carrying its sequence number and a recognisable body.
pub fn numbered_frame(seq: u32, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len.max(4));
    v.extend_from_slice(&seq.to_be_bytes());
    while v.len() < len {
        v.push((seq as usize + v.len()) as u8);
    }
    Bytes::from(v)
}

/// The sequence number of a [`numbered_frame`], checking its body.
pub fn frame_seq(frame: &[u8]) -> u32 {
    assert!(frame.len() >= 4, "frame too short");
    let seq = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    for (i, b) in frame.iter().enumerate().skip(4) {
        assert_eq!(
            *b,
            (seq as usize + i) as u8,
            "frame {seq} corrupted at byte {i}"
        );
    }
    seq
}

async fn expect_message(events: &mut overlay_core::EventStream, want: &[u8]) -> TestResult {
    let wait = async {
        while let Some(e) = events.recv().await {
            if let overlay_core::Event::Message { payload, .. } = e {
                return Ok(payload);
            }
        }
        Err("event stream ended")
    };
    let got = tokio::time::timeout(GUARD, wait).await??;
    assert_eq!(&got[..], want);
    Ok(())
}

/// The seed's triangle on three running nodes: A and C join B out-of-band,
/// B bridges A to C, A and C talk over their own connection.
///
/// # Errors
/// What failed.
pub async fn triangle(
    proto: overlay_core::ProtocolId,
    a: overlay_core::Node,
    b: overlay_core::Node,
    c: overlay_core::Node,
) -> TestResult {
    use overlay_core::link_out_of_band;
    let (ha, mut ea) = a.protocol(proto).await?;
    let (hb, _eb) = b.protocol(proto).await?;
    let (hc, mut ec) = c.protocol(proto).await?;

    assert_eq!(link_out_of_band(&ha, &b).await?, b.id());
    assert_eq!(link_out_of_band(&hc, &b).await?, b.id());
    // A join completes at the joining side when the hub's Hello arrives;
    // the hub's end follows one message later. Bridge once B has both.
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let n = b.neighbours().await?;
        if n.contains(&a.id()) && n.contains(&c.id()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never saw both joins"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    hb.connect(a.id(), c.id()).await?;

    // A has its own connection to C, with an arc A -> C seen on both ends.
    assert!(a.neighbours().await?.contains(&c.id()));
    assert_eq!(ha.outview().await?.get(&c.id()), Some(&1));
    assert_eq!(hc.inview().await?.get(&a.id()), Some(&1));
    let a_conns = a.connections().await?;
    assert_eq!(
        a_conns.iter().filter(|i| i.peer == Some(c.id())).count(),
        1,
        "one direct A-C connection"
    );

    ha.send(c.id(), &b"hello C, from A"[..]).await?;
    expect_message(&mut ec, b"hello C, from A").await?;
    hc.send(a.id(), &b"hello A, from C"[..]).await?;
    expect_message(&mut ea, b"hello A, from C").await?;

    for n in [&a, &b, &c] {
        n.shutdown().await;
    }
    Ok(())
}
