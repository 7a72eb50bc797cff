//! Identifiers: [`PeerId`], [`ProtocolId`], [`ConnId`], [`HandshakeId`], [`OpId`],
//! [`RequestId`].

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The identity of a peer: its long-term Ed25519 public key (32 bytes).
///
/// Printed as 64 lowercase hex digits; [`PeerId::short`] gives the first
/// 10, enough to tell peers apart in logs. Ordering is bytewise and is what
/// the glare rule uses (the lower id's handshake wins).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId([u8; 32]);

impl PeerId {
    /// Number of bytes of a peer id on the wire.
    pub const LEN: usize = 32;

    /// The id of the peer that owns `key`.
    pub fn from_public_key(key: &VerifyingKey) -> Self {
        PeerId(key.to_bytes())
    }

    /// Wrap raw bytes. Whether they are a valid Ed25519 point is checked only
    /// when a signature is verified ([`PeerId::verifying_key`]).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        PeerId(bytes)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The Ed25519 key this id stands for, or `None` if the bytes are not one.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }

    /// Whether `signature` is this peer's Ed25519 signature of `message`,
    /// by strict verification (RFC 8032 with canonical `S`, no small-order
    /// keys or `R`): `false` for anything else, including ids that are not
    /// keys.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.verifying_key()
            .is_some_and(|k| verify_with(&k, message, signature))
    }

    /// The first 10 hex digits: short, printable, copy-pasteable.
    pub fn short(&self) -> String {
        let mut s = String::with_capacity(10);
        for b in &self.0[..5] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.short())
    }
}

/// A string that is not a valid [`PeerId`] or [`ProtocolId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdParseError {
    /// A peer id is 64 hex digits.
    #[error("a peer id is 64 hex digits (32 bytes), got {0} characters")]
    PeerIdLength(usize),
    /// A peer id holds only hex digits.
    #[error("a peer id holds only hex digits 0-9 a-f")]
    PeerIdDigit,
    /// A protocol id is 1 to 31 bytes of printable ASCII.
    #[error("a protocol id is 1 to {max} bytes of printable ASCII without spaces, got {0:?}", max = ProtocolId::MAX_LEN)]
    ProtocolId(String),
}

impl FromStr for PeerId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(IdParseError::PeerIdLength(s.len()));
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).map_err(|_| IdParseError::PeerIdDigit)?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| IdParseError::PeerIdDigit)?;
        }
        Ok(PeerId(out))
    }
}

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Strict Ed25519 verification with an already decoded key.
pub(crate) fn verify_with(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

/// A node's long-term identity: an Ed25519 signing key and its [`PeerId`].
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A fresh keypair from the operating system's randomness.
    pub fn generate() -> Self {
        Self::from_rng(&mut rand::rngs::OsRng)
    }

    /// A keypair from `rng` (seeded in simulations, so runs replay).
    pub fn from_rng<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        Keypair {
            signing: SigningKey::generate(rng),
        }
    }

    /// A keypair from a 32-byte secret seed.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Keypair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// This node's id.
    pub fn peer_id(&self) -> PeerId {
        PeerId::from_public_key(&self.signing.verifying_key())
    }

    /// Sign `message` with this identity's Ed25519 key (RFC 8032, the
    /// 64-byte signature `R || S`). Anyone can check it against the
    /// [`PeerId`] with [`PeerId::verifying_key`] (use `verify_strict`).
    ///
    /// Every signed message must begin with a domain tag that no other use
    /// of the key shares (as the signaling server's join proof does:
    /// `overlay_signaling::wire::join_proof_message`), so a signature made
    /// for one purpose can never be replayed for another.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.peer_id())
    }
}

/// The name of an overlay protocol ("spray", "gossip/1"...): 1 to 31 bytes
/// of printable ASCII, stored inline so the id is `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolId {
    len: u8,
    bytes: [u8; ProtocolId::MAX_LEN],
}

impl ProtocolId {
    /// Longest protocol name, in bytes.
    pub const MAX_LEN: usize = 31;

