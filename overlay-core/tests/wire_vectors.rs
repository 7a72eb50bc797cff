//! Shared test vectors of the wire format (`docs/vectors/wire-v1.json`).
//!
//! The Rust codec produces them; the TypeScript client (`clients/web`)
//! checks the same file, so both implementations read and write the same
//! bytes. This test rebuilds the vectors from the Rust codec and fails if
//! the committed file differs (run with `N2N_UPDATE_VECTORS=1` to rewrite
//! it after a deliberate wire change), decodes every frame back, and checks
//! every malformed example is refused with the stated error.

use std::path::PathBuf;

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use overlay_core::event::BridgeFailure;
use overlay_core::wire::{hello_transcript, DecodeError, Frame};
use overlay_core::{HandshakeId, PeerId, ProtocolId, Signal};
use serde_json::{json, Value};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

fn proto(s: &str) -> ProtocolId {
    ProtocolId::new(s).expect("valid protocol id in the vectors")
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn peer(seed: u8) -> PeerId {
    PeerId::from_public_key(&key(seed).verifying_key())
}

fn failure_name(f: BridgeFailure) -> &'static str {
    match f {
        BridgeFailure::NotNeighbour => "notNeighbour",
        BridgeFailure::SelfConnection => "selfConnection",
        BridgeFailure::Timeout => "timeout",
        BridgeFailure::ConnectionLost => "connectionLost",
        BridgeFailure::Transport => "transport",
        BridgeFailure::Busy => "busy",
        _ => "other",
    }
}

fn signal_json(s: &Signal) -> Value {
    serde_json::to_value(s).expect("a signal serializes")
}

/// The expected decoding, in the shape the TypeScript client returns
/// (64-bit ids and byte strings as lowercase hex).
fn expected(f: &Frame) -> Value {
    match f {
        Frame::Hello {
            handshake,
            peer,
            signature,
            arcs,
        } => json!({"type": "hello", "handshake": format!("{:016x}", handshake.0),
            "peer": peer.to_string(), "signature": hex(signature),
            "arcs": arcs.iter().map(|(p, n)| json!([p.as_str(), n])).collect::<Vec<_>>()}),
        Frame::Data { protocol, payload } => {
            json!({"type": "data", "protocol": protocol.as_str(), "payload": hex(payload)})
        }
        Frame::DataStart {
            protocol,
            total_len,
            chunk,
        } => json!({"type": "dataStart", "protocol": protocol.as_str(), "totalLen": total_len,
            "chunk": hex(chunk)}),
        Frame::DataCont { chunk } => json!({"type": "dataCont", "chunk": hex(chunk)}),
        Frame::ArcAdd { protocol, count } => {
            json!({"type": "arcAdd", "protocol": protocol.as_str(), "count": count})
        }
        Frame::ArcRemove { protocol, count } => {
            json!({"type": "arcRemove", "protocol": protocol.as_str(), "count": count})
        }
        Frame::ConnectTo {
            op,
            protocol,
            to,
            count,
        } => json!({"type": "connectTo", "op": format!("{op:016x}"), "protocol": protocol.as_str(),
            "to": to.to_string(), "count": count}),
        Frame::ConnectDone { op, failure } => json!({"type": "connectDone",
            "op": format!("{op:016x}"), "failure": failure.map(failure_name)}),
        Frame::Forward {
            handshake,
            to,
            signal,
        } => json!({"type": "forward", "handshake": format!("{:016x}", handshake.0),
            "to": to.to_string(), "signal": signal_json(signal)}),
        Frame::Forwarded {
            handshake,
            origin,
            signal,
        } => json!({"type": "forwarded", "handshake": format!("{:016x}", handshake.0),
            "origin": origin.to_string(), "signal": signal_json(signal)}),
        Frame::ForwardFailed { handshake, reason } => json!({"type": "forwardFailed",
            "handshake": format!("{:016x}", handshake.0), "reason": failure_name(*reason)}),
        _ => panic!("a frame type the vectors do not know: add it"),
    }
}

fn error_name(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::TooLarge { .. } => "tooLarge",
        DecodeError::Truncated => "truncated",
        DecodeError::Version(_) => "version",
        DecodeError::UnknownType(_) => "unknownType",
        DecodeError::BadProtocol => "badProtocol",
        DecodeError::BadSignal => "badSignal",
        DecodeError::Trailing => "trailing",
        _ => "other",
    }
}

