//! The wire protocol: versioned JSON frames over WebSocket text messages.
//!
//! Every frame is one JSON object with `"v": 2` and a `"type"`. A client may
//! put an `"id"` (an integer) in any request; the server copies it into the
//! reply or error for that request. `docs/SIGNALING.md` describes every
//! frame, every error code, the bytes a `join` signs, and a full exchange.

use std::fmt;

use overlay_core::{Keypair, PeerId, SignalEnvelope};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The protocol version this crate speaks. Version 2 added the signed join
/// (the `challenge` frame and the join's `signature`).
pub const VERSION: u32 = 2;

/// The domain tag that starts every join proof (29 ASCII bytes, no
/// terminator): a join signature can never be taken for a signature of
/// anything else made with the same key.
pub const JOIN_PROOF_TAG: &[u8; 29] = b"n2n-overlay signaling join v2";

/// The bytes a client signs to join: [`JOIN_PROOF_TAG`] (29 bytes), the
/// server's nonce (32 bytes), the peer id (32 bytes), the room name's
/// length in bytes (1 byte, 1 to 64) and the room name (UTF-8).
#[must_use]
pub fn join_proof_message(nonce: &Nonce, room: &str, peer: &PeerId) -> Vec<u8> {
    let room = room.as_bytes();
    let mut out = Vec::with_capacity(JOIN_PROOF_TAG.len() + 32 + 32 + 1 + room.len());
    out.extend_from_slice(JOIN_PROOF_TAG);
    out.extend_from_slice(&nonce.0);
    out.extend_from_slice(peer.as_bytes());
    // Room names are at most MAX_ROOM_LEN (64) bytes: the length fits a byte.
    out.push(u8::try_from(room.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(room);
    out
}

/// Sign a join of `room` with `keypair`, for the server's `nonce`.
#[must_use]
pub fn sign_join(keypair: &Keypair, nonce: &Nonce, room: &str) -> JoinSignature {
    JoinSignature(keypair.sign(&join_proof_message(nonce, room, &keypair.peer_id())))
}

/// Whether `signature` proves that the owner of `peer`'s key asked to join
/// `room` on the connection that got `nonce` (strict Ed25519 verification:
/// small-order keys and non-canonical signatures are refused).
#[must_use = "a join whose signature is not checked proves nothing"]
pub fn verify_join(nonce: &Nonce, room: &str, peer: &PeerId, signature: &JoinSignature) -> bool {
    let Some(key) = peer.verifying_key() else {
        return false;
    };
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(&join_proof_message(nonce, room, peer), &signature)
        .is_ok()
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn from_hex<const N: usize>(s: &str) -> Result<[u8; N], String> {
    if s.len() != 2 * N {
        return Err(format!("expected {} hex digits, got {}", 2 * N, s.len()));
    }
    let mut out = [0u8; N];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let digits = std::str::from_utf8(chunk).map_err(|_| "not hex".to_owned())?;
        out[i] = u8::from_str_radix(digits, 16).map_err(|_| "not hex".to_owned())?;
    }
    Ok(out)
}

/// The server's join challenge: 32 random bytes, 64 lowercase hex digits
/// on the wire. One per connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nonce(pub [u8; 32]);

impl Nonce {
    /// A fresh nonce from the operating system's randomness.
    #[must_use]
    pub fn random() -> Self {
        Nonce(rand::random())
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", to_hex(&self.0))
    }
}

/// An Ed25519 signature over [`join_proof_message`]: 64 bytes, 128
/// lowercase hex digits on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JoinSignature(pub [u8; 64]);

impl fmt::Debug for JoinSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinSignature({})", to_hex(&self.0))
    }
}

