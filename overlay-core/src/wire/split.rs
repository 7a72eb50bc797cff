//! Splitting an application message into frames, the inverse of
//! [`super::Reassembler`]: one `DATA` frame when it fits, else one
//! `DATA_START` (with the total length) and `DATA_CONT` frames, each at
//! most the frame limit.

use bytes::Bytes;

use super::{Frame, HEADER_LEN};
use crate::id::ProtocolId;

/// The encoded frames of one message, in order (see the module docs).
#[derive(Debug)]
pub struct MessageFrames {
    protocol: ProtocolId,
    payload: Bytes,
    max_frame: usize,
    /// Bytes of `payload` already framed; `None` before the first frame.
    offset: Option<usize>,
}

impl MessageFrames {
    /// The frames of `payload` for `protocol`, each at most `max_frame`
    /// bytes (which must leave room for a `DATA_START` header and one
    /// byte: the engine's config guarantees it).
    pub fn new(protocol: ProtocolId, payload: Bytes, max_frame: usize) -> Self {
        let max_frame = max_frame.max(Frame::data_start_overhead(&protocol) + 1);
        MessageFrames {
            protocol,
            payload,
            max_frame,
            offset: None,
        }
    }
}

impl Iterator for MessageFrames {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let len = self.payload.len();
        match self.offset {
            None if Frame::data_overhead(&self.protocol) + len <= self.max_frame => {
                self.offset = Some(len);
                Some(
                    Frame::Data {
                        protocol: self.protocol,
                        payload: self.payload.clone(),
                    }
                    .encode(),
                )
            }
            None => {
                let first = self.max_frame - Frame::data_start_overhead(&self.protocol);
                self.offset = Some(first);
                Some(
                    Frame::DataStart {
                        protocol: self.protocol,
                        total_len: len as u32,
                        chunk: self.payload.slice(..first),
                    }
                    .encode(),
                )
            }
            Some(off) if off < len => {
                let end = (off + self.max_frame - HEADER_LEN).min(len);
                self.offset = Some(end);
                Some(
                    Frame::DataCont {
                        chunk: self.payload.slice(off..end),
                    }
                    .encode(),
                )
            }
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Reassembled, Reassembler};

    #[test]
    fn split_frames_reassemble_to_the_message() {
        let p = ProtocolId::new("x").unwrap_or_else(|_| unreachable!());
        for (len, max) in [
            (0, 64),
            (10, 64),
            (61, 64),
            (62, 64),
            (1000, 64),
            (70_000, 65_536),
        ] {
            let payload = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
            let frames: Vec<Bytes> = MessageFrames::new(p, payload.clone(), max).collect();
            assert!(frames.iter().all(|f| f.len() <= max), "{len}/{max}");
            let mut r = Reassembler::new(1 << 20);
            let mut got = None;
            for f in frames {
                let out = match Frame::decode(&f, max) {
                    Ok(Frame::Data { payload, .. }) => Some(payload),
                    Ok(Frame::DataStart {
                        protocol,
                        total_len,
                        chunk,
                    }) => match r.start(protocol, total_len, &chunk) {
                        Ok(Reassembled::Message(_, m)) => Some(m),
                        _ => None,
                    },
                    Ok(Frame::DataCont { chunk }) => match r.cont(&chunk) {
                        Ok(Reassembled::Message(_, m)) => Some(m),
                        _ => None,
                    },
                    other => panic!("unexpected {other:?}"),
                };
                if out.is_some() {
                    assert!(got.is_none());
                    got = out;
                }
            }
            assert_eq!(got, Some(payload), "{len}/{max}");
        }
    }
}
