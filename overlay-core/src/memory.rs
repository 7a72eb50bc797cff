//! The in-memory transport: the reference implementation of
//! [`Transport`], and the test double.
//!
//! # How to write a transport
//! This file is the template. A transport keeps a table of its
//! connections by [`ConnId`] and a queue of events ready for the engine:
//!
//! 1. `Open { Initiator }`: emit your offer (and candidates) as
//!    [`TransportEvent::Signal`]. `Open { Acceptor }`: wait for the offer.
//! 2. `Signal`: the remote's offer (answer it with a `Signal` event),
//!    answer, or candidate. Refuse what you cannot parse with `Err`.
//! 3. When frames can flow both ways, emit [`TransportEvent::Opened`] once.
//! 4. `Send`: deliver the frame whole, in order; return the send credit
//!    with [`TransportEvent::Sent`] once it left your queue (here: once the
//!    receiver consumed it, which gives end-to-end backpressure).
//! 5. The remote closed, or died: [`TransportEvent::Closed`] with a reason.
//!    After `Close`, forget the connection and emit nothing more for it.
//!
//! Here the "network" is a [`MemoryNetwork`]: a registry of endpoints, each
//! an unbounded channel of deliveries. The offer's SDP names the offering
//! endpoint and connection (`n2n-memory <endpoint> <conn>`) and, like a
//! WebRTC SDP, the endpoint's certificate fingerprint
//! (`a=fingerprint:sha-256 ...`); the answer names the answering one; the
//! initiator, on the answer, tells the acceptor that the connection is
//! open. Each end reports its own fingerprint and the one the remote's SDP
//! announced as the connection's [`ChannelBinding`]. There is no DTLS
//! here: a memory transport's "certificate" is a random value per
//! transport ([`MemoryTransport::set_certificate`] changes it, so a test
//! can play a relay with certificates of its own).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::id::ConnId;
use crate::signal::Signal;
use crate::transport::{
    ChannelBinding, CloseReason, Fingerprint, Role, Transport, TransportCommand, TransportEvent,
};

type Endpoint = u64;

/// What one endpoint sends another.
#[derive(Debug)]
enum Delivery {
    /// The initiator saw the answer: the connection is open.
    Open {
        to: ConnId,
    },
    Frame {
        to: ConnId,
        frame: Bytes,
    },
    /// The receiver consumed `bytes` of frames the sender sent on `to`.
    Credit {
        to: ConnId,
        bytes: usize,
    },
    Closed {
        to: ConnId,
        reason: CloseReason,
    },
}

/// A set of in-memory endpoints that can reach each other. Cloning shares it.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    endpoints: Arc<Mutex<BTreeMap<Endpoint, mpsc::UnboundedSender<Delivery>>>>,
    next: Arc<AtomicU64>,
}

impl MemoryNetwork {
    /// An empty network.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A new transport attached to this network.
    #[must_use]
    pub fn transport(&self) -> MemoryTransport {
        let endpoint = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut eps) = self.endpoints.lock() {
            eps.insert(endpoint, tx);
        }
        MemoryTransport {
            endpoint,
            certificate: Fingerprint(rand::random()),
            net: self.clone(),
            inbox: rx,
            conns: BTreeMap::new(),
            ready: VecDeque::new(),
        }
    }

    /// Endpoints attached now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.endpoints.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether no endpoint is attached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deliver to an endpoint; false if it is gone.
    fn deliver(&self, to: Endpoint, d: Delivery) -> bool {
        let tx = self.endpoints.lock().ok().and_then(|e| e.get(&to).cloned());
        tx.is_some_and(|tx| tx.send(d).is_ok())
    }
}

/// A signal this transport cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The SDP is not one a memory transport made.
    #[error("not a memory-transport session description: {0:?}")]
    BadSdp(String),
    /// The signal does not fit the connection's role or state.
    #[error("unexpected {0} signal for this connection")]
    Unexpected(&'static str),
    /// A frame this transport does not carry: empty, or larger than
    /// [`crate::config::MAX_FRAME_SIZE`] (the transport contract).
    #[error("cannot send a frame of {0} bytes: frames are 1 to 65536 bytes")]
    FrameSize(usize),
}

#[derive(Debug)]
struct MemConn {
    role: Role,
    remote: Option<(Endpoint, ConnId)>,
    remote_cert: Option<Fingerprint>,
    open: bool,
}