macro_rules! hex_serde {
    ($ty:ident, $n:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&to_hex(&self.0))
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                from_hex::<$n>(&s)
                    .map($ty)
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_serde!(Nonce, 32);
hex_serde!(JoinSignature, 64);

/// Longest room name, in bytes.
pub const MAX_ROOM_LEN: usize = 64;

/// A request from a client, without its `v` and `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
// A signed signal envelope (~300 bytes) is most of the messages relayed:
// boxing it would cost an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
pub enum ClientMessage {
    /// Enter `room` as `peer`, proving it owns `peer`'s key. The first
    /// request on a connection (after the server's `challenge`); once it
    /// succeeded, never again.
    Join {
        /// The room name (1 to [`MAX_ROOM_LEN`] bytes, no control characters).
        room: String,
        /// The peer id this connection registers (64 hex digits).
        peer: PeerId,
        /// `peer`'s signature over [`join_proof_message`] for this
        /// connection's nonce.
        signature: JoinSignature,
        /// Whether other members may ask for this one by name
        /// (`requestContact` with `peer`). Default false: only the server's
        /// random pick introduces anyone to it.
        #[serde(
            default,
            rename = "allowNamed",
            skip_serializing_if = "std::ops::Not::not"
        )]
        allow_named: bool,
    },
    /// Ask for a contact in our room: a random member, or `peer` if named.
    RequestContact {
        /// A member we want as contact; `None` for a random one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerId>,
    },
    /// Relay a handshake signal to `to`, a member of our room.
    Signal {
        /// The member to deliver the envelope to.
        to: PeerId,
        /// The signal; its `from` must be our own peer id.
        envelope: SignalEnvelope,
    },
}

impl ClientMessage {
    /// The frame's `type` string.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::RequestContact { .. } => "requestContact",
            ClientMessage::Signal { .. } => "signal",
        }
    }
}

/// The `type` strings a client may send.
pub const CLIENT_TYPES: [&str; 3] = ["join", "requestContact", "signal"];

/// A client frame as sent on the wire: `v`, optional `id`, the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Protocol version, [`VERSION`].
    pub v: u32,
    /// Request id, copied into the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The request.
    #[serde(flatten)]
    pub msg: ClientMessage,
}

/// A message from the server, without its `v` and `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
// A signed signal envelope (~300 bytes) is most of the messages relayed:
// boxing it would cost an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
pub enum ServerMessage {
    /// The first frame on every connection: the nonce the `join` signs.
    Challenge {
        /// Fresh random bytes, for this connection only.
        nonce: Nonce,
    },
    /// The join succeeded.
    Joined {
        /// The room joined.
        room: String,
        /// Our registered peer id.
        peer: PeerId,
        /// How many other members the room had when we joined (0: we are
        /// the first, we wait for newcomers).
        members: usize,
    },
    /// The contact we asked for.
    Contact {
        /// The member to start the handshake with.
        peer: PeerId,
    },
    /// We asked for a random contact and are the only member of the room.
    Alone,
    /// A signal relayed to us. `envelope.from` is the sender, checked by the
    /// server.
    Signal {
        /// The relayed signal.
        envelope: SignalEnvelope,
    },
    /// A request failed, or the server is about to close the connection.
    Error {
        /// What went wrong, machine-readable.
        code: ErrorCode,
        /// What went wrong and what to do, for a person.
        message: String,
    },
}

/// A server frame as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFrame {
    /// Protocol version, [`VERSION`].
    pub v: u32,
    /// The id of the request this answers, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The message.
    #[serde(flatten)]
    pub msg: ServerMessage,
}

impl ServerFrame {
    /// A frame of the current version.
    #[must_use]
    pub fn new(id: Option<u64>, msg: ServerMessage) -> Self {
        ServerFrame {
            v: VERSION,
            id,
            msg,
        }
    }

    /// An error frame.
    #[must_use]
    pub fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::new(
            id,
            ServerMessage::Error {
                code,
                message: message.into(),
            },
        )
    }

    /// The frame as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        // A ServerFrame holds only strings, integers and ids, which always
        // serialize; the fallback is never taken.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"v":2,"type":"error","code":"internal","message":"serialization failed"}"#
                .to_owned()
        })
    }
}

