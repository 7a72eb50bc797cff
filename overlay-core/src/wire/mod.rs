//! The wire format: versioned binary frames on a connection's data channel.
//!
//! Specified in `docs/WIRE.md` (repository root). Every frame is
//! `[version = 2][type][body]`; integers are big-endian; a protocol id is
//! `[len: u8][len bytes of ASCII]`; a peer id is 32 bytes; a signal is the
//! JSON of [`crate::Signal`] running to the end of the frame.
//! [`Frame::decode`] never panics: any input yields a frame or a
//! [`DecodeError`].

mod reassembly;
mod split;

pub use reassembly::{Reassembled, Reassembler, ReassemblyError};
pub use split::MessageFrames;

use bytes::{BufMut, Bytes, BytesMut};

use crate::event::BridgeFailure;
use crate::id::{HandshakeId, PeerId, ProtocolId, RequestId};
use crate::signal::{Signal, SignatureBytes, SignedSignal, MAX_BUNDLE};
use crate::transport::Fingerprint;

/// The wire version this engine speaks.
pub const VERSION: u8 = 2;

/// Domain tag of the `HELLO` signature.
pub const HELLO_TAG: &[u8; 20] = b"n2n-overlay/hello/v2";

/// Domain tag of a signal's signature.
pub const SIGNAL_TAG: &[u8; 21] = b"n2n-overlay/signal/v2";

/// Bytes of header (`version`, `type`) before every body.
pub const HEADER_LEN: usize = 2;

/// Frame type codes (second byte of every frame).
pub mod kind {
    /// Identity proof and initial arcs, first frame each way.
    pub const HELLO: u8 = 1;
    /// A whole application message.
    pub const DATA: u8 = 2;
    /// First chunk of a message split across frames.
    pub const DATA_START: u8 = 3;
    /// Next chunk of a split message.
    pub const DATA_CONT: u8 = 4;
    /// The sender added arcs toward the receiver.
    pub const ARC_ADD: u8 = 5;
    /// The sender removed arcs toward the receiver.
    pub const ARC_REMOVE: u8 = 6;
    /// Bridge asks the receiver to open arcs to a peer.
    pub const CONNECT_TO: u8 = 7;
    /// Outcome of a `CONNECT_TO`.
    pub const CONNECT_DONE: u8 = 8;
    /// Please relay this signal to a peer (sender -> bridge).
    pub const FORWARD: u8 = 9;
    /// A relayed signal (bridge -> destination).
    pub const FORWARDED: u8 = 10;
    /// The bridge could not relay.
    pub const FORWARD_FAILED: u8 = 11;
    /// The destination of an offer refused it (destination -> bridge).
    pub const REFUSE: u8 = 12;
    /// A relayed refusal (bridge -> the offer's origin).
    pub const REFUSED: u8 = 13;
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// First frame each way: who I am (signed) and the arcs I open to you.
    Hello {
        /// The handshake that made this connection.
        handshake: HandshakeId,
        /// The sender's id (its public key).
        peer: PeerId,
        /// Ed25519 signature by `peer` over [`hello_transcript`] (bound to
        /// both ends' DTLS certificates).
        signature: [u8; 64],
        /// Arcs sender -> receiver, per protocol.
        arcs: Vec<(ProtocolId, u32)>,
    },
    /// A whole application message.
    Data {
        /// Its protocol.
        protocol: ProtocolId,
        /// Its bytes.
        payload: Bytes,
    },
    /// First chunk of a message that spans several frames.
    DataStart {
        /// Its protocol.
        protocol: ProtocolId,
        /// The whole message's length.
        total_len: u32,
        /// The first bytes.
        chunk: Bytes,
    },
    /// A further chunk of the message in progress.
    DataCont {
        /// The next bytes.
        chunk: Bytes,
    },
    /// The sender opened `count` more arcs toward the receiver.
    ArcAdd {
        /// Their protocol.
        protocol: ProtocolId,
        /// How many.
        count: u32,
    },
    /// The sender removed `count` arcs toward the receiver.
    ArcRemove {
        /// Their protocol.
        protocol: ProtocolId,
        /// How many.
        count: u32,
    },
    /// The sender (a bridge) asks the receiver to open `count` arcs to `to`.
    ConnectTo {
        /// The bridge's id for this request, echoed in `ConnectDone`.
        req: RequestId,
        /// The arcs' protocol.
        protocol: ProtocolId,
        /// Where to.
        to: PeerId,
        /// How many arcs.
        count: u32,
    },
    /// Outcome of a `ConnectTo`.
    ConnectDone {
        /// The request.
        req: RequestId,
        /// `None` when the arcs are open.
        failure: Option<BridgeFailure>,
    },
    /// Relay `signal` to `to` (sent to a bridge).
    Forward {
        /// The handshake.
        handshake: HandshakeId,
        /// The destination, a neighbour of the bridge.
        to: PeerId,
        /// The signal, numbered and signed by the sender for `to`.
        signal: SignedSignal,
    },
    /// A signal relayed by the sender (a bridge) from `origin`.
    Forwarded {
        /// The handshake.
        handshake: HandshakeId,
        /// Who produced (and signed) the signal.
        origin: PeerId,
        /// The signal, as `origin` signed it.
        signal: SignedSignal,
    },
    /// The bridge could not relay a signal of `handshake`.
    ForwardFailed {
        /// The handshake.
        handshake: HandshakeId,
        /// Why.
        reason: BridgeFailure,
    },
    /// The sender (a destination) refused the offer of `handshake` that
    /// `to` sent it through the receiver (its bridge): relay to `to`.
    Refuse {
        /// The handshake.
        handshake: HandshakeId,
        /// The offer's origin, a neighbour of the bridge.
        to: PeerId,
        /// Why (e.g. [`BridgeFailure::Busy`]).
        reason: BridgeFailure,
    },
    /// `origin` refused our offer of `handshake` (relayed by the sender,
    /// the handshake's bridge).
    Refused {
        /// The handshake.
        handshake: HandshakeId,
        /// Who refused.
        origin: PeerId,
        /// Why.
        reason: BridgeFailure,
    },
}

