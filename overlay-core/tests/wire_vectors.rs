//! Shared test vectors of the wire format, version 2
//! (`docs/vectors/wire-v2.json`), and the frozen signed byte strings of
//! `docs/WIRE.md`.
//!
//! The Rust codec produces the JSON vectors; the TypeScript client (`clients/web`)
//! checks the same file, so both implementations read and write the same
//! bytes. This test rebuilds the vectors from the Rust codec and fails if
//! the committed file differs (run with `N2N_UPDATE_VECTORS=1` to rewrite
//! it after a deliberate wire change), decodes every frame back, and checks
//! every malformed example is refused with the stated error.

use std::path::PathBuf;

use bytes::Bytes;
use overlay_core::event::BridgeFailure;
use overlay_core::wire::{hello_transcript, signal_transcript, DecodeError, Frame};
use overlay_core::{
    Fingerprint, HandshakeId, Keypair, PeerId, ProtocolId, RequestId, Signal, SignalEnvelope,
    SignedSignal,
};
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

fn key(seed: u8) -> Keypair {
    Keypair::from_secret_bytes([seed; 32])
}

fn peer(seed: u8) -> PeerId {
    key(seed).peer_id()
}

fn fp(byte: u8) -> Fingerprint {
    Fingerprint([byte; 32])
}

fn signed_json(s: &SignedSignal) -> (u32, String, Value, Value) {
    let more: Vec<Value> = s.more.iter().map(signal_json).collect();
    (
        s.seq,
        s.signature.to_string(),
        signal_json(&s.signal),
        Value::from(more),
    )
}

fn failure_name(f: BridgeFailure) -> &'static str {
    match f {
        BridgeFailure::NotNeighbour => "notNeighbour",
        BridgeFailure::SelfConnection => "selfConnection",
        BridgeFailure::Timeout => "timeout",
        BridgeFailure::ConnectionLost => "connectionLost",
        BridgeFailure::Transport => "transport",
        BridgeFailure::Busy => "busy",
        BridgeFailure::Tampered => "tampered",
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
            req,
            protocol,
            to,
            count,
        } => {
            json!({"type": "connectTo", "op": format!("{:016x}", req.0), "protocol": protocol.as_str(),
            "to": to.to_string(), "count": count})
        }
        Frame::ConnectDone { req, failure } => json!({"type": "connectDone",
            "op": format!("{:016x}", req.0), "failure": failure.map(failure_name)}),
        Frame::Forward {
            handshake,
            to,
            signal,
        } => {
            let (seq, sig, signal, more) = signed_json(signal);
            json!({"type": "forward", "handshake": format!("{:016x}", handshake.0),
                "to": to.to_string(), "seq": seq, "signature": sig, "signal": signal, "more": more})
        }
        Frame::Forwarded {
            handshake,
            origin,
            signal,
        } => {
            let (seq, sig, signal, more) = signed_json(signal);
            json!({"type": "forwarded", "handshake": format!("{:016x}", handshake.0),
                "origin": origin.to_string(), "seq": seq, "signature": sig, "signal": signal, "more": more})
        }
        Frame::ForwardFailed { handshake, reason } => json!({"type": "forwardFailed",
            "handshake": format!("{:016x}", handshake.0), "reason": failure_name(*reason)}),
        Frame::Refuse {
            handshake,
            to,
            reason,
        } => json!({"type": "refuse", "handshake": format!("{:016x}", handshake.0),
            "to": to.to_string(), "reason": failure_name(*reason)}),
        Frame::Refused {
            handshake,
            origin,
            reason,
        } => json!({"type": "refused", "handshake": format!("{:016x}", handshake.0),
            "origin": origin.to_string(), "reason": failure_name(*reason)}),
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

