//! The network model: latencies, loss, bandwidth, partitions, and the
//! seeded randomness every draw comes from.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A node of the simulation: an index, stable for the whole run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId(pub u32);

impl NodeId {
    pub(crate) fn idx(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// How the simulated network behaves. Every random draw comes from the
/// simulation's seeded RNG, so one seed always gives the same run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NetConfig {
    /// One-way latency of a frame, drawn uniformly per frame. Default 10..=50 ms.
    pub latency: RangeInclusive<Duration>,
    /// One-way latency of the signaling server (out-of-band signals).
    /// Default 20..=60 ms.
    pub signaling_latency: RangeInclusive<Duration>,
    /// From the answer reaching the initiator to both ends opening (ICE
    /// checks, DTLS, SCTP). Default 30..=120 ms.
    pub connect_delay: RangeInclusive<Duration>,
    /// Probability that a frame is lost once more on the wire. The channel
    /// is reliable, so a loss costs a retransmission (`retransmit_timeout`,
    /// repeated while the draw keeps losing). Default 0.
    pub loss: f64,
    /// Retransmission delay added per loss. Default 200 ms.
    pub retransmit_timeout: Duration,
    /// Probability that a handshake never connects (its ICE checks are lost).
    /// The transport stays silent (unless `handshake_failure_report` is set):
    /// the engine's pending timeout cleans up. Default 0.
    pub handshake_loss: f64,
    /// If set, a connection that has not opened this long after its `Open`
    /// is reported `Closed { Failed }` by the transport (what a WebRTC stack
    /// does when ICE fails). Default `None`: silent, the pending timeout acts.
    pub handshake_failure_report: Option<Duration>,
    /// Bytes per second of each direction of a connection; `None` for
    /// unlimited. Default 100 Mbit/s.
    pub bandwidth: Option<u64>,
    /// Bytes of frames a connection takes before reporting them sent (the
    /// engine's `send_window`). Default 256 KiB.
    pub send_window: usize,
    /// How long after a node crashes its neighbours see their connections
    /// fail. Default 3 s.
    pub crash_detect: Duration,
    /// How long a connection cut by a partition lives before both ends
    /// report `Closed { TimedOut }` (ICE consent freshness). Default 30 s.
    pub consent_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::from_millis(10)..=Duration::from_millis(50),
            signaling_latency: Duration::from_millis(20)..=Duration::from_millis(60),
            connect_delay: Duration::from_millis(30)..=Duration::from_millis(120),
            loss: 0.0,
            retransmit_timeout: Duration::from_millis(200),
            handshake_loss: 0.0,
            handshake_failure_report: None,
            bandwidth: Some(100_000_000 / 8),
            send_window: 256 * 1024,
            crash_detect: Duration::from_secs(3),
            consent_timeout: Duration::from_secs(30),
        }
    }
}

impl NetConfig {
    /// Lose this fraction of frames (retransmitted later) and of handshakes
    /// (never connecting).
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss.clamp(0.0, 1.0);
        self.handshake_loss = self.loss;
        self
    }

    /// Set the one-way frame latency range.
    pub fn with_latency(mut self, latency: RangeInclusive<Duration>) -> Self {
        self.latency = latency;
        self
    }

    /// Set the per-connection bandwidth (`None`: unlimited).
    pub fn with_bandwidth(mut self, bytes_per_second: Option<u64>) -> Self {
        self.bandwidth = bytes_per_second;
        self
    }

    /// Set the send window each connection offers the engine.
    pub fn with_send_window(mut self, bytes: usize) -> Self {
        self.send_window = bytes.max(1);
        self
    }
}

/// Most retransmissions one frame can suffer (keeps a loss of 1.0 finite).
const MAX_RETRANSMISSIONS: u32 = 16;

/// The network's state: its configuration, partitions and RNG.
pub(crate) struct Network {
    pub(crate) config: NetConfig,
    rng: ChaCha8Rng,
    /// Partition group of each node (all 0 when the network is whole).
    groups: Vec<u32>,
    /// Bumped at every partition change; consent checks from an older
    /// epoch are void.
    pub(crate) epoch: u64,
    partitioned: bool,
}

impl Network {
    pub(crate) fn new(config: NetConfig, seed: u64) -> Self {
        Network {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            groups: Vec::new(),
            epoch: 0,
            partitioned: false,
        }
    }

    pub(crate) fn add_node(&mut self) {
        self.groups.push(0);
    }

    fn draw(&mut self, range: &RangeInclusive<Duration>) -> Duration {
        let (lo, hi) = (
            range.start().as_nanos() as u64,
            range.end().as_nanos() as u64,
        );
        if hi <= lo {
            return Duration::from_nanos(lo);
        }
        Duration::from_nanos(self.rng.gen_range(lo..=hi))
    }

    /// Latency of one frame, retransmissions included.
    pub(crate) fn frame_delay(&mut self) -> Duration {
        let range = self.config.latency.clone();
        let mut d = self.draw(&range);
        let mut tries = 0;
        while tries < MAX_RETRANSMISSIONS
            && self.config.loss > 0.0
            && self.rng.gen_bool(self.config.loss)
        {
            d += self.config.retransmit_timeout;
            tries += 1;
        }
        d
    }

    /// Latency of a control message of the transport (a close notification).
    pub(crate) fn latency(&mut self) -> Duration {
        let range = self.config.latency.clone();
        self.draw(&range)
    }

    pub(crate) fn signaling_delay(&mut self) -> Duration {
        let range = self.config.signaling_latency.clone();
        self.draw(&range)
    }

    pub(crate) fn connect_delay(&mut self) -> Duration {
        let range = self.config.connect_delay.clone();
        self.draw(&range)
    }

    /// Whether a handshake's connectivity checks get through.
    pub(crate) fn handshake_survives(&mut self) -> bool {
        let p = self.config.handshake_loss;
        !(p > 0.0 && self.rng.gen_bool(p.min(1.0)))
    }

    /// Time to put `len` bytes on the wire.
    pub(crate) fn transmit_time(&self, len: usize) -> Duration {
        match self.config.bandwidth {
            Some(bw) if bw > 0 => {
                Duration::from_nanos((len as u128 * 1_000_000_000 / bw as u128) as u64)
            }
            _ => Duration::ZERO,
        }
    }

    /// Whether `a` and `b` can reach each other.
    pub(crate) fn reachable(&self, a: NodeId, b: NodeId) -> bool {
        !self.partitioned || self.groups.get(a.idx()) == self.groups.get(b.idx())
    }

    /// Split the network: each slice of `groups` is one side; nodes named
    /// nowhere form one more side together.
    pub(crate) fn partition(&mut self, groups: &[&[NodeId]]) {
        self.groups.iter_mut().for_each(|g| *g = 0);
        for (i, side) in groups.iter().enumerate() {
            for n in side.iter() {
                if let Some(g) = self.groups.get_mut(n.idx()) {
                    *g = i as u32 + 1;
                }
            }
        }
        self.partitioned = true;
        self.epoch += 1;
    }

    /// Make the network whole again.
    pub(crate) fn heal(&mut self) {
        self.groups.iter_mut().for_each(|g| *g = 0);
        self.partitioned = false;
        self.epoch += 1;
    }

    pub(crate) fn is_partitioned(&self) -> bool {
        self.partitioned
    }
}
