//! Tolerant reading of the browser-shaped signals a remote stack sends.
//!
//! What other stacks send, and what is forgiven here (see the backend notes
//! in the design docs): candidates before the offer (buffer them with
//! [`EarlyCandidates`]), `sdpMLineIndex: null`, a leading `a=` on candidate
//! lines, `a=end-of-candidates` or an empty candidate for "no more".

use overlay_core::{normalize_candidate, CandidateLine, Signal};

/// What a remote signal asks of a backend, once read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteSignal<'a> {
    /// The remote's offer (SDP text).
    Offer(&'a str),
    /// The remote's answer (SDP text).
    Answer(&'a str),
    /// One trickled candidate, `candidate:...`, without `a=` or line breaks.
    Candidate(&'a str),
    /// The remote will send no more candidates.
    EndOfCandidates,
}

/// A remote signal that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// An offer or answer without SDP text.
    #[error("empty SDP in the remote {0}")]
    EmptySdp(&'static str),
    /// A candidate whose text is not a `candidate:` line.
    #[error("not an ICE candidate line: {0:?}")]
    NotACandidate(String),
    /// A candidate for a media line other than the single data line.
    #[error("candidate for media line {0}, but the session has one (index 0)")]
    UnknownMLineIndex(u16),
    /// A signal kind this version does not know.
    #[error("unsupported signal kind {0:?}")]
    Unsupported(&'static str),
    /// Too many candidates arrived before the session description.
    #[error("more than {0} candidates arrived before the session description")]
    TooManyEarlyCandidates(usize),
}

/// Read a remote signal tolerantly. Errors only for what no tolerance can
/// save (an empty SDP, a candidate line that is not one, a media line
/// index other than 0).
///
/// # Errors
/// See [`SignalError`].
pub fn read_signal(signal: &Signal) -> Result<RemoteSignal<'_>, SignalError> {
    match signal {
        Signal::Offer { sdp } if sdp.trim().is_empty() => Err(SignalError::EmptySdp("offer")),
        Signal::Answer { sdp } if sdp.trim().is_empty() => Err(SignalError::EmptySdp("answer")),
        Signal::Offer { sdp } => Ok(RemoteSignal::Offer(sdp)),
        Signal::Answer { sdp } => Ok(RemoteSignal::Answer(sdp)),
        Signal::Candidate {
            candidate,
            sdp_m_line_index,
            ..
        } => {
            if let Some(index) = sdp_m_line_index {
                if *index != 0 {
                    return Err(SignalError::UnknownMLineIndex(*index));
                }
            }
            match normalize_candidate(candidate) {
                CandidateLine::EndOfCandidates => Ok(RemoteSignal::EndOfCandidates),
                CandidateLine::Candidate(line) if line.starts_with("candidate:") => {
                    Ok(RemoteSignal::Candidate(line))
                }
                CandidateLine::Candidate(line) => Err(SignalError::NotACandidate(truncate(line))),
            }
        }
        Signal::EndOfCandidates => Ok(RemoteSignal::EndOfCandidates),
        other => Err(SignalError::Unsupported(other.kind())),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Candidates that arrived before the remote session description, kept in
/// arrival order (bounded: a remote cannot make a node hold unbounded text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarlyCandidates {
    lines: Vec<String>,
    ended: bool,
}

impl EarlyCandidates {
    /// Most candidates kept before the description arrives.
    pub const MAX: usize = 64;

    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep one candidate line.
    ///
    /// # Errors
    /// [`SignalError::TooManyEarlyCandidates`] past [`EarlyCandidates::MAX`].
    pub fn push(&mut self, line: &str) -> Result<(), SignalError> {
        if self.lines.len() >= Self::MAX {
            return Err(SignalError::TooManyEarlyCandidates(Self::MAX));
        }
        self.lines.push(line.to_owned());
        Ok(())
    }

    /// Remember that the remote said end-of-candidates.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Whether end-of-candidates arrived.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Number of candidates held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no candidate is held.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Take the held candidates, in arrival order.
    pub fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_browsers_send() {
        let c = Signal::Candidate {
            candidate: "a=candidate:1 1 udp 1 ::1 9 typ host\r\n".into(),
            sdp_mid: None,
            sdp_m_line_index: None,
        };
        assert_eq!(
            read_signal(&c),
            Ok(RemoteSignal::Candidate(
                "candidate:1 1 udp 1 ::1 9 typ host"
            ))
        );
        let end = Signal::Candidate {
            candidate: "a=end-of-candidates".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        };
        assert_eq!(read_signal(&end), Ok(RemoteSignal::EndOfCandidates));
        let empty = Signal::Candidate {
            candidate: String::new(),
            sdp_mid: None,
            sdp_m_line_index: None,
        };
        assert_eq!(read_signal(&empty), Ok(RemoteSignal::EndOfCandidates));
        assert_eq!(
            read_signal(&Signal::EndOfCandidates),
            Ok(RemoteSignal::EndOfCandidates)
        );
    }

    #[test]
    fn rejects_what_cannot_be_used() {
        assert_eq!(
            read_signal(&Signal::Offer {
                sdp: " \r\n".into()
            }),
            Err(SignalError::EmptySdp("offer"))
        );
        assert!(matches!(
            read_signal(&Signal::candidate("garbage")),
            Err(SignalError::NotACandidate(_))
        ));
        let other_line = Signal::Candidate {
            candidate: "candidate:1".into(),
            sdp_mid: None,
            sdp_m_line_index: Some(2),
        };
        assert_eq!(
            read_signal(&other_line),
            Err(SignalError::UnknownMLineIndex(2))
        );
    }

    #[test]
    fn early_candidates_are_bounded_and_ordered() {
        let mut early = EarlyCandidates::new();
        for i in 0..EarlyCandidates::MAX {
            assert_eq!(early.push(&format!("candidate:{i}")), Ok(()));
        }
        assert_eq!(
            early.push("candidate:x"),
            Err(SignalError::TooManyEarlyCandidates(EarlyCandidates::MAX))
        );
        early.end();
        assert!(early.ended());
        let lines = early.take();
        assert_eq!(lines.first().map(String::as_str), Some("candidate:0"));
        assert_eq!(lines.len(), EarlyCandidates::MAX);
        assert!(early.is_empty());
    }
}
