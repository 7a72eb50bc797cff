//! Spray's messages on the wire (payloads of the core's protocol messages).
//!
//! One tag byte, then the body:
//! - `1` JOIN: empty. A newcomer tells its contact "bridge me in".
//! - `2` EXCHANGE: empty. The sender starts a shuffle with the receiver;
//!   the arcs themselves move by bridges (the sender bridges the receiver
//!   to its sample, the receiver answers by bridging the sender to its own).
//! - `3` BROADCAST: `u64` id (big endian), then the payload. Flooded once
//!   over every arc, both directions.
//! - `4` EXCHANGE_REPORT: `u64` id. Like EXCHANGE, and both sides send
//!   HANDED for this id once their own bridges of the exchange ended (sent
//!   by a peer whose [`Duplicates`](crate::Duplicates) is `Swap`).
//! - `5` HANDED: `u64` id, `u16` count n (at most [`MAX_HANDED`]), then n
//!   peer ids (32 bytes each): the arcs the sender handed to the receiver in
//!   exchange `id` whose bridge opened, named by their target as the
//!   receiver sees it (the receiver itself never appears: an arc the sender
//!   held to the receiver becomes receiver → sender, named by the sender).
//! - `6` AGES: `u16` count n (at most [`MAX_HANDED`]), then n times a peer
//!   id (32 bytes) and a `u16` age: the arcs the sender is about to hand
//!   to the receiver in the exchange under way, by target as the receiver
//!   will see them, with their age in the sender's view (sent by a peer
//!   whose [`Ages`](crate::Ages) is `Carry`, before its bridges).

use bytes::{BufMut, Bytes, BytesMut};
use overlay_core::PeerId;

const JOIN: u8 = 1;
const EXCHANGE: u8 = 2;
const BROADCAST: u8 = 3;
const EXCHANGE_REPORT: u8 = 4;
const HANDED: u8 = 5;
const AGES: u8 = 6;

/// Most arcs one HANDED message may name (a sample is half a view; a view
/// of ln N arcs is far below this even at 10^9 peers).
pub const MAX_HANDED: usize = 1024;

/// A Spray message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A newcomer asks its contact to bridge it to the contact's outview.
    Join,
    /// A shuffle starts: answer with a sample of half your view.
    Exchange,
    /// A message flooded over the overlay.
    Broadcast {
        /// Its id (random, chosen by the origin); duplicates are dropped.
        id: u64,
        /// What the application sent.
        payload: Bytes,
    },
    /// A shuffle starts, and each side reports with [`Message::Handed`]
    /// what it handed over, so that both can apply
    /// [`Duplicates::Swap`](crate::Duplicates::Swap).
    ExchangeReport {
        /// Names the exchange (random, chosen by the initiator).
        id: u64,
    },
    /// The arcs the sender handed to the receiver in exchange `id` (their
    /// bridges opened), by target.
    Handed {
        /// The exchange.
        id: u64,
        /// Targets of the arcs the receiver got, one per arc.
        targets: Vec<PeerId>,
    },
    /// The arcs the sender is about to hand to the receiver in the
    /// exchange under way, with their ages ([`Ages::Carry`](crate::Ages::Carry)).
    Ages {
        /// (target as the receiver will see it, age), one per arc.
        entries: Vec<(PeerId, u16)>,
    },
}

/// A payload that is not a Spray message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes at all.
    #[error("empty Spray message")]
    Empty,
    /// A tag this version does not know (a newer peer?).
    #[error("unknown Spray message tag {0}")]
    UnknownTag(u8),
    /// The body does not fit the tag.
    #[error("malformed Spray message (tag {0})")]
    Malformed(u8),
}

impl Message {
    /// The message as bytes.
    pub fn encode(&self) -> Bytes {
        match self {
            Message::Join => Bytes::from_static(&[JOIN]),
            Message::Exchange => Bytes::from_static(&[EXCHANGE]),
            Message::Broadcast { id, payload } => {
                let mut b = BytesMut::with_capacity(9 + payload.len());
                b.put_u8(BROADCAST);
                b.put_u64(*id);
                b.put_slice(payload);
                b.freeze()
            }
            Message::ExchangeReport { id } => {
                let mut b = BytesMut::with_capacity(9);
                b.put_u8(EXCHANGE_REPORT);
                b.put_u64(*id);
                b.freeze()
            }
            Message::Handed { id, targets } => {
                // Callers never name more than MAX_HANDED; cut, never panic.
                let n = targets.len().min(MAX_HANDED);
                let mut b = BytesMut::with_capacity(11 + n * PeerId::LEN);
                b.put_u8(HANDED);
                b.put_u64(*id);
                b.put_u16(n as u16);
                for t in &targets[..n] {
                    b.put_slice(t.as_bytes());
                }
                b.freeze()
            }
            Message::Ages { entries } => {
                // Callers never name more than MAX_HANDED; cut, never panic.
                let n = entries.len().min(MAX_HANDED);
                let mut b = BytesMut::with_capacity(3 + n * (PeerId::LEN + 2));
                b.put_u8(AGES);
                b.put_u16(n as u16);
                for (t, age) in &entries[..n] {
                    b.put_slice(t.as_bytes());
                    b.put_u16(*age);
                }
                b.freeze()
            }
        }
    }