/// Machine-readable error codes (`"code"` of an `error` frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text is not JSON, or not a JSON object.
    BadJson,
    /// `"v"` is missing or not a version the server speaks.
    BadVersion,
    /// `"type"` names no known request.
    UnknownType,
    /// A known request with missing or invalid fields.
    BadMessage,
    /// A binary WebSocket message; the protocol uses text messages only.
    BinaryFrame,
    /// The message is longer than the server's size limit; it was dropped.
    TooLarge,
    /// Too many messages per second; this one was dropped.
    RateLimited,
    /// `requestContact` or `signal` before a successful `join`.
    NotJoined,
    /// A second `join` on the same connection.
    AlreadyJoined,
    /// Another connection already registered this peer id in the room
    /// (version 1 only: since version 2 a proven join replaces it).
    DuplicatePeer,
    /// The join's signature does not prove ownership of the peer id for
    /// this connection's nonce and room.
    BadSignature,
    /// A newer proven session of the same peer joined the room; this
    /// connection closes (close code 4001).
    Replaced,
    /// The member a signal is for has too many messages queued (others
    /// flood it, or it reads slowly); the signal was dropped, the member
    /// stays.
    PeerBusy,
    /// A limit per client address (connections, rooms, members in one
    /// room) was reached.
    AddressLimit,
    /// The room has the maximum number of members.
    RoomFull,
    /// The server has the maximum number of rooms; a new room cannot open.
    TooManyRooms,
    /// The server has the maximum number of connections.
    ServerFull,
    /// The named peer is not (or no longer) a member of the room.
    UnknownPeer,
    /// A signal to a member that was not introduced to us (neither one got
    /// the other as contact).
    NotIntroduced,
    /// The envelope's `from` is not our registered peer id.
    BadSender,
    /// No `join` arrived in time after connecting; the connection closes.
    JoinTimeout,
    /// The server is shutting down; the connection closes.
    ShuttingDown,
    /// A server fault (never expected).
    Internal,
    /// A code this version of the crate does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadVersion => "bad_version",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::DuplicatePeer => "duplicate_peer",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::Replaced => "replaced",
            ErrorCode::PeerBusy => "peer_busy",
            ErrorCode::AddressLimit => "address_limit",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::ServerFull => "server_full",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::NotIntroduced => "not_introduced",
            ErrorCode::BadSender => "bad_sender",
            ErrorCode::JoinTimeout => "join_timeout",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a client frame was rejected: the error reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The request id, when it could be read.
    pub id: Option<u64>,
    /// The error code.
    pub code: ErrorCode,
    /// A message for a person.
    pub message: String,
}

impl Rejection {
    fn new(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            id,
            code,
            message: message.into(),
        }
    }

    /// The error frame to send back.
    #[must_use]
    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::error(self.id, self.code, self.message)
    }
}

/// Read a client frame, telling apart bad JSON, a wrong version, an unknown
/// type and bad fields, so each gets its own error code.
///
/// # Errors
/// A [`Rejection`] carrying the error reply for the client.
pub fn parse_client_frame(text: &str) -> Result<(Option<u64>, ClientMessage), Rejection> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Rejection::new(
            None,
            ErrorCode::BadJson,
            format!("the message is not valid JSON: {e}"),
        )
    })?;
    let serde_json::Value::Object(map) = &value else {
        return Err(Rejection::new(
            None,
            ErrorCode::BadJson,
            "the message must be a JSON object",
        ));
    };
    let id = match map.get("id") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(id) => Some(id),
            None => {
                return Err(Rejection::new(
                    None,
                    ErrorCode::BadMessage,
                    "\"id\" must be a non-negative integer",
                ));
            }
        },
    };
    match map.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(1) => {
            return Err(Rejection::new(
                id,
                ErrorCode::BadVersion,
                format!(
                    "protocol version 1 is no longer supported: this server speaks \"v\": {VERSION} (signed joins); update the client"
                ),
            ));
        }
        Some(v) => {
            return Err(Rejection::new(
                id,
                ErrorCode::BadVersion,
                format!(
                    "protocol version {v} is not supported; this server speaks \"v\": {VERSION}"
                ),
            ));
        }
        None => {
            return Err(Rejection::new(
                id,
                ErrorCode::BadVersion,
                format!(
                    "missing \"v\": every message carries the protocol version, \"v\": {VERSION}"
                ),
            ));
        }
    }
    let kind = match map.get("type") {
        Some(serde_json::Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(Rejection::new(
                id,
                ErrorCode::BadMessage,
                "\"type\" must be a string",
            ))
        }
        None => {
            return Err(Rejection::new(
                id,
                ErrorCode::BadMessage,
                "missing \"type\"",
            ))
        }
    };
    if !CLIENT_TYPES.contains(&kind) {
        return Err(Rejection::new(
            id,
            ErrorCode::UnknownType,
            format!(
                "unknown message type {kind:?}; known types: {}",
                CLIENT_TYPES.join(", ")
            ),
        ));
    }
    let msg = ClientMessage::deserialize(&value).map_err(|e| {
        Rejection::new(
            id,
            ErrorCode::BadMessage,
            format!("invalid {kind:?} message: {e}"),
        )
    })?;
    if let ClientMessage::Join { room, .. } = &msg {
        check_room_name(room).map_err(|m| Rejection::new(id, ErrorCode::BadMessage, m))?;
    }
    Ok((id, msg))
}

