//! Handshake signals: browser-shaped, serde-serializable, opaque to the engine.
//!
//! A [`Signal`] serializes to the JSON a browser's `RTCPeerConnection` gives
//! and takes: `{"type":"offer","sdp":"..."}`, `{"type":"answer","sdp":"..."}`,
//! `{"type":"candidate","candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}`
//! and `{"type":"endOfCandidates"}`. The engine moves signals without
//! looking inside; transports produce and consume them.
//! [`SignalEnvelope`] adds who sends, for which handshake, so a signal can
//! cross a signaling server or an application's own channel.
//!
//! Every signal is signed by the peer that produced it ([`SignedSignal`],
//! [`SignalEnvelope::signature`]) over origin, destination, handshake,
//! sequence number and the signal itself (`docs/WIRE.md`, "Signed
//! signals"; the bytes: [`crate::wire::signal_transcript`]). No relay can
//! change, redirect or invent one.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::{HandshakeId, Keypair, PeerId, ProtocolId};
use crate::wire::bundle_transcript;

/// One step of an offer/answer handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Signal {
    /// The initiator's session description.
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// The acceptor's session description.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// One trickled ICE candidate (an `RTCIceCandidateInit`).
    Candidate {
        /// The candidate line, `candidate:...` (a leading `a=` is tolerated).
        candidate: String,
        /// The media id the candidate belongs to.
        #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// The media line index the candidate belongs to.
        #[serde(
            rename = "sdpMLineIndex",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        sdp_m_line_index: Option<u16>,
    },
    /// The sender will trickle no more candidates.
    EndOfCandidates,
}

impl Signal {
    /// A candidate signal in the form every stack accepts (libwebrtc rejects
    /// a null `sdpMLineIndex`): `sdpMid: "0"`, `sdpMLineIndex: 0`.
    pub fn candidate(line: impl Into<String>) -> Self {
        Signal::Candidate {
            candidate: line.into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }
    }

    /// A short name for logs: `offer`, `answer`, `candidate`, `end-of-candidates`.
    pub fn kind(&self) -> &'static str {
        match self {
            Signal::Offer { .. } => "offer",
            Signal::Answer { .. } => "answer",
            Signal::Candidate { .. } => "candidate",
            Signal::EndOfCandidates => "end-of-candidates",
        }
    }

    /// Bytes of text this signal carries (SDP or candidate line).
    pub fn text_len(&self) -> usize {
        match self {
            Signal::Offer { sdp } | Signal::Answer { sdp } => sdp.len(),
            Signal::Candidate {
                candidate, sdp_mid, ..
            } => candidate.len() + sdp_mid.as_ref().map_or(0, String::len),
            Signal::EndOfCandidates => 0,
        }
    }
}

/// What a candidate signal means once other stacks' habits are forgiven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateLine<'a> {
    /// A candidate; the `candidate:...` text without a leading `a=` or
    /// trailing line break.
    Candidate(&'a str),
    /// The remote sent `a=end-of-candidates` (or an empty candidate, which
    /// browsers use to say the same).
    EndOfCandidates,
}

/// Tolerant reading of a trickled candidate string, shared by all backends:
/// strips a leading `a=` and line breaks, maps `end-of-candidates` and the
/// empty string to [`CandidateLine::EndOfCandidates`].
pub fn normalize_candidate(raw: &str) -> CandidateLine<'_> {
    let line = raw.trim();
    let line = line.strip_prefix("a=").unwrap_or(line).trim();
    if line.is_empty() || line == "end-of-candidates" {
        CandidateLine::EndOfCandidates
    } else {
        CandidateLine::Candidate(line)
    }
}

/// Highest sequence number a signal may carry: an end produces at most 256
/// signals for one handshake.
pub const MAX_SIGNAL_SEQ: u32 = 255;

/// An Ed25519 signature, 64 bytes; in JSON, 128 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureBytes(pub [u8; 64]);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

impl fmt::Display for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        let bad = || serde::de::Error::custom("a signature is 128 hex digits (64 bytes)");
        if s.len() != 128 || !s.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 64];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(SignatureBytes(out))
    }
}

/// Most signals one signature covers (a bundle: the signals of one
/// handshake an end produced together, `docs/WIRE.md`, "Bundles").
pub const MAX_BUNDLE: usize = 16;

