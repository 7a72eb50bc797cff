//! A direct harness: several transports in one task, signals carried
//! in-process between linked connections, other events handed to the test.
//! What is not str0m-specific comes from the workspace's test-support
//! crate (`test-support/`, shared with the webrtc-rs backend's tests),
//! re-exported here under the names the tests use.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::collections::HashMap;
use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use rtc_common::RtcConfig;
use transport_str0m::{Str0mError, Str0mTransport};

pub use n2n_test_support::init_tracing as init_log;
pub use n2n_test_support::netns::{reexec_in_netns, IN_NETNS};
pub use n2n_test_support::probe::{open_sockets, proc_status, rss_kib};
pub use n2n_test_support::{eventually, TestResult, GUARD};

/// What a step of the network gave the test.
#[derive(Debug)]
pub enum Got {
    /// A transport event other than a signal (signals are carried).
    Event(usize, Ev),
    /// Carrying a signal made the receiving transport return an error.
    CommandError(usize, ConnId, Str0mError),
}

/// Rewrites a signal on its way from node `from`; returns what to deliver.
pub type Tamper = Box<dyn FnMut(usize, ConnId, Signal) -> Vec<Signal>>;

pub struct Net {
    pub nodes: Vec<Str0mTransport>,
    links: HashMap<(usize, ConnId), (usize, ConnId)>,
    pub tamper: Option<Tamper>,
    /// Signals seen, per sending node (kinds), for assertions.
    pub signals_seen: Vec<(usize, ConnId, Signal)>,
    next: usize,
}

impl Net {
    pub fn bind(n: usize) -> Result<Net, transport_str0m::BindError> {
        Self::bind_with(n, &RtcConfig::loopback())
    }

    pub fn bind_with(n: usize, config: &RtcConfig) -> Result<Net, transport_str0m::BindError> {
        init_log();
        let nodes = (0..n)
            .map(|_| Str0mTransport::bind(config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Net {
            nodes,
            links: HashMap::new(),
            tamper: None,
            signals_seen: Vec::new(),
            next: 0,
        })
    }

    /// Open `ca` on node `a` (initiator) and `cb` on `b` (acceptor), linked.
    pub fn connect(
        &mut self,
        a: usize,
        ca: ConnId,
        b: usize,
        cb: ConnId,
    ) -> Result<(), Str0mError> {
        self.links.insert((a, ca), (b, cb));
        self.links.insert((b, cb), (a, ca));
        let now = Instant::now();
        self.nodes[b].handle_command(
            now,
            Cmd::Open {
                conn: cb,
                role: Role::Acceptor,
            },
        )?;
        self.nodes[a].handle_command(
            now,
            Cmd::Open {
                conn: ca,
                role: Role::Initiator,
            },
        )
    }

    pub fn cmd(&mut self, node: usize, cmd: Cmd) -> Result<(), Str0mError> {
        self.nodes[node].handle_command(Instant::now(), cmd)
    }

    /// The next non-signal event (or a command error), carrying signals.
    pub async fn next(&mut self) -> Got {
        loop {
            let (node, ev) = poll_fn(|cx| {
                let n = self.nodes.len();
                for k in 0..n {
                    let i = (self.next + k) % n;
                    if let Poll::Ready(ev) = self.nodes[i].poll_event(cx) {
                        self.next = (i + 1) % n;
                        return Poll::Ready((i, ev));
                    }
                }
                Poll::Pending
            })
            .await;
            match ev {
                Ev::Signal { conn, signal } => {
                    self.signals_seen.push((node, conn, signal.clone()));
                    let Some(&(to, tconn)) = self.links.get(&(node, conn)) else {
                        continue;
                    };
                    let signals = match self.tamper.as_mut() {
                        Some(t) => t(node, conn, signal),
                        None => vec![signal],
                    };
                    for signal in signals {
                        if let Err(e) = self.nodes[to].handle_command(
                            Instant::now(),
                            Cmd::Signal {
                                conn: tconn,
                                signal,
                            },
                        ) {
                            return Got::CommandError(to, tconn, e);
                        }
                    }
                }
                other => return Got::Event(node, other),
            }
        }
    }

    /// [`Net::next`] bounded by `limit` (a hang is a failure).
    pub async fn next_within(&mut self, limit: Duration) -> Result<Got, String> {
        tokio::time::timeout(limit, self.next())
            .await
            .map_err(|_| format!("no event within {limit:?}"))
    }

    /// Carry signals until every listed (node, conn) reported `Opened`.
    pub async fn wait_open(&mut self, mut pending: Vec<(usize, ConnId)>) -> Result<(), String> {
        while !pending.is_empty() {
            match self.next_within(Duration::from_secs(20)).await? {
                Got::Event(node, Ev::Opened { conn, .. }) => pending.retain(|p| *p != (node, conn)),
                Got::Event(_, Ev::Sent { .. }) => {}
                other => return Err(format!("while opening: {other:?}")),
            }
        }
        Ok(())
    }

    /// The first two nodes' statistics before and after an idle `window`
    /// (the handshake's own traffic left 2 s to settle first); fails if
    /// any event comes during the window.
    pub async fn idle_stats(
        &mut self,
        window: Duration,
    ) -> Result<([transport_str0m::Stats; 2], [transport_str0m::Stats; 2]), String> {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.next()).await;
        let before = [self.nodes[0].stats(), self.nodes[1].stats()];
        if let Ok(got) = tokio::time::timeout(window, self.next()).await {
            return Err(format!(
                "nothing expected on an idle connection, got {got:?}"
            ));
        }
        Ok((before, [self.nodes[0].stats(), self.nodes[1].stats()]))
    }
}

/// A frame whose content says its index: checkable for order and integrity.
pub fn frame(i: u32, len: usize) -> bytes::Bytes {
    let mut v = vec![(i % 251) as u8; len.max(4)];
    v[..4].copy_from_slice(&i.to_be_bytes());
    bytes::Bytes::from(v)
}
