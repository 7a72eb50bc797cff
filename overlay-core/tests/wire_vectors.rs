//! Test vectors of the signed byte strings of `docs/WIRE.md` version 2, for
//! fixed keys: a second implementation (the browser client) must produce
//! the same bytes and signatures. `cargo test -p overlay-core --test
//! wire_vectors -- --nocapture` prints them as hex.
//!
//! Keys: secret seeds of 32 bytes `0x01` (peer A) and `0x02` (peer B).
//! Ed25519 is deterministic, so the signatures are fixed too.

use overlay_core::wire::{hello_transcript, signal_transcript, Frame};
use overlay_core::{Fingerprint, HandshakeId, Keypair, ProtocolId, Signal, SignalEnvelope};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fp(byte: u8) -> Fingerprint {
    Fingerprint([byte; 32])
}

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
}
