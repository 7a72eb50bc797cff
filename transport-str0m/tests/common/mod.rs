//! A direct harness: several transports in one task, signals carried
//! in-process between linked connections, other events handed to the test.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use overlay_core::{
    ConnId, Role, Signal, Transport, TransportCommand as Cmd, TransportEvent as Ev,
};
use rtc_common::RtcConfig;
use transport_str0m::{Str0mError, Str0mTransport};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

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

pub fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
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
}

/// A frame whose content says its index: checkable for order and integrity.
pub fn frame(i: u32, len: usize) -> bytes::Bytes {
    let mut v = vec![(i % 251) as u8; len.max(4)];
    v[..4].copy_from_slice(&i.to_be_bytes());
    bytes::Bytes::from(v)
}

/// Set inside the network namespace a test re-executed itself in.
pub const IN_NETNS: &str = "N2N_TEST_IN_NETNS";

/// Run `test` of this test binary again inside `unshare -n` (a network
/// namespace with only loopback, brought up). Fails with the reason if
/// that cannot be done.
pub fn reexec_in_netns(test: &str, skip_var: &str) -> TestResult {
    let exe = std::env::current_exe()?;
    let status = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(IN_NETNS, "1")
        .status()
        .map_err(|e| {
            format!(
                "cannot run `unshare -n` ({e}); set {skip_var}=1 to skip this test deliberately"
            )
        })?;
    if !status.success() {
        return Err(format!("{test} failed inside `unshare -n` ({status}); see its output above (set {skip_var}=1 to skip deliberately if unshare is unavailable)").into());
    }
    Ok(())
}