/// Why a frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Larger than the frame limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Shorter than its type requires.
    #[error("frame truncated")]
    Truncated,
    /// A wire version this engine does not speak.
    #[error("unsupported wire version {0}")]
    Version(u8),
    /// An unknown frame type.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// A protocol id that is not 1..=31 printable ASCII bytes.
    #[error("invalid protocol id")]
    BadProtocol,
    /// A signal that is not valid JSON of a `Signal`.
    #[error("invalid signal JSON")]
    BadSignal,
    /// Bytes left after a fixed-size body.
    #[error("trailing bytes after frame body")]
    Trailing,
}

/// The 157 bytes a `HELLO` signature covers (`docs/WIRE.md`, "Hello"):
/// [`HELLO_TAG`], the wire version, the handshake, the sender's and the
/// receiver's ids, then the sender's and the receiver's certificate
/// fingerprints (all zero for an unbound connection).
pub fn hello_transcript(
    handshake: HandshakeId,
    sender: &PeerId,
    receiver: &PeerId,
    sender_cert: &Fingerprint,
    receiver_cert: &Fingerprint,
) -> [u8; 157] {
    let mut t = [0u8; 157];
    t[..20].copy_from_slice(HELLO_TAG);
    t[20] = VERSION;
    t[21..29].copy_from_slice(&handshake.0.to_be_bytes());
    t[29..61].copy_from_slice(sender.as_bytes());
    t[61..93].copy_from_slice(receiver.as_bytes());
    t[93..125].copy_from_slice(&sender_cert.0);
    t[125..157].copy_from_slice(&receiver_cert.0);
    t
}

/// The bytes a signal's signature covers (`docs/WIRE.md`, "Signed
/// signals"): [`SIGNAL_TAG`], the wire version, origin, destination (32
/// zero bytes for `None`), handshake, sequence number, then the signal's
/// kind and fields in a fixed binary form (independent of JSON).
pub fn signal_transcript(
    origin: &PeerId,
    destination: Option<&PeerId>,
    handshake: HandshakeId,
    seq: u32,
    signal: &Signal,
) -> Vec<u8> {
    bundle_transcript(origin, destination, handshake, seq, std::iter::once(signal))
}