    /// A protocol id from its name.
    ///
    /// # Errors
    /// [`IdParseError::ProtocolId`] if `name` is empty, longer than
    /// [`ProtocolId::MAX_LEN`] bytes, or holds a byte that is not printable
    /// ASCII (space excluded).
    pub fn new(name: &str) -> Result<Self, IdParseError> {
        Self::from_wire(name.as_bytes()).ok_or_else(|| IdParseError::ProtocolId(name.to_owned()))
    }

    pub(crate) fn from_wire(raw: &[u8]) -> Option<Self> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.iter().all(|b| b.is_ascii_graphic())
        {
            return None;
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(ProtocolId {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl FromStr for ProtocolId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProtocolId::new(s)
    }
}

impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolId({})", self.as_str())
    }
}

impl Serialize for ProtocolId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProtocolId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProtocolId::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A connection between the engine and its transport. Local to one node:
/// chosen by the engine, never sent on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A handshake (one offer/answer exchange), chosen at random by its
/// initiator and carried by every signal of that handshake.
///
/// In JSON it is a string of 16 lowercase hex digits (`"00000000000012a7"`),
/// because JavaScript numbers cannot hold 64-bit integers exactly; a plain
/// JSON number is accepted too.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct HandshakeId(pub u64);

impl Serialize for HandshakeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:016x}", self.0))
    }
}

impl<'de> Deserialize<'de> for HandshakeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HandshakeId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a handshake id: 1 to 16 hex digits in a string, or an unsigned integer",
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HandshakeId, E> {
                Ok(HandshakeId(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HandshakeId, E> {
                if v.is_empty() || v.len() > 16 {
                    return Err(E::custom("a handshake id is 1 to 16 hex digits"));
                }
                u64::from_str_radix(v, 16)
                    .map(HandshakeId)
                    .map_err(|_| E::custom("a handshake id holds only hex digits"))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for HandshakeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{:016x}", self.0)
    }
}

/// A `CONNECT_TO` request of a bridge (the wire field `req`): a counter
/// the bridge picks and the asked peer echoes in its `CONNECT_DONE`. Not
/// an [`OpId`]: one operation of the bridge's application may send
/// several requests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req{}", self.0)
    }
}

/// An operation started by this node's application (a connect), whose
/// completion is reported by [`crate::Output::Completed`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct OpId(pub u64);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_round_trips_through_text() {
        let id = Keypair::from_secret_bytes([7; 32]).peer_id();
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<PeerId>(), Ok(id));
        assert!(text.starts_with(&id.short()));
        assert_eq!("zz".parse::<PeerId>(), Err(IdParseError::PeerIdLength(2)));
        assert_eq!(
            "g".repeat(64).parse::<PeerId>(),
            Err(IdParseError::PeerIdDigit)
        );
    }

    #[test]
    fn handshake_id_is_a_hex_string_in_json() -> Result<(), serde_json::Error> {
        let h = HandshakeId(0x12a7);
        assert_eq!(serde_json::to_string(&h)?, r#""00000000000012a7""#);
        assert_eq!(
            serde_json::from_str::<HandshakeId>(r#""ffffffffffffffff""#)?,
            HandshakeId(u64::MAX)
        );
        assert_eq!(
            serde_json::from_str::<HandshakeId>("4711")?,
            HandshakeId(4711)
        );
        assert!(serde_json::from_str::<HandshakeId>(r#""xyz""#).is_err());
        assert!(serde_json::from_str::<HandshakeId>(r#""00000000000000001""#).is_err());
        Ok(())
    }

    #[test]
    fn protocol_id_rejects_bad_names() {
        assert_eq!(
            ProtocolId::new("spray").map(|p| p.to_string()),
            Ok("spray".into())
        );
        assert!(ProtocolId::new("").is_err());
        assert!(ProtocolId::new("has space").is_err());
        assert!(ProtocolId::new(&"x".repeat(32)).is_err());
        assert!(ProtocolId::new(&"x".repeat(31)).is_ok());
    }
}