fn frames() -> Vec<(&'static str, Frame)> {
    let (a, b) = (peer(1), peer(2));
    let offer = Signal::Offer {
        sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n".into(),
    };
    let answer = Signal::Answer {
        sdp: "v=0\r\n".into(),
    };
    let cand = Signal::candidate("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host");
    let bare = Signal::Candidate {
        candidate: "candidate:2 1 udp 1 127.0.0.1 9 typ host".into(),
        sdp_mid: None,
        sdp_m_line_index: None,
    };
    vec![
        (
            "data",
            Frame::Data {
                protocol: proto("n2n-chat"),
                payload: Bytes::from_static(b"hello \xe2\x9c\x93"),
            },
        ),
        (
            "data-empty",
            Frame::Data {
                protocol: proto("p"),
                payload: Bytes::new(),
            },
        ),
        (
            "data-start",
            Frame::DataStart {
                protocol: proto("spray"),
                total_len: 70_000,
                chunk: Bytes::from_static(&[0, 1, 2, 255]),
            },
        ),
        (
            "data-cont",
            Frame::DataCont {
                chunk: Bytes::from_static(&[9, 8, 7]),
            },
        ),
        (
            "arc-add",
            Frame::ArcAdd {
                protocol: proto("spray"),
                count: 3,
            },
        ),
        (
            "arc-remove-max",
            Frame::ArcRemove {
                protocol: proto("~!x"),
                count: u32::MAX,
            },
        ),
        (
            "connect-to",
            Frame::ConnectTo {
                op: 0x0123_4567_89ab_cdef,
                protocol: proto("n2n-chat"),
                to: b,
                count: 2,
            },
        ),
        (
            "connect-done-ok",
            Frame::ConnectDone {
                op: u64::MAX,
                failure: None,
            },
        ),
        (
            "connect-done-busy",
            Frame::ConnectDone {
                op: 7,
                failure: Some(BridgeFailure::Busy),
            },
        ),
        (
            "forward-offer",
            Frame::Forward {
                handshake: HandshakeId(0xfedc_ba98_7654_3210),
                to: b,
                signal: offer,
            },
        ),
        (
            "forwarded-answer",
            Frame::Forwarded {
                handshake: HandshakeId(1),
                origin: a,
                signal: answer,
            },
        ),
        (
            "forward-candidate",
            Frame::Forward {
                handshake: HandshakeId(2),
                to: a,
                signal: cand,
            },
        ),
        (
            "forwarded-candidate-bare",
            Frame::Forwarded {
                handshake: HandshakeId(3),
                origin: b,
                signal: bare,
            },
        ),
        (
            "forwarded-end",
            Frame::Forwarded {
                handshake: HandshakeId(4),
                origin: b,
                signal: Signal::EndOfCandidates,
            },
        ),
        (
            "forward-failed",
            Frame::ForwardFailed {
                handshake: HandshakeId(5),
                reason: BridgeFailure::NotNeighbour,
            },
        ),
        (
            "forward-failed-other",
            Frame::ForwardFailed {
                handshake: HandshakeId(6),
                reason: BridgeFailure::Other,
            },
        ),
    ]
}

