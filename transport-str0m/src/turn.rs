//! TURN relay candidates for str0m, which has ICE but no TURN client.
//!
//! One allocation per configured TURN server, made from the node's single
//! socket with the server's long-term credentials (the sans-IO client of
//! the `rtc-turn` crate: the 401 challenge, MESSAGE-INTEGRITY, allocation
//! and permission refreshes, channel bindings). The relayed address becomes
//! a relay candidate of every connection. What str0m sends *from* a relayed
//! address goes to the server wrapped (a Send indication, then ChannelData
//! once a channel is bound), after a permission for the peer's address;
//! what the server forwards from a peer is unwrapped and handed to str0m as
//! a datagram from that peer to the relayed address.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc_shared::{TransportContext, TransportMessage, TransportProtocol};
use rtc_turn::client::{Client, ClientConfig, Event};
use sansio::Protocol;

/// Peers one allocation holds permissions for, at most (each remote
/// candidate address a connection checks costs one).
const MAX_PERMISSIONS: usize = 1024;

/// A TURN server to allocate on, resolved.
#[derive(Clone)]
pub(crate) struct TurnTarget {
    pub(crate) server: SocketAddr,
    pub(crate) username: String,
    pub(crate) credential: String,
}

enum State {
    /// Allocate sent; gathering waits for it until `give_up`.
    Allocating { give_up: Instant },
    /// The server relays for us at this address.
    Ready(SocketAddr),
    /// The allocation failed or timed out (logged once).
    Failed,
}

struct Allocation {
    server: SocketAddr,
    client: Client,
    state: State,
    permitted: HashSet<SocketAddr>,
}

/// What a datagram from a TURN server carried.
#[derive(Debug, Default)]
pub(crate) struct FromServer {
    /// A relayed address the server just allocated for us.
    pub(crate) allocated: Vec<SocketAddr>,
    /// Datagrams relayed from peers: (peer, our relayed address, data).
    pub(crate) relayed: Vec<(SocketAddr, SocketAddr, BytesMut)>,
}

/// The node's TURN allocations.
#[derive(Default)]
pub(crate) struct Turn {
    allocs: Vec<Allocation>,
}

/// Counters of the TURN data path (folded into the transport's stats).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TurnDrops {
    /// Datagrams for a peer whose permission was not granted yet (ICE
    /// retransmits its checks), or past the permission limit.
    pub(crate) no_permission: u64,
}

impl Turn {
    /// Start an allocation on each server. A server whose client cannot be
    /// made is skipped with a warning.
    pub(crate) fn new(
        targets: &[TurnTarget],
        local: SocketAddr,
        now: Instant,
        timeout: Duration,
    ) -> Self {
        let mut allocs = Vec::new();
        for t in targets {
            let provider = match rtc_turn::crypto::default_provider() {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(server = %t.server, error = %e, "no crypto provider for TURN");
                    continue;
                }
            };
            let config = ClientConfig {
                turn_serv_addr: t.server.to_string(),
                local_addr: local,
                transport_protocol: TransportProtocol::UDP,
                username: t.username.clone(),
                password: t.credential.clone(),
                software: "n2n-overlay".into(),
                ..ClientConfig::default()
            };
            let mut client = match Client::new(config, Arc::clone(&provider)) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(server = %t.server, error = %e, "cannot start a TURN client");
                    continue;
                }
            };
            let state = match client.allocate(now) {
                Ok(_) => State::Allocating {
                    give_up: now + timeout,
                },
                Err(e) => {
                    tracing::warn!(server = %t.server, error = %e, "cannot request a TURN allocation");
                    State::Failed
                }
            };
            allocs.push(Allocation {
                server: t.server,
                client,
                state,
                permitted: HashSet::new(),
            });
        }
        Turn { allocs }
    }

    /// Whether every allocation has succeeded or failed (gathering is over).
    pub(crate) fn done(&self) -> bool {
        !self
            .allocs
            .iter()
            .any(|a| matches!(a.state, State::Allocating { .. }))
    }

    /// Whether `addr` is one of our relayed addresses.
    pub(crate) fn is_relayed(&self, addr: SocketAddr) -> bool {
        self.allocs
            .iter()
            .any(|a| matches!(a.state, State::Ready(r) if r == addr))
    }

    /// Whether datagrams from `source` are for the TURN clients.
    pub(crate) fn is_server(&self, source: SocketAddr) -> bool {
        self.allocs.iter().any(|a| a.server == source)
    }

    /// Feed a datagram from a TURN server.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        data: &[u8],
    ) -> FromServer {
        let mut out = FromServer::default();
        for a in self.allocs.iter_mut().filter(|a| a.server == source) {
            let msg = TransportMessage {
                now,
                transport: TransportContext {
                    local_addr: a.client_local(),
                    peer_addr: source,
                    transport_protocol: TransportProtocol::UDP,
                    ecn: None,
                },
                message: BytesMut::from(data),
            };
            if let Err(e) = a.client.handle_read(msg) {
                tracing::debug!(server = %source, error = %e, "TURN client dropped a datagram");
            }
            a.events(&mut out);
        }
        out
    }

    /// Send `data` from our relayed address `relayed` to `peer` through its
    /// server. Creates the permission for `peer` first; until the server
    /// grants it the datagram is dropped (ICE retransmits).
    pub(crate) fn send(
        &mut self,
        now: Instant,
        relayed: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        drops: &mut TurnDrops,
    ) {
        let Some(a) = self
            .allocs
            .iter_mut()
            .find(|a| matches!(a.state, State::Ready(r) if r == relayed))
        else {
            return;
        };
        if !a.permitted.contains(&peer) {
            if a.permitted.len() >= MAX_PERMISSIONS {
                drops.no_permission += 1;
                return;
            }
            a.permitted.insert(peer);
        }
        let Ok(mut relay) = a.client.relay(relayed) else {
            return;
        };
        match relay.create_permission(now, peer) {
            Ok(Some(_)) => {
                drops.no_permission += 1;
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(%peer, error = %e, "TURN permission request failed");
                drops.no_permission += 1;
                return;
            }
        }
        if let Err(e) = relay.send_to(now, data, peer) {
            // Mostly: the permission is still pending.
            tracing::trace!(%peer, error = %e, "TURN send dropped");
            drops.no_permission += 1;
        }
    }

    /// Datagrams the clients want sent to their servers, as (server, data).
    pub(crate) fn poll_transmit(&mut self) -> Vec<(SocketAddr, BytesMut)> {
        let mut out = Vec::new();
        for a in &mut self.allocs {
            while let Some(t) = a.client.poll_write() {
                out.push((t.transport.peer_addr, t.message));
            }
        }
        out
    }

    /// Feed the time: retransmissions, refreshes, allocation deadlines.
    /// Returns what the clients' events produced (as from a datagram).
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> FromServer {
        let mut out = FromServer::default();
        for a in &mut self.allocs {
            if a.client.poll_timeout().is_some_and(|t| t <= now) {
                if let Err(e) = a.client.handle_timeout(now) {
                    tracing::debug!(server = %a.server, error = %e, "TURN timer");
                }
            }
            if let State::Allocating { give_up } = a.state {
                if now >= give_up {
                    tracing::warn!(server = %a.server, "TURN server did not allocate in time; going on without a relay candidate");
                    a.state = State::Failed;
                }
            }
            a.events(&mut out);
        }
        out
    }

    /// The next time [`Turn::handle_timeout`] has work.
    pub(crate) fn next_timeout(&mut self) -> Option<Instant> {
        self.allocs
            .iter_mut()
            .flat_map(|a| {
                let give_up = match a.state {
                    State::Allocating { give_up } => Some(give_up),
                    _ => None,
                };
                a.client.poll_timeout().into_iter().chain(give_up)
            })
            .min()
    }

    /// Release every allocation (a zero-lifetime Refresh), best effort.
    pub(crate) fn close(&mut self, now: Instant) {
        for a in &mut self.allocs {
            if let State::Ready(r) = a.state {
                if let Ok(mut relay) = a.client.relay(r) {
                    let _ = relay.close(now);
                }
            }
        }
    }
}

