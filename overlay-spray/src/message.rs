//! Spray's messages on the wire (payloads of the core's protocol messages).
//!
//! One tag byte, then the body:
//! - `1` JOIN: empty. A newcomer tells its contact "bridge me in".
//! - `2` EXCHANGE: empty. The sender starts a shuffle with the receiver;
//!   the arcs themselves move by bridges (the sender bridges the receiver
//!   to its sample, the receiver answers by bridging the sender to its own).
//! - `3` BROADCAST: `u64` id (big endian), then the payload. Flooded once
//!   over every arc, both directions.

use bytes::{BufMut, Bytes, BytesMut};

const JOIN: u8 = 1;
const EXCHANGE: u8 = 2;
const BROADCAST: u8 = 3;

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
            JOIN | EXCHANGE | BROADCAST => Err(DecodeError::Malformed(tag)),
            other => Err(DecodeError::UnknownTag(other)),
        }
    }
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
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Message::decode(&Bytes::from(bytes));
        }
    }
}