/// `signal` signed by `origin` for `to` in handshake `h`.
fn signed(origin: u8, to: PeerId, h: u64, seq: u32, signal: Signal) -> SignedSignal {
    SignedSignal::sign(&key(origin), Some(&to), HandshakeId(h), seq, signal)
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
                req: RequestId(0x0123_4567_89ab_cdef),
                protocol: proto("n2n-chat"),
                to: b,
                count: 2,
            },
        ),
        (
            "connect-done-ok",
            Frame::ConnectDone {
                req: RequestId(u64::MAX),
                failure: None,
            },
        ),
        (
            "connect-done-busy",
            Frame::ConnectDone {
                req: RequestId(7),
                failure: Some(BridgeFailure::Busy),
            },
        ),
        (
            "forward-offer",
            Frame::Forward {
                handshake: HandshakeId(0xfedc_ba98_7654_3210),
                to: b,
                signal: signed(1, b, 0xfedc_ba98_7654_3210, 0, offer),
            },
        ),
        (
            "forwarded-answer",
            Frame::Forwarded {
                handshake: HandshakeId(1),
                origin: a,
                signal: signed(1, b, 1, 0, answer),
            },
        ),
        (
            "forward-candidate",
            Frame::Forward {
                handshake: HandshakeId(2),
                to: a,
                signal: signed(2, a, 2, 1, cand),
            },
        ),
        (
            "forwarded-candidate-bare",
            Frame::Forwarded {
                handshake: HandshakeId(3),
                origin: b,
                signal: signed(2, a, 3, 255, bare),
            },
        ),
        (
            "forwarded-end",
            Frame::Forwarded {
                handshake: HandshakeId(4),
                origin: b,
                signal: signed(2, a, 4, 3, Signal::EndOfCandidates),
            },
        ),
        (
            "forward-bundle",
            Frame::Forward {
                handshake: HandshakeId(8),
                to: b,
                signal: SignedSignal::sign_bundle(
                    &key(1),
                    Some(&b),
                    HandshakeId(8),
                    0,
                    Signal::Offer {
                        sdp: "v=0\r\n".into(),
                    },
                    vec![
                        Signal::candidate("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"),
                        Signal::EndOfCandidates,
                    ],
                ),
            },
        ),
        (
            "forwarded-bundle",
            Frame::Forwarded {
                handshake: HandshakeId(8),
                origin: b,
                signal: SignedSignal::sign_bundle(
                    &key(2),
                    Some(&a),
                    HandshakeId(8),
                    0,
                    Signal::Answer {
                        sdp: "v=0\r\n".into(),
                    },
                    vec![Signal::EndOfCandidates],
                ),
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
            "forward-failed-tampered",
            Frame::ForwardFailed {
                handshake: HandshakeId(7),
                reason: BridgeFailure::Tampered,
            },
        ),
        (
            "refuse-busy",
            Frame::Refuse {
                handshake: HandshakeId(0x0102_0304_0506_0708),
                to: a,
                reason: BridgeFailure::Busy,
            },
        ),
        (
            "refused-busy",
            Frame::Refused {
                handshake: HandshakeId(0x0102_0304_0506_0708),
                origin: b,
                reason: BridgeFailure::Busy,
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

/// A signed HELLO case: name, sender seed, receiver seed, handshake, arcs,
/// sender's and receiver's certificate fingerprint bytes.
type HelloCase = (&'static str, u8, u8, u64, Vec<(ProtocolId, u32)>, u8, u8);

/// Signed HELLOs.
fn hellos() -> Vec<HelloCase> {
    vec![
        ("hello-no-arcs", 1, 2, 0x1267, vec![], 0xaa, 0xbb),
        (
            "hello-two-protocols",
            2,
            1,
            0xffff_ffff_ffff_fff0,
            vec![(proto("n2n-chat"), 1), (proto("spray"), 4)],
            0x01,
            0xfe,
        ),
        ("hello-seed-7", 7, 9, 42, vec![(proto("p"), 1)], 0, 0),
    ]
}

fn malformed() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut too_large = vec![2, 2, 1, b'p'];
    too_large.resize(65_537, 0);
    let mut forward_bad_json = vec![2, 9];
    forward_bad_json.extend_from_slice(&[0; 8]);
    forward_bad_json.extend_from_slice(peer(2).as_bytes());
    forward_bad_json.extend_from_slice(&[0; 4 + 64]);
    forward_bad_json.extend_from_slice(b"{\"type\":\"offer\"}");
    let mut forward_not_utf8 = vec![2, 10];
    forward_not_utf8.extend_from_slice(&[0; 40 + 4 + 64]);
    let mut forward_no_sig = vec![2, 9];
    forward_no_sig.extend_from_slice(&[0; 40 + 4 + 10]);
    forward_not_utf8.extend_from_slice(&[0xff, 0xfe]);
    let bundle_head = |json: &[u8]| {
        let mut f = vec![2, 9];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(peer(2).as_bytes());
        f.extend_from_slice(&[0; 4 + 64]);
        f.extend_from_slice(json);
        f
    };
    let seventeen = format!("[{}]", vec![r#"{"type":"endOfCandidates"}"#; 17].join(","));
    vec![
        ("empty", vec![], "truncated"),
        ("version-only", vec![2], "truncated"),
        ("version-1", vec![1, 2, 1, b'p'], "version"),
        ("version-3", vec![3, 2, 1, b'p'], "version"),
        ("forward-signature-cut", forward_no_sig, "truncated"),
        ("type-0", vec![2, 0], "unknownType"),
        ("type-14", vec![2, 14, 0], "unknownType"),
        (
            "refuse-truncated",
            vec![2, 12, 0, 0, 0, 0, 0, 0, 0, 1, 7],
            "truncated",
        ),
        ("protocol-empty", vec![2, 2, 0], "badProtocol"),
        ("protocol-space", vec![2, 2, 1, b' '], "badProtocol"),
        (
            "protocol-32",
            [vec![2, 2, 32], vec![b'a'; 32]].concat(),
            "badProtocol",
        ),
        ("protocol-cut", vec![2, 2, 5, b'a'], "truncated"),
        (
            "arc-add-trailing",
            vec![2, 5, 1, b'p', 0, 0, 0, 1, 0],
            "trailing",
        ),
        ("arc-add-short", vec![2, 5, 1, b'p', 0, 0, 1], "truncated"),
        (
            "connect-done-trailing",
            vec![2, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
            "trailing",
        ),
        (
            "hello-truncated",
            vec![2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 7],
            "truncated",
        ),
        ("forward-bad-signal", forward_bad_json, "badSignal"),
        ("forwarded-not-utf8", forward_not_utf8, "badSignal"),
        ("forward-bundle-empty", bundle_head(b"[]"), "badSignal"),
        (
            "forward-bundle-17",
            bundle_head(seventeen.as_bytes()),
            "badSignal",
        ),
        (
            "forward-bundle-nested",
            bundle_head(br#"[[{"type":"endOfCandidates"}]]"#),
            "badSignal",
        ),
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
    for (name, s, r, h, arcs, sfp, rfp) in hellos() {
        let (sender, receiver) = (peer(s), peer(r));
        let transcript = hello_transcript(HandshakeId(h), &sender, &receiver, &fp(sfp), &fp(rfp));
        let signature = key(s).sign(&transcript);
        let f = Frame::Hello {
            handshake: HandshakeId(h),
            peer: sender,
            signature,
            arcs,
        };
        let bytes = f.encode();
        assert_eq!(Frame::decode(&bytes, 65_536).as_ref(), Ok(&f), "{name}");
        assert!(sender.verify_strict(&transcript, &signature));
        out_hellos.push(json!({"name": name, "secret": hex(&[s; 32]),
            "sender": sender.to_string(), "receiver": receiver.to_string(),
            "senderFingerprint": hex(&[sfp; 32]), "receiverFingerprint": hex(&[rfp; 32]),
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
        "about": "n2n-overlay wire format v2 test vectors (docs/WIRE.md), produced by overlay-core/tests/wire_vectors.rs; checked by it and by clients/web. Ids and bytes are lowercase hex; secret is an Ed25519 seed.",
        "version": 2,
        "maxFrame": 65_536,
        "frames": out_frames,
        "hellos": out_hellos,
        "signals": signals(),
        "fingerprints": fingerprints(),
        "malformed": out_bad,
    })
}

/// Signed envelopes (out of band): origin seed 1, every kind of signal, a
/// known and an unknown destination.
fn signals() -> Vec<Value> {
    let b = peer(2);
    let cases = [
        (
            "offer",
            Some(b),
            0,
            Signal::Offer {
                sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n".into(),
            },
        ),
        (
            "offer-no-destination",
            None,
            0,
            Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
        ),
        (
            "answer-utf8",
            Some(b),
            0,
            Signal::Answer {
                sdp: "v=0\r\ns=\u{e9}t\u{e9}\r\n".into(),
            },
        ),
        (
            "candidate",
            Some(b),
            1,
            Signal::candidate("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"),
        ),
        (
            "candidate-bare",
            Some(b),
            2,
            Signal::Candidate {
                candidate: "a=candidate:x".into(),
                sdp_mid: None,
                sdp_m_line_index: None,
            },
        ),
        ("end", Some(b), 255, Signal::EndOfCandidates),
    ];
    cases
        .into_iter()
        .map(|(name, to, seq, signal)| {
            let h = HandshakeId(0x0123_4567_89ab_cdef);
            let t = signal_transcript(&peer(1), to.as_ref(), h, seq, &signal);
            let env = SignalEnvelope::sign(&key(1), to, h, proto("spray"), seq, signal);
            assert!(env.verify(), "{name}");
            json!({"name": name, "secret": hex(&[1; 32]), "transcript": hex(&t),
                "envelope": serde_json::to_value(&env).expect("an envelope serializes")})
        })
        .chain(std::iter::once({
            // A bundle: offer, candidate and end of candidates, one signature.
            let h = HandshakeId(0x0123_4567_89ab_cdef);
            let signed = SignedSignal::sign_bundle(
                &key(1),
                Some(&b),
                h,
                0,
                Signal::Offer {
                    sdp: "v=0\r\n".into(),
                },
                vec![
                    Signal::candidate("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"),
                    Signal::EndOfCandidates,
                ],
            );
            let t = signed.transcript(&peer(1), Some(&b), h);
            let env = SignalEnvelope::from_signed(peer(1), Some(b), h, proto("spray"), signed);
            assert!(env.verify(), "bundle");
            json!({"name": "bundle", "secret": hex(&[1; 32]), "transcript": hex(&t),
                "envelope": serde_json::to_value(&env).expect("an envelope serializes")})
        }))
        .collect()
}

/// SDPs and the certificate fingerprint `Fingerprint::from_sdp` reads from them.
fn fingerprints() -> Vec<Value> {
    let pairs = |b: u8, upper: bool| {
        (0..32)
            .map(|i| {
                let v = b.wrapping_add(i);
                if upper {
                    format!("{v:02X}")
                } else {
                    format!("{v:02x}")
                }
            })
            .collect::<Vec<_>>()
            .join(":")
    };
    let sdps = [
        ("session-level", format!("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=fingerprint:sha-256 {}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", pairs(0x10, true))),
        ("media-level-lowercase", format!("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:SHA-256 {}\r\n", pairs(0xf0, false))),
        ("sha1-first", format!("v=0\r\na=fingerprint:sha-1 00:11\r\na=fingerprint:sha-256 {}\r\n", pairs(0, true))),
        ("none", "v=0\r\na=fingerprint:sha-256 00:11\r\n".to_owned()),
    ];
    sdps.into_iter()
        .map(|(name, sdp)| {
            let f = Fingerprint::from_sdp(&sdp).map(|f| hex(&f.0));
            json!({"name": name, "sdp": sdp, "fingerprint": f})
        })
        .collect()
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/wire-v2.json")
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
    if std::env::var_os("N2N_UPDATE_VECTORS").is_some() {
        return; // the other test is rewriting the file
    }
    let Ok(text) = std::fs::read_to_string(path()) else {
        panic!("docs/vectors/wire-v2.json is missing: run with N2N_UPDATE_VECTORS=1");
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
    for case in v["signals"].as_array().expect("array") {
        let env: SignalEnvelope =
            serde_json::from_value(case["envelope"].clone()).expect("an envelope");
        assert!(env.verify(), "{}: the envelope verifies", case["name"]);
    }
    for case in v["malformed"].as_array().expect("array") {
        let bytes = Bytes::from(unhex(case["hex"].as_str().expect("hex")));
        match Frame::decode(&bytes, 65_536) {
            Err(e) => assert_eq!(error_name(&e), case["error"], "{}", case["name"]),
            Ok(f) => panic!("{}: decoded as {f:?}", case["name"]),
        }
    }
}

// The frozen byte strings of docs/WIRE.md (written with the version 2 spec).

#[test]
fn hello_vector() {
    let a = Keypair::from_secret_bytes([1; 32]);
    let b = Keypair::from_secret_bytes([2; 32]);
    let h = HandshakeId(0x0102_0304_0506_0708);
    let t = hello_transcript(h, &a.peer_id(), &b.peer_id(), &fp(0xaa), &fp(0xbb));
    let sig = a.sign(&t);
    println!("A peer id      {}", a.peer_id());
    println!("B peer id      {}", b.peer_id());
    println!("hello A->B     {}", hex(&t));
    println!("signature      {}", hex(&sig));
    let frame = Frame::Hello {
        handshake: h,
        peer: a.peer_id(),
        signature: sig,
        arcs: vec![(
            ProtocolId::new("spray").unwrap_or_else(|_| unreachable!()),
            2,
        )],
    };
    println!("HELLO frame    {}", hex(&frame.encode()));
    // Frozen: a change here breaks every other implementation.
    assert_eq!(hex(&sig), "d289bb41bc5b9ad002b5efc37e5fa2b90a38a0f421999dc9f3a41d5e6da9fa8e858c8a54ea8866518bddc4d152cdec87621433476e3d8d476dfd251c3dcbf208");
    assert_eq!(t.len(), 157);
    assert_eq!(&t[..20], b"n2n-overlay/hello/v2");
    assert_eq!(t[20], 2);
    assert_eq!(&t[21..29], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&t[29..61], a.peer_id().as_bytes());
    assert_eq!(&t[61..93], b.peer_id().as_bytes());
    assert_eq!(&t[93..125], &[0xaa; 32]);
    assert_eq!(&t[125..157], &[0xbb; 32]);
    // B checks it with its own view: sender's certificate = its remote one.
    let seen_by_b = hello_transcript(h, &a.peer_id(), &b.peer_id(), &fp(0xaa), &fp(0xbb));
    assert!(a.peer_id().verify_strict(&seen_by_b, &sig));
    // A relay in the middle: B's remote certificate is the relay's.
    let relayed = hello_transcript(h, &a.peer_id(), &b.peer_id(), &fp(0xcc), &fp(0xbb));
    assert!(!a.peer_id().verify_strict(&relayed, &sig));
}

#[test]
fn signal_vectors() {
    let a = Keypair::from_secret_bytes([1; 32]);
    let b = Keypair::from_secret_bytes([2; 32]).peer_id();
    let h = HandshakeId(0x1267);
    let cases = [
        (
            "offer",
            Some(b),
            0,
            Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
        ),
        (
            "offer, destination unknown",
            None,
            0,
            Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
        ),
        (
            "answer",
            Some(b),
            0,
            Signal::Answer {
                sdp: "v=0\r\n".into(),
            },
        ),
        (
            "candidate",
            Some(b),
            1,
            Signal::candidate("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"),
        ),
        (
            "candidate, no mid or index",
            Some(b),
            2,
            Signal::Candidate {
                candidate: "a=candidate:x".into(),
                sdp_mid: None,
                sdp_m_line_index: None,
            },
        ),
        ("end of candidates", Some(b), 3, Signal::EndOfCandidates),
    ];
    for (name, to, seq, signal) in cases {
        let t = signal_transcript(&a.peer_id(), to.as_ref(), h, seq, &signal);
        let env = SignalEnvelope::sign(
            &a,
            to,
            h,
            ProtocolId::new("spray").unwrap_or_else(|_| unreachable!()),
            seq,
            signal,
        );
        println!(
            "{name}:\n  bytes     {}\n  signature {}\n  envelope  {}",
            hex(&t),
            env.signature,
            serde_json::to_string(&env).unwrap_or_default()
        );
        assert_eq!(&t[..21], b"n2n-overlay/signal/v2");
        assert_eq!(t[21], 2);
        assert_eq!(&t[22..54], a.peer_id().as_bytes());
        assert_eq!(&t[54..86], to.map_or([0; 32], |p| *p.as_bytes()));
        assert_eq!(&t[86..94], &0x1267u64.to_be_bytes());
        assert_eq!(&t[94..98], &seq.to_be_bytes());
        assert!(env.verify());
        assert_eq!(env.signature.0, a.sign(&t));
        if name == "offer" {
            // Frozen: a change here breaks every other implementation.
            assert_eq!(env.signature.to_string(), "f231e52d9c00b6e56c99d45dbabd8839fd9c17255c62b38ed31e929d966755d87e922a5be13bd218f8172c6512b58812ebe5e967ea21b2ef32b895bf98f0b60b");
        }
    }
    // The layout of one candidate, field by field.
    let t = signal_transcript(&a.peer_id(), Some(&b), h, 1, &Signal::candidate("c"));
    assert_eq!(&t[98..], &[3, 0, 0, 0, 1, b'c', 1, 0, 1, b'0', 1, 0, 0]);
    let t = signal_transcript(
        &a.peer_id(),
        Some(&b),
        h,
        0,
        &Signal::Offer { sdp: "v=0".into() },
    );
    assert_eq!(&t[98..], &[1, 0, 0, 0, 3, b'v', b'=', b'0']);
    let t = signal_transcript(&a.peer_id(), Some(&b), h, 0, &Signal::EndOfCandidates);
    assert_eq!(&t[98..], &[4]);
    // A bundle: the first signal's bytes, then each next signal's kind and
    // fields, under one signature.
    let offer = Signal::Offer { sdp: "v=0".into() };
    let bundle = SignedSignal::sign_bundle(
        &a,
        Some(&b),
        h,
        0,
        offer.clone(),
        vec![Signal::candidate("c"), Signal::EndOfCandidates],
    );
    let t = bundle.transcript(&a.peer_id(), Some(&b), h);
    let first = signal_transcript(&a.peer_id(), Some(&b), h, 0, &offer);
    assert_eq!(&t[..first.len()], &first[..]);
    assert_eq!(
        &t[first.len()..],
        &[3, 0, 0, 0, 1, b'c', 1, 0, 1, b'0', 1, 0, 0, 4]
    );
    assert!(bundle.verify(&a.peer_id(), Some(&b), h));
    assert_eq!(bundle.signature.0, a.sign(&t));
    println!(
        "bundle (offer v=0, candidate c, end):\n  bytes     {}\n  signature {}",
        hex(&t),
        bundle.signature
    );
}