/// An endpoint of a [`MemoryNetwork`]. See the [module docs](self).
pub struct MemoryTransport {
    endpoint: Endpoint,
    certificate: Fingerprint,
    net: MemoryNetwork,
    inbox: mpsc::UnboundedReceiver<Delivery>,
    conns: BTreeMap<ConnId, MemConn>,
    ready: VecDeque<TransportEvent>,
}

impl fmt::Debug for MemoryNetwork {
    /// `MemoryNetwork { endpoints: N }`: how many transports are attached.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryNetwork")
            .field("endpoints", &self.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for MemoryTransport {
    /// Its endpoint number, certificate, and connections (open or not).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("endpoint", &self.endpoint)
            .field("certificate", &self.certificate)
            .field("connections", &self.conns.len())
            .field("open", &self.conns.values().filter(|c| c.open).count())
            .finish_non_exhaustive()
    }
}

fn sdp(endpoint: Endpoint, conn: ConnId, cert: &Fingerprint) -> String {
    format!(
        "n2n-memory {endpoint} {}\r\na=fingerprint:{}\r\n",
        conn.0,
        cert.to_sdp_value()
    )
}

fn parse_sdp(s: &str) -> Result<(Endpoint, ConnId, Fingerprint), MemoryError> {
    let bad = || MemoryError::BadSdp(s.chars().take(64).collect());
    let first = s.lines().next().ok_or_else(bad)?;
    let mut it = first.trim().split(' ');
    if it.next() != Some("n2n-memory") {
        return Err(bad());
    }
    let ep = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let conn = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let cert = Fingerprint::from_sdp(s).ok_or_else(bad)?;
    Ok((ep, ConnId(conn), cert))
}

impl MemoryTransport {
    /// This transport's certificate fingerprint (what its SDPs announce).
    #[must_use]
    pub fn certificate(&self) -> Fingerprint {
        self.certificate
    }

    /// Announce `cert` as this transport's certificate from now on.
    pub fn set_certificate(&mut self, cert: Fingerprint) {
        self.certificate = cert;
    }

    fn binding(&self, remote: Option<Fingerprint>) -> Option<ChannelBinding> {
        remote.map(|remote| ChannelBinding {
            local: self.certificate,
            remote,
        })
    }

    fn closed(&mut self, conn: ConnId, reason: CloseReason) {
        if self.conns.remove(&conn).is_some() {
            self.ready
                .push_back(TransportEvent::Closed { conn, reason });
        }
    }
}

impl Transport for MemoryTransport {
    type Error = MemoryError;

