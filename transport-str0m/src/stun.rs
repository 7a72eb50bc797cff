//! Server-reflexive candidate gathering: a STUN Binding request to each
//! configured server from the node's own socket, retransmitted until the
//! server answers or [`rtc_common::RtcConfig::stun_timeout`] passes.
//!
//! str0m has no gathering of its own, and its STUN parser (made for ICE)
//! rejects the Binding replies of plain STUN servers, which carry no
//! MESSAGE-INTEGRITY: the `stun_codec` crate builds the request and reads
//! the reply.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytecodec::{DecodeExt, EncodeExt};
use stun_codec::rfc5389::attributes::{MappedAddress, XorMappedAddress};
use stun_codec::rfc5389::{methods::BINDING, Attribute};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, TransactionId};

/// Retransmission interval of a Binding request.
pub(crate) const RETRANSMIT: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Query {
    server: SocketAddr,
    trans: [u8; 12],
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
            .map(|&server| Query {
                server,
                trans: rand::random(),
                next_send: now,
                give_up: now + timeout,
            })
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
                let msg = Message::<Attribute>::new(
                    MessageClass::Request,
                    BINDING,
                    TransactionId::new(q.trans),
                );
                match MessageEncoder::new().encode_into_bytes(msg) {
                    Ok(bytes) => out.push((q.server, bytes)),
                    Err(e) => tracing::warn!(error = %e, "could not encode a STUN request"),
                }
            }
        }
        out
    }

    /// The next time [`Gatherer::poll_transmit`] has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.queries
            .iter()
            .map(|q| q.next_send.min(q.give_up))
            .min()
    }

    /// Look at a received datagram: a reply to one of our queries?
    pub(crate) fn handle_datagram(&mut self, source: SocketAddr, data: &[u8]) -> StunReply {
        // STUN messages start with two zero bits; replies with 0x01.
        if self.queries.is_empty() || data.len() < 20 || data[0] > 1 {
            return StunReply::NotOurs;
        }
        let Ok(Ok(msg)) = MessageDecoder::<Attribute>::new().decode_from_bytes(data) else {
            return StunReply::NotOurs;
        };
        let trans = msg.transaction_id();
        let Some(pos) = self
            .queries
            .iter()
            .position(|q| q.server == source && q.trans == *trans.as_bytes())
        else {
            return StunReply::NotOurs;
        };
        self.queries.swap_remove(pos);
        match msg.class() {
            MessageClass::SuccessResponse => {
                let mapped = msg
                    .get_attribute::<XorMappedAddress>()
                    .map(XorMappedAddress::address)
                    .or_else(|| {
                        msg.get_attribute::<MappedAddress>()
                            .map(MappedAddress::address)
                    });
                StunReply::Mapped(mapped)
            }
            _ => {
                tracing::debug!(server = %source, "STUN server refused the Binding request");
                StunReply::Mapped(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(request: &[u8], mapped: SocketAddr) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let req = MessageDecoder::<Attribute>::new()
            .decode_from_bytes(request)?
            .map_err(|e| format!("{e:?}"))?;
        assert_eq!(req.class(), MessageClass::Request);
        let mut msg =
            Message::<Attribute>::new(MessageClass::SuccessResponse, BINDING, req.transaction_id());
        msg.add_attribute(XorMappedAddress::new(mapped));
        Ok(MessageEncoder::new().encode_into_bytes(msg)?)
    }

    #[test]
    fn request_reply_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let server: SocketAddr = "127.0.0.1:3478".parse()?;
        let now = Instant::now();
        let mut g = Gatherer::new(&[server], now, Duration::from_secs(3));
        let sent = g.poll_transmit(now);
        assert_eq!(sent.len(), 1);
        let (dest, datagram) = &sent[0];
        assert_eq!(*dest, server);
        let mapped: SocketAddr = "203.0.113.7:40000".parse()?;
        let out = reply(datagram, mapped)?;
        // A reply from another address is not ours; garbage is not ours.
        assert_eq!(
            g.handle_datagram("127.0.0.1:9".parse()?, &out),
            StunReply::NotOurs
        );
        assert_eq!(g.handle_datagram(server, &[1u8; 40]), StunReply::NotOurs);
        assert_eq!(
            g.handle_datagram(server, &out),
            StunReply::Mapped(Some(mapped))
        );
        assert!(g.done());
        Ok(())
    }

    #[test]
    fn retransmits_then_gives_up() {
        let server: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 3478));
        let now = Instant::now();
        let mut g = Gatherer::new(&[server], now, Duration::from_secs(1));
        assert_eq!(g.poll_transmit(now).len(), 1);
        assert!(g.poll_transmit(now + Duration::from_millis(100)).is_empty());
        assert_eq!(g.poll_transmit(now + RETRANSMIT).len(), 1);
        assert!(g.poll_transmit(now + Duration::from_secs(1)).is_empty());
        assert!(g.done());
    }
}