impl Allocation {
    fn client_local(&self) -> SocketAddr {
        // The client only uses this to label what it sends.
        SocketAddr::new(
            match self.server {
                SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
            },
            0,
        )
    }

    fn events(&mut self, out: &mut FromServer) {
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::AllocateResponse(_, relayed) => {
                    tracing::debug!(server = %self.server, %relayed, "TURN allocation");
                    self.state = State::Ready(relayed);
                    out.allocated.push(relayed);
                }
                Event::AllocateError(_, e) => {
                    // The error names the STUN error code (401: bad
                    // credentials); never the credentials themselves.
                    tracing::warn!(server = %self.server, error = %e, "TURN allocation refused: check the TURN username and credential");
                    self.state = State::Failed;
                }
                Event::TransactionTimeout(_) => {
                    if matches!(self.state, State::Allocating { .. }) {
                        tracing::warn!(server = %self.server, "TURN server did not answer");
                        self.state = State::Failed;
                    }
                }
                Event::CreatePermissionError(_, e) => {
                    tracing::debug!(server = %self.server, error = %e, "TURN permission refused");
                }
                Event::DataIndicationOrChannelData(_, peer, data) => {
                    if let State::Ready(relayed) = self.state {
                        out.relayed.push((peer, relayed, data));
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_goes_to_the_server_then_gives_up() -> Result<(), Box<dyn std::error::Error>> {
        let server: SocketAddr = "127.0.0.1:3478".parse()?;
        let now = Instant::now();
        let mut turn = Turn::new(
            &[TurnTarget {
                server,
                username: "user".into(),
                credential: "secret-credential".into(),
            }],
            "127.0.0.1:5000".parse()?,
            now,
            Duration::from_secs(1),
        );
        assert!(!turn.done(), "gathering waits for the allocation");
        assert!(turn.is_server(server));
        let sent = turn.poll_transmit();
        assert_eq!(sent.len(), 1, "one Allocate request");
        assert_eq!(sent[0].0, server);
        assert!(
            !sent[0]
                .1
                .windows(b"secret-credential".len())
                .any(|w| w == b"secret-credential"),
            "the credential never goes on the wire"
        );
        assert!(turn.next_timeout().is_some());
        let got = turn.handle_timeout(now + Duration::from_secs(1));
        assert!(got.allocated.is_empty());
        assert!(turn.done(), "a silent server is given up at the timeout");
        assert!(!turn.is_relayed("127.0.0.1:5000".parse()?));
        Ok(())
    }
}
