//! Handshake signals: browser-shaped, serde-serializable, opaque to the engine.
//!
//! A [`Signal`] serializes to the JSON a browser's `RTCPeerConnection` gives
//! and takes: `{"type":"offer","sdp":"..."}`, `{"type":"answer","sdp":"..."}`,
//! `{"type":"candidate","candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}`
//! and `{"type":"endOfCandidates"}`. The engine moves signals without
//! looking inside; transports produce and consume them.
//! [`SignalEnvelope`] adds who sends, for which handshake, so a signal can
//! cross a signaling server or an application's own channel.

use serde::{Deserialize, Serialize};

use crate::id::{HandshakeId, PeerId, ProtocolId};

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

/// A signal with its addressing, as it crosses an application channel or a
/// signaling server (out-of-band signaling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalEnvelope {
    /// The handshake this signal belongs to (chosen by the initiator).
    pub handshake: HandshakeId,
    /// The peer that produced the signal.
    pub from: PeerId,
    /// The protocol whose arc the handshake opens (initiator -> acceptor).
    pub protocol: ProtocolId,
    /// The signal itself.
    pub signal: Signal,
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