    fn handle_command(&mut self, now: Instant, cmd: TransportCommand) -> Result<(), MemoryError> {
        let conn = cmd.conn();
        let result = self.command(now, cmd);
        if result.is_err() {
            // An error ends the connection (the transport contract): free
            // it and tell the remote at once.
            if let Some(MemConn {
                remote: Some((ep, rconn)),
                ..
            }) = self.conns.remove(&conn)
            {
                let reason = CloseReason::Failed("the remote refused a command".into());
                self.net.deliver(ep, Delivery::Closed { to: rconn, reason });
            }
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

impl MemoryTransport {
    fn command(&mut self, _now: Instant, cmd: TransportCommand) -> Result<(), MemoryError> {
        match cmd {
            TransportCommand::Open { conn, role } => {
                self.conns.insert(
                    conn,
                    MemConn {
                        role,
                        remote: None,
                        remote_cert: None,
                        open: false,
                    },
                );
                if role == Role::Initiator {
                    let offer = Signal::Offer {
                        sdp: sdp(self.endpoint, conn, &self.certificate),
                    };
                    self.ready.push_back(TransportEvent::Signal {
                        conn,
                        signal: offer,
                    });
                    // A candidate and its end, so every signal path is exercised.
                    let cand = Signal::candidate(format!(
                        "candidate:memory 1 udp 1 0.0.0.0 {} typ host",
                        self.endpoint
                    ));
                    self.ready
                        .push_back(TransportEvent::Signal { conn, signal: cand });
                    self.ready.push_back(TransportEvent::Signal {
                        conn,
                        signal: Signal::EndOfCandidates,
                    });
                }
            }
            TransportCommand::Signal { conn, signal } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return Ok(());
                };
                match (signal, c.role) {
                    (Signal::Offer { sdp: s }, Role::Acceptor) if c.remote.is_none() => {
                        let (ep, rconn, cert) = parse_sdp(&s)?;
                        c.remote = Some((ep, rconn));
                        c.remote_cert = Some(cert);
                        let answer = Signal::Answer {
                            sdp: sdp(self.endpoint, conn, &self.certificate),
                        };
                        self.ready.push_back(TransportEvent::Signal {
                            conn,
                            signal: answer,
                        });
                    }
                    (Signal::Answer { sdp: s }, Role::Initiator) if c.remote.is_none() => {
                        let (ep, rconn, cert) = parse_sdp(&s)?;
                        c.remote = Some((ep, rconn));
                        c.remote_cert = Some(cert);
                        if self.net.deliver(ep, Delivery::Open { to: rconn }) {
                            c.open = true;
                            let binding = self.binding(Some(cert));
                            self.ready
                                .push_back(TransportEvent::Opened { conn, binding });
                        } else {
                            self.closed(
                                conn,
                                CloseReason::Failed("remote endpoint is gone".into()),
                            );
                        }
                    }
                    (Signal::Candidate { .. } | Signal::EndOfCandidates, _) => {}
                    (s, _) => return Err(MemoryError::Unexpected(s.kind())),
                }
            }
            TransportCommand::Send { conn, frame } => {
                let Some(c) = self.conns.get(&conn) else {
                    return Ok(());
                };
                if frame.is_empty() || frame.len() > crate::config::MAX_FRAME_SIZE {
                    return Err(MemoryError::FrameSize(frame.len()));
                }
                let (Some((ep, rconn)), true) = (c.remote, c.open) else {
                    return Err(MemoryError::Unexpected("send before open"));
                };
                if !self.net.deliver(ep, Delivery::Frame { to: rconn, frame }) {
                    self.closed(conn, CloseReason::Failed("remote endpoint is gone".into()));
                }
            }
            TransportCommand::Close { conn } => {
                if let Some(MemConn {
                    remote: Some((ep, rconn)),
                    ..
                }) = self.conns.remove(&conn)
                {
                    self.net.deliver(
                        ep,
                        Delivery::Closed {
                            to: rconn,
                            reason: CloseReason::Remote,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<TransportEvent> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Poll::Ready(ev);
            }
            let d = match self.inbox.poll_recv(cx) {
                Poll::Ready(Some(d)) => d,
                // The network holds our sender while we are attached.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            };
            match d {
                Delivery::Open { to } => {
                    let mut opened = None;
                    if let Some(c) = self.conns.get_mut(&to) {
                        if !c.open && c.remote.is_some() {
                            c.open = true;
                            opened = Some(c.remote_cert);
                        }
                    }
                    if let Some(cert) = opened {
                        let binding = self.binding(cert);
                        self.ready
                            .push_back(TransportEvent::Opened { conn: to, binding });
                    }
                }
                Delivery::Frame { to, frame } => {
                    if let Some((ep, rconn)) = self.conns.get(&to).and_then(|c| c.remote) {
                        self.net.deliver(
                            ep,
                            Delivery::Credit {
                                to: rconn,
                                bytes: frame.len(),
                            },
                        );
                        self.ready
                            .push_back(TransportEvent::Frame { conn: to, frame });
                    }
                }
                Delivery::Credit { to, bytes } => {
                    if self.conns.contains_key(&to) {
                        self.ready
                            .push_back(TransportEvent::Sent { conn: to, bytes });
                    }
                }
                Delivery::Closed { to, reason } => self.closed(to, reason),
            }
        }
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        if let Ok(mut eps) = self.net.endpoints.lock() {
            eps.remove(&self.endpoint);
        }
        for c in self.conns.values() {
            if let Some((ep, rconn)) = c.remote {
                let reason = CloseReason::Failed("remote transport dropped".into());
                self.net.deliver(ep, Delivery::Closed { to: rconn, reason });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryNetwork;

    #[test]
    fn debug_says_how_many_endpoints_and_connections() {
        let net = MemoryNetwork::new();
        let (a, _b) = (net.transport(), net.transport());
        assert_eq!(format!("{net:?}"), "MemoryNetwork { endpoints: 2, .. }");
        let shown = format!("{a:?}");
        assert!(
            shown.starts_with("MemoryTransport { endpoint: 1, certificate: ")
                && shown.ends_with("connections: 0, open: 0, .. }"),
            "{shown}"
        );
    }
}