    /// Parse `bytes`.
    ///
    /// # Errors
    /// [`DecodeError`] for anything that is not a Spray message.
    pub fn decode(bytes: &Bytes) -> Result<Self, DecodeError> {
        let (&tag, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
        match tag {
            JOIN if rest.is_empty() => Ok(Message::Join),
            EXCHANGE if rest.is_empty() => Ok(Message::Exchange),
            BROADCAST if rest.len() >= 8 => {
                let mut id = [0u8; 8];
                id.copy_from_slice(&rest[..8]);
                Ok(Message::Broadcast {
                    id: u64::from_be_bytes(id),
                    payload: bytes.slice(9..),
                })
            }
            EXCHANGE_REPORT if rest.len() == 8 => Ok(Message::ExchangeReport { id: be_u64(rest) }),
            HANDED if rest.len() >= 10 => {
                let n = usize::from(u16::from_be_bytes([rest[8], rest[9]]));
                let body = &rest[10..];
                if n > MAX_HANDED || body.len() != n * PeerId::LEN {
                    return Err(DecodeError::Malformed(tag));
                }
                let targets = body
                    .chunks_exact(PeerId::LEN)
                    .map(|c| {
                        let mut id = [0u8; 32];
                        id.copy_from_slice(c);
                        PeerId::from_bytes(id)
                    })
                    .collect();
                Ok(Message::Handed {
                    id: be_u64(rest),
                    targets,
                })
            }
            AGES if rest.len() >= 2 => {
                let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let body = &rest[2..];
                if n > MAX_HANDED || body.len() != n * (PeerId::LEN + 2) {
                    return Err(DecodeError::Malformed(tag));
                }
                let entries = body
                    .chunks_exact(PeerId::LEN + 2)
                    .map(|c| {
                        let mut id = [0u8; 32];
                        id.copy_from_slice(&c[..PeerId::LEN]);
                        let age = u16::from_be_bytes([c[PeerId::LEN], c[PeerId::LEN + 1]]);
                        (PeerId::from_bytes(id), age)
                    })
                    .collect();
                Ok(Message::Ages { entries })
            }
            JOIN | EXCHANGE | BROADCAST | EXCHANGE_REPORT | HANDED | AGES => {
                Err(DecodeError::Malformed(tag))
            }
            other => Err(DecodeError::UnknownTag(other)),
        }
    }
}

/// The first 8 bytes of `b` (at least 8 long) as a big-endian `u64`.
fn be_u64(b: &[u8]) -> u64 {
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[..8]);
    u64::from_be_bytes(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        for m in [
            Message::Join,
            Message::Exchange,
            Message::Broadcast {
                id: 7,
                payload: Bytes::from_static(b"hello"),
            },
            Message::ExchangeReport { id: u64::MAX },
            Message::Handed {
                id: 3,
                targets: vec![],
            },
            Message::Handed {
                id: 4,
                targets: vec![PeerId::from_bytes([7; 32]), PeerId::from_bytes([9; 32])],
            },
            Message::Ages { entries: vec![] },
            Message::Ages {
                entries: vec![
                    (PeerId::from_bytes([7; 32]), 0),
                    (PeerId::from_bytes([9; 32]), u16::MAX),
                ],
            },
        ] {
            assert_eq!(Message::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn bad_input_is_typed() {
        assert_eq!(Message::decode(&Bytes::new()), Err(DecodeError::Empty));
        assert_eq!(
            Message::decode(&Bytes::from_static(&[9])),
            Err(DecodeError::UnknownTag(9))
        );
        assert_eq!(
            Message::decode(&Bytes::from_static(&[1, 0])),
            Err(DecodeError::Malformed(1))
        );
        assert_eq!(
            Message::decode(&Bytes::from_static(&[3, 0, 0])),
            Err(DecodeError::Malformed(3))
        );
        assert_eq!(
            Message::decode(&Bytes::from_static(&[4, 0, 0])),
            Err(DecodeError::Malformed(4))
        );
        // HANDED: the count must match the body, and stay under the cap.
        let mut short = vec![5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2];
        short.extend_from_slice(&[1; 32]);
        assert_eq!(
            Message::decode(&Bytes::from(short)),
            Err(DecodeError::Malformed(5))
        );
        let over = (MAX_HANDED as u16 + 1).to_be_bytes();
        let mut big = vec![5, 0, 0, 0, 0, 0, 0, 0, 1, over[0], over[1]];
        big.extend(std::iter::repeat_n(1u8, (MAX_HANDED + 1) * 32));
        assert_eq!(
            Message::decode(&Bytes::from(big)),
            Err(DecodeError::Malformed(5))
        );
        // AGES: the same rules, 34 bytes per entry.
        let mut cut = vec![6, 0, 1];
        cut.extend_from_slice(&[1; 33]);
        assert_eq!(
            Message::decode(&Bytes::from(cut)),
            Err(DecodeError::Malformed(6))
        );
        assert_eq!(
            Message::decode(&Bytes::from_static(&[6, 0])),
            Err(DecodeError::Malformed(6))
        );
        let mut big = vec![6, over[0], over[1]];
        big.extend(std::iter::repeat_n(1u8, (MAX_HANDED + 1) * 34));
        assert_eq!(
            Message::decode(&Bytes::from(big)),
            Err(DecodeError::Malformed(6))
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Message::decode(&Bytes::from(bytes));
        }
    }
}