/// The bytes the one signature of a bundle covers (`docs/WIRE.md`,
/// "Bundles"): the transcript of its first signal, with each following
/// signal's kind and fields appended in order. The first signal carries
/// `seq`, the next ones `seq + 1`, `seq + 2`, ... Each signal's binary form
/// says where it ends, so the bytes name exactly one sequence of signals:
/// a relay can neither cut a bundle nor extend it. A bundle of one signal
/// has the bytes of [`signal_transcript`].
pub fn bundle_transcript<'a>(
    origin: &PeerId,
    destination: Option<&PeerId>,
    handshake: HandshakeId,
    seq: u32,
    signals: impl IntoIterator<Item = &'a Signal> + Clone,
) -> Vec<u8> {
    let text: usize = signals.clone().into_iter().map(|s| s.text_len() + 16).sum();
    let mut t = Vec::with_capacity(21 + 1 + 64 + 12 + text);
    t.extend_from_slice(SIGNAL_TAG);
    t.push(VERSION);
    t.extend_from_slice(origin.as_bytes());
    t.extend_from_slice(destination.map_or(&[0u8; 32], |d| d.as_bytes()));
    t.extend_from_slice(&handshake.0.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    for signal in signals {
        put_signal_fields(&mut t, signal);
    }
    t
}

/// One signal's kind and fields, in the binary form signatures cover.
fn put_signal_fields(t: &mut Vec<u8>, signal: &Signal) {
    let long = |t: &mut Vec<u8>, s: &str| {
        t.extend_from_slice(&(s.len() as u32).to_be_bytes());
        t.extend_from_slice(s.as_bytes());
    };
    match signal {
        Signal::Offer { sdp } => {
            t.push(1);
            long(t, sdp);
        }
        Signal::Answer { sdp } => {
            t.push(2);
            long(t, sdp);
        }
        Signal::Candidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        } => {
            t.push(3);
            long(t, candidate);
            match sdp_mid {
                None => t.push(0),
                Some(mid) => {
                    t.push(1);
                    // A longer mid cannot be signed as it is: its length is cut.
                    let m = &mid.as_bytes()[..mid.len().min(u16::MAX as usize)];
                    t.extend_from_slice(&(m.len() as u16).to_be_bytes());
                    t.extend_from_slice(m);
                }
            }
            match sdp_m_line_index {
                None => t.push(0),
                Some(i) => {
                    t.push(1);
                    t.extend_from_slice(&i.to_be_bytes());
                }
            }
        }
        Signal::EndOfCandidates => t.push(4),
    }
}

fn put_protocol(buf: &mut BytesMut, p: &ProtocolId) {
    let s = p.as_str().as_bytes();
    buf.put_u8(s.len() as u8);
    buf.put_slice(s);
}

fn put_signal(buf: &mut BytesMut, s: &SignedSignal) {
    buf.put_u32(s.seq);
    buf.put_slice(&s.signature.0);
    // Serializing a plain enum of strings cannot fail. One signal is its
    // JSON object; a bundle, the JSON array of its signals.
    let json = if s.more.is_empty() {
        serde_json::to_vec(&s.signal)
    } else {
        serde_json::to_vec(&s.signals().collect::<Vec<_>>())
    };
    buf.put_slice(&json.unwrap_or_default());
}

impl Frame {
    /// Header plus the fixed part of a `Data` frame for `protocol`.
    pub fn data_overhead(protocol: &ProtocolId) -> usize {
        HEADER_LEN + 1 + protocol.as_str().len()
    }

    /// Header plus the fixed part of a `DataStart` frame for `protocol`.
    pub fn data_start_overhead(protocol: &ProtocolId) -> usize {
        Self::data_overhead(protocol) + 4
    }

