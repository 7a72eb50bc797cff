//! The wire protocol: versioned JSON frames over WebSocket text messages.
//!
//! Every frame is one JSON object with `"v": 1` and a `"type"`. A client may
//! put an `"id"` (an integer) in any request; the server copies it into the
//! reply or error for that request. `docs/SIGNALING.md` describes every
//! frame, every error code and a full exchange.

use std::fmt;

use overlay_core::{PeerId, SignalEnvelope};
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const VERSION: u32 = 1;

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
    /// Enter `room` as `peer`. First request on a connection, exactly once.
    Join {
        /// The room name (1 to [`MAX_ROOM_LEN`] bytes, no control characters).
        room: String,
        /// The peer id this connection registers (64 hex digits).
        peer: PeerId,
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
    pub fn new(id: Option<u64>, msg: ServerMessage) -> Self {
        ServerFrame {
            v: VERSION,
            id,
            msg,
        }
    }

    /// An error frame.
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
    pub fn to_json(&self) -> String {
        // A ServerFrame holds only strings, integers and ids, which always
        // serialize; the fallback is never taken.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"v":1,"type":"error","code":"internal","message":"serialization failed"}"#
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
    /// Another connection already registered this peer id in the room.
    DuplicatePeer,
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
        };
        for msg in [
            ClientMessage::Join {
                room: "lobby".into(),
                peer: peer(1),
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
            assert!(text.starts_with(r#"{"v":1,"id":3,"type":""#), "{text}");
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
            r#"{"v":1,"id":4,"type":"error","code":"room_full","message":"full"}"#
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&text)?, frame);
        let alone = ServerFrame::new(None, ServerMessage::Alone);
        assert_eq!(alone.to_json(), r#"{"v":1,"type":"alone"}"#);
        let newer: ServerFrame =
            serde_json::from_str(r#"{"v":1,"type":"error","code":"brand_new","message":"x"}"#)?;
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
            code(r#"{"v":2,"type":"join"}"#),
            Err((None, ErrorCode::BadVersion))
        );
        assert_eq!(
            code(r#"{"v":1,"type":"dance","id":6}"#),
            Err((Some(6), ErrorCode::UnknownType))
        );
        assert_eq!(
            code(r#"{"v":1,"type":"join","room":"r","peer":"xyz"}"#),
            Err((None, ErrorCode::BadMessage))
        );
        assert_eq!(
            code(r#"{"v":1,"type":"join","room":"","peer":"00"}"#),
            Err((None, ErrorCode::BadMessage))
        );
        let long_room = format!(
            r#"{{"v":1,"type":"join","room":"{}","peer":"{}"}}"#,
            "r".repeat(65),
            peer(1)
        );
        assert_eq!(code(&long_room), Err((None, ErrorCode::BadMessage)));
        assert_eq!(
            code(r#"{"v":1,"type":"requestContact","id":-1}"#),
            Err((None, ErrorCode::BadMessage))
        );
    }
}
