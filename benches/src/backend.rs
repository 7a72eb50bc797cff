//! The overlay's backends, as transport factories for the generic measurements.

use std::time::{Duration, Instant};

use overlay_core::{link_out_of_band, MemoryNetwork};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;
use transport_webrtcrs::WebRtcTransport;

use crate::{bench_peer, until_arc_in, BenchError, Pair};

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