/// A signed HELLO case: name, sender seed, receiver seed, handshake, arcs.
type HelloCase = (&'static str, u8, u8, u64, Vec<(ProtocolId, u32)>);

/// Signed HELLOs.
fn hellos() -> Vec<HelloCase> {
    vec![
        ("hello-no-arcs", 1, 2, 0x1267, vec![]),
        (
            "hello-two-protocols",
            2,
            1,
            0xffff_ffff_ffff_fff0,
            vec![(proto("n2n-chat"), 1), (proto("spray"), 4)],
        ),
        ("hello-seed-7", 7, 9, 42, vec![(proto("p"), 1)]),
    ]
}

fn malformed() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut too_large = vec![1, 2, 1, b'p'];
    too_large.resize(65_537, 0);
    let mut forward_bad_json = vec![1, 9];
    forward_bad_json.extend_from_slice(&[0; 8]);
    forward_bad_json.extend_from_slice(peer(2).as_bytes());
    forward_bad_json.extend_from_slice(b"{\"type\":\"offer\"}");
    let mut forward_not_utf8 = vec![1, 10];
    forward_not_utf8.extend_from_slice(&[0; 40]);
    forward_not_utf8.extend_from_slice(&[0xff, 0xfe]);
    vec![
        ("empty", vec![], "truncated"),
        ("version-only", vec![1], "truncated"),
        ("version-2", vec![2, 2, 1, b'p'], "version"),
        ("type-0", vec![1, 0], "unknownType"),
        ("type-12", vec![1, 12, 0], "unknownType"),
        ("protocol-empty", vec![1, 2, 0], "badProtocol"),
        ("protocol-space", vec![1, 2, 1, b' '], "badProtocol"),
        (
            "protocol-32",
            [vec![1, 2, 32], vec![b'a'; 32]].concat(),
            "badProtocol",
        ),
        ("protocol-cut", vec![1, 2, 5, b'a'], "truncated"),
        (
            "arc-add-trailing",
            vec![1, 5, 1, b'p', 0, 0, 0, 1, 0],
            "trailing",
        ),
        ("arc-add-short", vec![1, 5, 1, b'p', 0, 0, 1], "truncated"),
        (
            "connect-done-trailing",
            vec![1, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
            "trailing",
        ),
        (
            "hello-truncated",
            vec![1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 7],
            "truncated",
        ),
        ("forward-bad-signal", forward_bad_json, "badSignal"),
        ("forwarded-not-utf8", forward_not_utf8, "badSignal"),
        ("too-large", too_large, "tooLarge"),
    ]
}

fn build() -> Value {
    let mut out_frames = Vec::new();
    for (name, f) in frames() {
        let bytes = f.encode();
        let back = Frame::decode(&bytes, 65_536).expect("our own frames decode");
        assert_eq!(back, f, "{name}: decode(encode(f)) == f");
        out_frames.push(json!({"name": name, "hex": hex(&bytes), "frame": expected(&f)}));
    }
    let mut out_hellos = Vec::new();
    for (name, s, r, h, arcs) in hellos() {
        let (sender, receiver) = (peer(s), peer(r));
        let transcript = hello_transcript(HandshakeId(h), &sender, &receiver);
        let signature = key(s).sign(&transcript).to_bytes();
        let f = Frame::Hello {
            handshake: HandshakeId(h),
            peer: sender,
            signature,
            arcs,
        };
        let bytes = f.encode();
        assert_eq!(Frame::decode(&bytes, 65_536).as_ref(), Ok(&f), "{name}");
        let vk = sender.verifying_key().expect("a valid public key");
        assert!(vk
            .verify(
                &transcript,
                &ed25519_dalek::Signature::from_bytes(&signature)
            )
            .is_ok());
        out_hellos.push(json!({"name": name, "secret": hex(&[s; 32]),
            "sender": sender.to_string(), "receiver": receiver.to_string(),
            "transcript": hex(&transcript), "hex": hex(&bytes), "frame": expected(&f)}));
    }
    let mut out_bad = Vec::new();
    for (name, bytes, error) in malformed() {
        let got = Frame::decode(&Bytes::from(bytes.clone()), 65_536);
        match &got {
            Err(e) => assert_eq!(error_name(e), error, "{name}: {e}"),
            Ok(f) => panic!("{name}: malformed frame decoded as {f:?}"),
        }
        out_bad.push(json!({"name": name, "hex": hex(&bytes), "error": error}));
    }
    json!({
        "about": "n2n-overlay wire format v1 test vectors (docs/WIRE.md), produced by overlay-core/tests/wire_vectors.rs; checked by it and by clients/web. Ids and bytes are lowercase hex; secret is an Ed25519 seed.",
        "version": 1,
        "maxFrame": 65_536,
        "frames": out_frames,
        "hellos": out_hellos,
        "malformed": out_bad,
    })
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/wire-v1.json")
}

#[test]
fn vectors_match_the_rust_codec() {
    let text = serde_json::to_string_pretty(&build()).expect("json") + "\n";
    let path = path();
    if std::env::var_os("N2N_UPDATE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &text).expect("write the vectors");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with N2N_UPDATE_VECTORS=1 to write it",
            path.display()
        )
    });
    assert!(
        committed == text,
        "{} differs from what the Rust codec produces: after a deliberate wire change, run with N2N_UPDATE_VECTORS=1 and commit",
        path.display()
    );
}

#[test]
fn committed_vectors_decode_as_stated() {
    let Ok(text) = std::fs::read_to_string(path()) else {
        panic!("docs/vectors/wire-v1.json is missing: run with N2N_UPDATE_VECTORS=1");
    };
    let v: Value = serde_json::from_str(&text).expect("vectors are JSON");
    for group in ["frames", "hellos"] {
        for case in v[group].as_array().expect("array") {
            let bytes = Bytes::from(unhex(case["hex"].as_str().expect("hex")));
            let f =
                Frame::decode(&bytes, 65_536).unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
            assert_eq!(expected(&f), case["frame"], "{}", case["name"]);
            assert_eq!(
                f.encode(),
                bytes,
                "{}: re-encodes to the same bytes",
                case["name"]
            );
        }
    }
    for case in v["malformed"].as_array().expect("array") {
        let bytes = Bytes::from(unhex(case["hex"].as_str().expect("hex")));
        match Frame::decode(&bytes, 65_536) {
            Err(e) => assert_eq!(error_name(&e), case["error"], "{}", case["name"]),
            Ok(f) => panic!("{}: decoded as {f:?}", case["name"]),
        }
    }
}