    /// Encode to bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(64);
        b.put_u8(VERSION);
        match self {
            Frame::Hello {
                handshake,
                peer,
                signature,
                arcs,
            } => {
                b.put_u8(kind::HELLO);
                b.put_u64(handshake.0);
                b.put_slice(peer.as_bytes());
                b.put_slice(signature);
                b.put_u16(arcs.len().min(u16::MAX as usize) as u16);
                for (p, n) in arcs.iter().take(u16::MAX as usize) {
                    put_protocol(&mut b, p);
                    b.put_u32(*n);
                }
            }
            Frame::Data { protocol, payload } => {
                b.reserve(payload.len() + 34);
                b.put_u8(kind::DATA);
                put_protocol(&mut b, protocol);
                b.put_slice(payload);
            }
            Frame::DataStart {
                protocol,
                total_len,
                chunk,
            } => {
                b.reserve(chunk.len() + 38);
                b.put_u8(kind::DATA_START);
                put_protocol(&mut b, protocol);
                b.put_u32(*total_len);
                b.put_slice(chunk);
            }
            Frame::DataCont { chunk } => {
                b.reserve(chunk.len() + 2);
                b.put_u8(kind::DATA_CONT);
                b.put_slice(chunk);
            }
            Frame::ArcAdd { protocol, count } | Frame::ArcRemove { protocol, count } => {
                b.put_u8(if matches!(self, Frame::ArcAdd { .. }) {
                    kind::ARC_ADD
                } else {
                    kind::ARC_REMOVE
                });
                put_protocol(&mut b, protocol);
                b.put_u32(*count);
            }
            Frame::ConnectTo {
                req,
                protocol,
                to,
                count,
            } => {
                b.put_u8(kind::CONNECT_TO);
                b.put_u64(req.0);
                put_protocol(&mut b, protocol);
                b.put_slice(to.as_bytes());
                b.put_u32(*count);
            }
            Frame::ConnectDone { req, failure } => {
                b.put_u8(kind::CONNECT_DONE);
                b.put_u64(req.0);
                b.put_u8(failure.map_or(0, BridgeFailure::code));
            }
            Frame::Forward {
                handshake,
                to,
                signal,
            } => {
                b.put_u8(kind::FORWARD);
                b.put_u64(handshake.0);
                b.put_slice(to.as_bytes());
                put_signal(&mut b, signal);
            }
            Frame::Forwarded {
                handshake,
                origin,
                signal,
            } => {
                b.put_u8(kind::FORWARDED);
                b.put_u64(handshake.0);
                b.put_slice(origin.as_bytes());
                put_signal(&mut b, signal);
            }
            Frame::ForwardFailed { handshake, reason } => {
                b.put_u8(kind::FORWARD_FAILED);
                b.put_u64(handshake.0);
                b.put_u8(reason.code());
            }
            Frame::Refuse {
                handshake,
                to: peer,
                reason,
            }
            | Frame::Refused {
                handshake,
                origin: peer,
                reason,
            } => {
                b.put_u8(if matches!(self, Frame::Refuse { .. }) {
                    kind::REFUSE
                } else {
                    kind::REFUSED
                });
                b.put_u64(handshake.0);
                b.put_slice(peer.as_bytes());
                b.put_u8(reason.code());
            }
        }
        b.freeze()
    }

    /// Decode one frame of at most `limit` bytes. Never panics.
    ///
    /// # Errors
    /// A [`DecodeError`] for anything that is not a well-formed frame.
    pub fn decode(frame: &Bytes, limit: usize) -> Result<Frame, DecodeError> {
        if frame.len() > limit {
            return Err(DecodeError::TooLarge {
                size: frame.len(),
                limit,
            });
        }
        let mut r = Reader { buf: frame, pos: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let ty = r.u8()?;
        let f = match ty {
            kind::HELLO => {
                let handshake = HandshakeId(r.u64()?);
                let peer = r.peer()?;
                let signature: [u8; 64] = r.array()?;
                let n = r.u16()? as usize;
                let mut arcs = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let p = r.protocol()?;
                    arcs.push((p, r.u32()?));
                }
                r.end()?;
                Frame::Hello {
                    handshake,
                    peer,
                    signature,
                    arcs,
                }
            }
            kind::DATA => {
                let protocol = r.protocol()?;
                Frame::Data {
                    protocol,
                    payload: r.rest(),
                }
            }
            kind::DATA_START => {
                let protocol = r.protocol()?;
                let total_len = r.u32()?;
                Frame::DataStart {
                    protocol,
                    total_len,
                    chunk: r.rest(),
                }
            }
            kind::DATA_CONT => Frame::DataCont { chunk: r.rest() },
            kind::ARC_ADD | kind::ARC_REMOVE => {
                let protocol = r.protocol()?;
                let count = r.u32()?;
                r.end()?;
                if ty == kind::ARC_ADD {
                    Frame::ArcAdd { protocol, count }
                } else {
                    Frame::ArcRemove { protocol, count }
                }
            }
            kind::CONNECT_TO => {
                let req = RequestId(r.u64()?);
                let protocol = r.protocol()?;
                let to = r.peer()?;
                let count = r.u32()?;
                r.end()?;
                Frame::ConnectTo {
                    req,
                    protocol,
                    to,
                    count,
                }
            }
            kind::CONNECT_DONE => {
                let req = RequestId(r.u64()?);
                let code = r.u8()?;
                r.end()?;
                Frame::ConnectDone {
                    req,
                    failure: (code != 0).then(|| BridgeFailure::from_code(code)),
                }
            }
            kind::FORWARD | kind::FORWARDED => {
                let handshake = HandshakeId(r.u64()?);
                let peer = r.peer()?;
                let seq = r.u32()?;
                let signature = SignatureBytes(r.array()?);
                let (signal, more) = decode_signals(&r.rest())?;
                let signal = SignedSignal {
                    seq,
                    signature,
                    signal,
                    more,
                };
                if ty == kind::FORWARD {
                    Frame::Forward {
                        handshake,
                        to: peer,
                        signal,
                    }
                } else {
                    Frame::Forwarded {
                        handshake,
                        origin: peer,
                        signal,
                    }
                }
            }
            kind::FORWARD_FAILED => {
                let handshake = HandshakeId(r.u64()?);
                let reason = BridgeFailure::from_code(r.u8()?);
                r.end()?;
                Frame::ForwardFailed { handshake, reason }
            }
            kind::REFUSE | kind::REFUSED => {
                let handshake = HandshakeId(r.u64()?);
                let peer = r.peer()?;
                let reason = BridgeFailure::from_code(r.u8()?);
                r.end()?;
                if ty == kind::REFUSE {
                    Frame::Refuse {
                        handshake,
                        to: peer,
                        reason,
                    }
                } else {
                    Frame::Refused {
                        handshake,
                        origin: peer,
                        reason,
                    }
                }
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        Ok(f)
    }
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

/// The JSON of one signal, or of a bundle: an array of 1 to
/// [`MAX_BUNDLE`] signals.
fn decode_signals(json: &[u8]) -> Result<(Signal, Vec<Signal>), DecodeError> {
    if json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let mut all: Vec<Signal> =
            serde_json::from_slice(json).map_err(|_| DecodeError::BadSignal)?;
        if all.is_empty() || all.len() > MAX_BUNDLE {
            return Err(DecodeError::BadSignal);
        }
        let first = all.remove(0);
        Ok((first, all))
    } else {
        let one = serde_json::from_slice(json).map_err(|_| DecodeError::BadSignal)?;
        Ok((one, Vec::new()))
    }
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn peer(&mut self) -> Result<PeerId, DecodeError> {
        Ok(PeerId::from_bytes(self.array()?))
    }
    fn protocol(&mut self) -> Result<ProtocolId, DecodeError> {
        let n = self.u8()? as usize;
        ProtocolId::from_wire(self.take(n)?).ok_or(DecodeError::BadProtocol)
    }
    fn rest(&mut self) -> Bytes {
        let r = self.buf.slice(self.pos.min(self.buf.len())..);
        self.pos = self.buf.len();
        r
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pid(s: &str) -> ProtocolId {
        ProtocolId::new(s).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn every_frame_kind_round_trips() {
        let p = PeerId::from_bytes([9; 32]);
        let frames = vec![
            Frame::Hello {
                handshake: HandshakeId(7),
                peer: p,
                signature: [3; 64],
                arcs: vec![(pid("a"), 2), (pid("bb"), 1)],
            },
            Frame::Data {
                protocol: pid("spray"),
                payload: Bytes::from_static(b"hi"),
            },
            Frame::DataStart {
                protocol: pid("x"),
                total_len: 100,
                chunk: Bytes::from_static(b"abc"),
            },
            Frame::DataCont {
                chunk: Bytes::from_static(b"def"),
            },
            Frame::ArcAdd {
                protocol: pid("x"),
                count: 3,
            },
            Frame::ArcRemove {
                protocol: pid("x"),
                count: 1,
            },
            Frame::ConnectTo {
                req: RequestId(5),
                protocol: pid("x"),
                to: p,
                count: 2,
            },
            Frame::ConnectDone {
                req: RequestId(5),
                failure: None,
            },
            Frame::ConnectDone {
                req: RequestId(6),
                failure: Some(BridgeFailure::NotNeighbour),
            },
            Frame::Forward {
                handshake: HandshakeId(1),
                to: p,
                signal: SignedSignal {
                    seq: 0,
                    signature: SignatureBytes([5; 64]),
                    signal: Signal::Offer { sdp: "v=0".into() },
                    more: vec![],
                },
            },
            Frame::Forwarded {
                handshake: HandshakeId(1),
                origin: p,
                signal: SignedSignal {
                    seq: 7,
                    signature: SignatureBytes([6; 64]),
                    signal: Signal::candidate("candidate:1"),
                    more: vec![Signal::EndOfCandidates],
                },
            },
            Frame::ForwardFailed {
                handshake: HandshakeId(1),
                reason: BridgeFailure::ConnectionLost,
            },
            Frame::Refuse {
                handshake: HandshakeId(10),
                to: p,
                reason: BridgeFailure::Busy,
            },
            Frame::Refused {
                handshake: HandshakeId(11),
                origin: p,
                reason: BridgeFailure::Busy,
            },
        ];
        for f in frames {
            let bytes = f.encode();
            assert_eq!(Frame::decode(&bytes, 1 << 16), Ok(f));
        }
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let d = |b: &'static [u8]| Frame::decode(&Bytes::from_static(b), 64);
        assert_eq!(d(b""), Err(DecodeError::Truncated));
        assert_eq!(d(b"\x01\x02"), Err(DecodeError::Version(1)));
        assert_eq!(d(b"\x02\x63"), Err(DecodeError::UnknownType(0x63)));
        assert_eq!(d(b"\x02\x02\x00"), Err(DecodeError::BadProtocol));
        assert_eq!(d(b"\x02\x05\x01x\x00\x00"), Err(DecodeError::Truncated));
        assert_eq!(
            d(b"\x02\x05\x01x\x00\x00\x00\x01\xff"),
            Err(DecodeError::Trailing)
        );
        let mut forward = b"\x02\x09\0\0\0\0\0\0\0\x01".to_vec();
        forward.extend_from_slice(&[b'a'; 32]);
        forward.extend_from_slice(&[0; 4]);
        forward.extend_from_slice(&[0; 64]);
        forward.push(b'{');
        assert_eq!(
            Frame::decode(&Bytes::from(forward.clone()), 256),
            Err(DecodeError::BadSignal)
        );
        forward.truncate(forward.len() - 10);
        assert_eq!(
            Frame::decode(&Bytes::from(forward), 256),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Frame::decode(&Bytes::from(vec![1u8; 65]), 64),
            Err(DecodeError::TooLarge {
                size: 65,
                limit: 64
            })
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Frame::decode(&Bytes::from(data), 256);
        }

        #[test]
        fn decode_never_panics_on_valid_headers(ty in 0u8..16, data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut v = vec![VERSION, ty];
            v.extend(data);
            let _ = Frame::decode(&Bytes::from(v), 256);
        }
    }
}