/// A signal (or a bundle of signals) with its sequence number and its
/// origin's one signature, as it crosses a bridge (`FORWARD` /
/// `FORWARDED` frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSignal {
    /// The origin's number for `signal` within its handshake (0, 1, ...);
    /// the signals of `more` are numbered `seq + 1`, `seq + 2`, ...
    pub seq: u32,
    /// Ed25519 by the origin over [`bundle_transcript`] of `signal` and
    /// `more` ([`crate::wire::signal_transcript`] when `more` is empty).
    pub signature: SignatureBytes,
    /// The (first) signal.
    pub signal: Signal,
    /// The signals produced together with `signal` and signed with it
    /// (at most [`MAX_BUNDLE`] - 1); usually empty.
    pub more: Vec<Signal>,
}

impl SignedSignal {
    /// Sign `signal` as `origin` for `destination` (`None`: not known yet,
    /// out-of-band only) in handshake `handshake`.
    pub fn sign(
        origin: &Keypair,
        destination: Option<&PeerId>,
        handshake: HandshakeId,
        seq: u32,
        signal: Signal,
    ) -> SignedSignal {
        Self::sign_bundle(origin, destination, handshake, seq, signal, Vec::new())
    }

    /// Sign `signal` and the signals `more` that follow it as one bundle
    /// (numbered `seq`, `seq + 1`, ...), with one signature.
    pub fn sign_bundle(
        origin: &Keypair,
        destination: Option<&PeerId>,
        handshake: HandshakeId,
        seq: u32,
        signal: Signal,
        more: Vec<Signal>,
    ) -> SignedSignal {
        Self::sign_bundle_with(
            &origin.peer_id(),
            |t| origin.sign(t),
            destination,
            handshake,
            seq,
            signal,
            more,
        )
    }

    /// [`SignedSignal::sign_bundle`] with the signing done by `sign` (the
    /// engine's signer) for `origin`.
    pub(crate) fn sign_bundle_with(
        origin: &PeerId,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
        destination: Option<&PeerId>,
        handshake: HandshakeId,
        seq: u32,
        signal: Signal,
        more: Vec<Signal>,
    ) -> SignedSignal {
        let t = bundle_transcript(
            origin,
            destination,
            handshake,
            seq,
            std::iter::once(&signal).chain(&more),
        );
        SignedSignal {
            seq,
            signature: SignatureBytes(sign(&t)),
            signal,
            more,
        }
    }

    /// The signals, in order: `signal`, then `more`.
    pub fn signals(&self) -> impl Iterator<Item = &Signal> + Clone {
        std::iter::once(&self.signal).chain(&self.more)
    }

    /// The sequence number of the last signal (`seq` + the bundle's length - 1).
    pub fn last_seq(&self) -> u32 {
        self.seq.saturating_add(self.more.len() as u32)
    }

    /// The bytes the signature covers, for `origin` and `destination`.
    pub fn transcript(
        &self,
        origin: &PeerId,
        destination: Option<&PeerId>,
        handshake: HandshakeId,
    ) -> Vec<u8> {
        bundle_transcript(origin, destination, handshake, self.seq, self.signals())
    }

    /// Whether the signature is `origin`'s over this signal for
    /// `destination` in `handshake` (strict Ed25519 verification).
    pub fn verify(
        &self,
        origin: &PeerId,
        destination: Option<&PeerId>,
        handshake: HandshakeId,
    ) -> bool {
        let t = self.transcript(origin, destination, handshake);
        origin.verify_strict(&t, &self.signature.0)
    }
}

/// A signal with its addressing and signature, as it crosses an
/// application channel or a signaling server (out-of-band signaling).
///
/// JSON: `{"handshake":"…16 hex…","from":"…","to":"…" (or absent),
/// "protocol":"spray","seq":0,"signature":"…128 hex…","signal":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalEnvelope {
    /// The handshake this signal belongs to (chosen by the initiator).
    pub handshake: HandshakeId,
    /// The peer that produced (and signed) the signal.
    pub from: PeerId,
    /// The peer the signal is for, as signed; `None` when the origin does
    /// not know yet (an out-of-band initiator before the first answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<PeerId>,
    /// The protocol whose arc the handshake opens (initiator -> acceptor).
    /// Not signed: it carries no authority.
    pub protocol: ProtocolId,
    /// The origin's sequence number for this signal in its handshake.
    pub seq: u32,
    /// Ed25519 by `from` over [`crate::wire::signal_transcript`] (over
    /// [`bundle_transcript`] when `more` is not empty).
    pub signature: SignatureBytes,
    /// The signal itself (the first of a bundle).
    pub signal: Signal,
    /// The signals `from` produced together with `signal`, numbered
    /// `seq + 1`, `seq + 2`, ... and covered by the same signature; absent
    /// from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<Signal>,
}

