//! Server-reflexive candidate gathering: a STUN Binding request to each
//! configured server from the node's own socket, retransmitted until the
//! server answers or [`rtc_common::RtcConfig::stun_timeout`] passes.
//!
//! str0m has no gathering of its own; its STUN codec (`str0m::ice`) is used
//! to build the request and read the reply.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::ice::{StunMessage, StunMessageBuilder, TransId};

/// Retransmission interval of a Binding request.
const RETRANSMIT: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Query {
    server: SocketAddr,
    trans: TransId,
    next_send: Instant,
    give_up: Instant,
}

/// What a datagram meant to the gatherer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StunReply {
    /// Not a reply to one of our queries: route it to the connections.
    NotOurs,
    /// Our query's reply, with the mapped (public) address, if it had one.
    Mapped(Option<SocketAddr>),
}

/// Pending Binding requests of one node.
#[derive(Debug, Default)]
pub(crate) struct Gatherer {
    queries: Vec<Query>,
}

impl Gatherer {
    /// Start a query to each server.
    pub(crate) fn new(servers: &[SocketAddr], now: Instant, timeout: Duration) -> Self {
        let queries = servers
            .iter()
            .map(|&server| Query { server, trans: TransId::new(), next_send: now, give_up: now + timeout })
            .collect();
        Gatherer { queries }
    }

    /// Whether every query has been answered or given up.
    pub(crate) fn done(&self) -> bool {
        self.queries.is_empty()
    }

    /// Requests due at `now`, as (destination, datagram). Drops queries
    /// past their deadline.
    pub(crate) fn poll_transmit(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        self.queries.retain(|q| {
            if now >= q.give_up {
                tracing::debug!(server = %q.server, "STUN server did not answer; gathering goes on without it");
                false
            } else {
                true
            }
        });
        let mut out = Vec::new();
        for q in &mut self.queries {
            if now >= q.next_send {
                q.next_send = now + RETRANSMIT;
                let msg = StunMessageBuilder::new().binding().request().build(q.trans);
                let mut buf = vec![0u8; 64];
                // No MESSAGE-INTEGRITY (no password), so the HMAC is unused.
                match msg.to_bytes(None, &mut buf, |_, _| [0u8; 20]) {
                    Ok(n) => {
                        buf.truncate(n);
                        out.push((q.server, buf));
                    }
                    Err(e) => tracing::warn!(error = %e, "could not encode a STUN request"),
                }
            }
        }
        out
    }

    /// The next time [`Gatherer::poll_transmit`] has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.queries.iter().map(|q| q.next_send.min(q.give_up)).min()
    }

    /// Look at a received datagram: a reply to one of our queries?
    pub(crate) fn handle_datagram(&mut self, source: SocketAddr, data: &[u8]) -> StunReply {
        if self.queries.is_empty() || data.len() < 20 || data[0] > 1 {
            return StunReply::NotOurs;
        }
        let Ok(msg) = StunMessage::parse(data) else {
            return StunReply::NotOurs;
        };
        let Some(pos) = self.queries.iter().position(|q| q.server == source && q.trans == msg.trans_id()) else {
            return StunReply::NotOurs;
        };
        self.queries.swap_remove(pos);
        if msg.is_successful_binding_response() {
            StunReply::Mapped(msg.mapped_address())
        } else {
            tracing::debug!(server = %source, "STUN server refused the Binding request");
            StunReply::Mapped(None)
        }
    }
}