/// Check a room name: 1 to [`MAX_ROOM_LEN`] bytes, no control characters.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_room_name(room: &str) -> Result<(), String> {
    if room.is_empty() || room.len() > MAX_ROOM_LEN {
        return Err(format!(
            "a room name is 1 to {MAX_ROOM_LEN} bytes, got {}",
            room.len()
        ));
    }
    if room.chars().any(char::is_control) {
        return Err("a room name holds no control characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_core::{HandshakeId, Keypair, ProtocolId, Signal};

    fn peer(n: u8) -> PeerId {
        Keypair::from_secret_bytes([n; 32]).peer_id()
    }

    #[test]
    fn client_frames_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let envelope = SignalEnvelope {
            handshake: HandshakeId(7),
            from: peer(1),
            to: None,
            protocol: ProtocolId::new("spray")?,
            seq: 0,
            // The server relays envelopes without checking signatures.
            signature: overlay_core::SignatureBytes([0; 64]),
            signal: Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
            more: Vec::new(),
        };
        for msg in [
            ClientMessage::Join {
                room: "lobby".into(),
                peer: peer(1),
                signature: JoinSignature([7; 64]),
                allow_named: false,
            },
            ClientMessage::Join {
                room: "lobby".into(),
                peer: peer(1),
                signature: JoinSignature([7; 64]),
                allow_named: true,
            },
            ClientMessage::RequestContact { peer: None },
            ClientMessage::RequestContact {
                peer: Some(peer(2)),
            },
            ClientMessage::Signal {
                to: peer(2),
                envelope,
            },
        ] {
            let text = serde_json::to_string(&ClientFrame {
                v: VERSION,
                id: Some(3),
                msg: msg.clone(),
            })?;
            assert!(text.starts_with(r#"{"v":2,"id":3,"type":""#), "{text}");
            assert_eq!(parse_client_frame(&text), Ok((Some(3), msg)));
        }
        Ok(())
    }

    #[test]
    fn server_frames_round_trip() -> Result<(), serde_json::Error> {
        let frame = ServerFrame::error(Some(4), ErrorCode::RoomFull, "full");
        let text = frame.to_json();
        assert_eq!(
            text,
            r#"{"v":2,"id":4,"type":"error","code":"room_full","message":"full"}"#
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&text)?, frame);
        let alone = ServerFrame::new(None, ServerMessage::Alone);
        assert_eq!(alone.to_json(), r#"{"v":2,"type":"alone"}"#);
        let newer: ServerFrame =
            serde_json::from_str(r#"{"v":2,"type":"error","code":"brand_new","message":"x"}"#)?;
        assert_eq!(
            newer.msg,
            ServerMessage::Error {
                code: ErrorCode::Unknown,
                message: "x".into()
            }
        );
        Ok(())
    }

    #[test]
    fn each_fault_has_its_code() {
        let code = |text: &str| parse_client_frame(text).map_err(|r| (r.id, r.code));
        assert_eq!(code("{nope"), Err((None, ErrorCode::BadJson)));
        assert_eq!(code("[1,2]"), Err((None, ErrorCode::BadJson)));
        assert_eq!(
            code(r#"{"type":"join","id":5}"#),
            Err((Some(5), ErrorCode::BadVersion))
        );
        assert_eq!(
            code(r#"{"v":3,"type":"join"}"#),
            Err((None, ErrorCode::BadVersion))
        );
        assert_eq!(
            code(r#"{"v":2,"type":"dance","id":6}"#),
            Err((Some(6), ErrorCode::UnknownType))
        );
        assert_eq!(
            code(r#"{"v":2,"type":"join","room":"r","peer":"xyz"}"#),
            Err((None, ErrorCode::BadMessage))
        );
        assert_eq!(
            code(r#"{"v":2,"type":"join","room":"","peer":"00"}"#),
            Err((None, ErrorCode::BadMessage))
        );
        let long_room = format!(
            r#"{{"v":2,"type":"join","room":"{}","peer":"{}"}}"#,
            "r".repeat(65),
            peer(1)
        );
        assert_eq!(code(&long_room), Err((None, ErrorCode::BadMessage)));
        assert_eq!(
            code(r#"{"v":2,"type":"requestContact","id":-1}"#),
            Err((None, ErrorCode::BadMessage))
        );
        // A join without its signature, or with a short one.
        let unsigned = format!(r#"{{"v":2,"type":"join","room":"r","peer":"{}"}}"#, peer(1));
        assert_eq!(code(&unsigned), Err((None, ErrorCode::BadMessage)));
        let short = format!(
            r#"{{"v":2,"type":"join","room":"r","peer":"{}","signature":"abcd"}}"#,
            peer(1)
        );
        assert_eq!(code(&short), Err((None, ErrorCode::BadMessage)));
        // A version-1 client is told to update.
        match parse_client_frame(r#"{"v":1,"type":"join","id":1}"#) {
            Err(r) => {
                assert_eq!(r.code, ErrorCode::BadVersion);
                assert!(r.message.contains("update the client"), "{}", r.message);
            }
            other => panic!("a v1 frame was accepted: {other:?}"),
        }
    }

    /// The test vector of docs/SIGNALING.md: a browser implementation
    /// checks its bytes and signature against it.
    #[test]
    fn join_proof_test_vector() {
        let keypair = Keypair::from_secret_bytes([1; 32]);
        let nonce = Nonce([2; 32]);
        let message = join_proof_message(&nonce, "lobby", &keypair.peer_id());
        assert_eq!(message.len(), 29 + 32 + 32 + 1 + 5);
        assert_eq!(&message[..29], b"n2n-overlay signaling join v2");
        assert_eq!(message[93], 5);
        let signature = sign_join(&keypair, &nonce, "lobby");
        assert_eq!(
            keypair.peer_id().to_string(),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        assert_eq!(to_hex(&signature.0), JOIN_VECTOR_SIGNATURE);
        assert!(verify_join(&nonce, "lobby", &keypair.peer_id(), &signature));
        // Any other nonce, room or peer does not verify.
        assert!(!verify_join(
            &Nonce([3; 32]),
            "lobby",
            &keypair.peer_id(),
            &signature
        ));
        assert!(!verify_join(
            &nonce,
            "lobbz",
            &keypair.peer_id(),
            &signature
        ));
        assert!(!verify_join(&nonce, "lobby", &peer(9), &signature));
        // A peer id that is no Ed25519 key (or a small-order one) never verifies.
        assert!(!verify_join(
            &nonce,
            "lobby",
            &PeerId::from_bytes([0; 32]),
            &JoinSignature([0; 64])
        ));
        let mut identity = [0u8; 32];
        identity[0] = 1; // the identity point: small order, refused by verify_strict
        assert!(!verify_join(
            &nonce,
            "lobby",
            &PeerId::from_bytes(identity),
            &JoinSignature([0; 64])
        ));
    }

    const JOIN_VECTOR_SIGNATURE: &str = "7a982add71dd74f8e17e9b6e89a8e3558ff851ac793c39a6ed5cefa10974122d6f5167bde8e8d6c7a2a26b6c37e51ff446050510ddc0353576124096b703fe0a";
}