impl SignalEnvelope {
    /// Sign `signal` as `origin` (its `from`) for `to`.
    pub fn sign(
        origin: &Keypair,
        to: Option<PeerId>,
        handshake: HandshakeId,
        protocol: ProtocolId,
        seq: u32,
        signal: Signal,
    ) -> SignalEnvelope {
        Self::from_signed(
            origin.peer_id(),
            to,
            handshake,
            protocol,
            SignedSignal::sign(origin, to.as_ref(), handshake, seq, signal),
        )
    }

    /// An envelope for `signed`, signed by `from` for `to`.
    pub fn from_signed(
        from: PeerId,
        to: Option<PeerId>,
        handshake: HandshakeId,
        protocol: ProtocolId,
        signed: SignedSignal,
    ) -> SignalEnvelope {
        SignalEnvelope {
            handshake,
            from,
            to,
            protocol,
            seq: signed.seq,
            signature: signed.signature,
            signal: signed.signal,
            more: signed.more,
        }
    }

    /// The signal (or bundle) with its number and signature.
    pub fn signed(&self) -> SignedSignal {
        SignedSignal {
            seq: self.seq,
            signature: self.signature,
            signal: self.signal.clone(),
            more: self.more.clone(),
        }
    }

    /// Whether `from` signed this envelope as it stands (strict Ed25519).
    pub fn verify(&self) -> bool {
        self.signed()
            .verify(&self.from, self.to.as_ref(), self.handshake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_serialize_browser_shaped() -> Result<(), serde_json::Error> {
        let offer = Signal::Offer {
            sdp: "v=0\r\n".into(),
        };
        assert_eq!(
            serde_json::to_string(&offer)?,
            r#"{"type":"offer","sdp":"v=0\r\n"}"#
        );
        let cand = Signal::candidate("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host");
        assert_eq!(
            serde_json::to_string(&cand)?,
            r#"{"type":"candidate","candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}"#
        );
        // What browsers send: a null sdpMLineIndex, no sdpMid.
        let parsed: Signal = serde_json::from_str(
            r#"{"type":"candidate","candidate":"a=candidate:x","sdpMLineIndex":null}"#,
        )?;
        assert_eq!(
            parsed,
            Signal::Candidate {
                candidate: "a=candidate:x".into(),
                sdp_mid: None,
                sdp_m_line_index: None
            }
        );
        assert_eq!(
            serde_json::to_string(&Signal::EndOfCandidates)?,
            r#"{"type":"endOfCandidates"}"#
        );
        Ok(())
    }

    #[test]
    fn envelopes_are_signed_and_checked() -> Result<(), serde_json::Error> {
        let a = Keypair::from_secret_bytes([1; 32]);
        let b = Keypair::from_secret_bytes([2; 32]).peer_id();
        let env = SignalEnvelope::sign(
            &a,
            Some(b),
            HandshakeId(0x1267),
            ProtocolId::new("spray").unwrap_or_else(|_| unreachable!()),
            3,
            Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
        );
        assert!(env.verify());
        let json = serde_json::to_string(&env)?;
        assert!(json.contains(r#""seq":3"#), "{json}");
        let back: SignalEnvelope = serde_json::from_str(&json)?;
        assert_eq!(back, env);
        assert!(back.verify());
        // Anything changed breaks the signature.
        let mut other = env.clone();
        other.seq = 4;
        assert!(!other.verify());
        let mut other = env.clone();
        other.to = None;
        assert!(!other.verify());
        let mut other = env.clone();
        other.handshake = HandshakeId(1);
        assert!(!other.verify());
        let mut other = env.clone();
        other.signal = Signal::Offer {
            sdp: "v=1\r\n".into(),
        };
        assert!(!other.verify());
        let mut other = env.clone();
        other.from = b;
        assert!(!other.verify());
        // The protocol is not signed.
        let mut other = env;
        other.protocol = ProtocolId::new("other").unwrap_or_else(|_| unreachable!());
        assert!(other.verify());
        Ok(())
    }

    #[test]
    fn candidate_lines_are_normalized() {
        assert_eq!(
            normalize_candidate("a=candidate:1 1 udp 1 ::1 9 typ host\r\n"),
            CandidateLine::Candidate("candidate:1 1 udp 1 ::1 9 typ host")
        );
        assert_eq!(
            normalize_candidate("candidate:x"),
            CandidateLine::Candidate("candidate:x")
        );
        assert_eq!(
            normalize_candidate("a=end-of-candidates"),
            CandidateLine::EndOfCandidates
        );
        assert_eq!(normalize_candidate(""), CandidateLine::EndOfCandidates);
    }
}
