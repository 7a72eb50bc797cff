//! Reassembly of application messages split across frames, with a bounded
//! buffer.

use bytes::{Bytes, BytesMut};

use crate::id::ProtocolId;

/// What feeding one chunk gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembled {
    /// The message is not complete yet.
    Partial,
    /// A whole message.
    Message(ProtocolId, Bytes),
    /// The last chunk of a message that was [discarded](Reassembler::discard):
    /// its protocol and announced length.
    Dropped(ProtocolId, usize),
}

/// Why a chunk was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// The announced message is larger than the limit.
    #[error("announced message of {0} bytes exceeds the limit")]
    TooLarge(u32),
    /// A continuation with no message in progress.
    #[error("continuation without a message in progress")]
    Orphan,
    /// More bytes than announced.
    #[error("more bytes than the message announced")]
    Overrun,
    /// A new message started before the previous one completed.
    #[error("message interrupted by another")]
    Interrupted,
}

struct InProgress {
    protocol: ProtocolId,
    total: usize,
    received: usize,
    /// `None` once discarded: later chunks are counted, not kept.
    buf: Option<BytesMut>,
}

/// Rebuilds messages from `DataStart` / `DataCont` frames of one
/// connection. Frames of one message arrive back to back (the channel is
/// ordered and the sender never interleaves), so one message is in
/// progress at a time; its buffer grows with what arrived, never with what
/// was announced, and never past the limit.
pub struct Reassembler {
    limit: usize,
    current: Option<InProgress>,
}

impl Reassembler {
    /// A reassembler accepting messages of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Reassembler {
            limit,
            current: None,
        }
    }

    /// Bytes buffered for the message in progress.
    pub fn buffered(&self) -> usize {
        self.current
            .as_ref()
            .and_then(|c| c.buf.as_ref())
            .map_or(0, BytesMut::len)
    }

    /// Whether a split message is in progress (kept or discarded).
    pub fn in_progress(&self) -> bool {
        self.current.is_some()
    }

    /// Stop keeping the message in progress (its buffer is freed at once):
    /// its remaining chunks are accepted and counted, and its last one
    /// gives [`Reassembled::Dropped`]. Used when the node's reassembly
    /// memory is exhausted: the sender did nothing wrong.
    pub fn discard(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.buf = None;
        }
    }

    /// The first chunk of a message of `total` bytes. Call
    /// [`Reassembler::whole`] first to learn whether it interrupts a message
    /// in progress.
    ///
    /// # Errors
    /// If the message is too large or overruns its length; or if it
    /// interrupts one in progress: that one is dropped, and this one is
    /// kept (unless it is already complete: then it is dropped too).
    pub fn start(
        &mut self,
        protocol: ProtocolId,
        total: u32,
        chunk: &[u8],
    ) -> Result<Reassembled, ReassemblyError> {
        let interrupted = self.current.take().is_some();
        if total as usize > self.limit {
            return Err(ReassemblyError::TooLarge(total));
        }
        let mut buf = BytesMut::with_capacity(chunk.len().min(total as usize));
        buf.extend_from_slice(chunk);
        self.current = Some(InProgress {
            protocol,
            total: total as usize,
            received: chunk.len(),
            buf: Some(buf),
        });
        let r = self.check();
        if interrupted {
            return Err(ReassemblyError::Interrupted);
        }
        r
    }

    /// A further chunk.
    ///
    /// # Errors
    /// If no message is in progress or the chunk overruns it.
    pub fn cont(&mut self, chunk: &[u8]) -> Result<Reassembled, ReassemblyError> {
        let cur = self.current.as_mut().ok_or(ReassemblyError::Orphan)?;
        cur.received = cur.received.saturating_add(chunk.len());
        if cur.received > cur.total {
            self.current = None;
            return Err(ReassemblyError::Overrun);
        }
        if let Some(buf) = cur.buf.as_mut() {
            buf.extend_from_slice(chunk);
        }
        self.check()
    }

    /// Whether a whole (unsplit) message may arrive now; a message in
    /// progress is dropped if not.
    ///
    /// # Errors
    /// [`ReassemblyError::Interrupted`] if a split message was in progress.
    pub fn whole(&mut self) -> Result<(), ReassemblyError> {
        match self.current.take() {
            Some(_) => Err(ReassemblyError::Interrupted),
            None => Ok(()),
        }
    }

    fn check(&mut self) -> Result<Reassembled, ReassemblyError> {
        let Some(cur) = self.current.as_ref() else {
            return Ok(Reassembled::Partial);
        };
        if cur.received > cur.total {
            self.current = None;
            return Err(ReassemblyError::Overrun);
        }
        if cur.received == cur.total {
            if let Some(done) = self.current.take() {
                return Ok(match done.buf {
                    Some(buf) => Reassembled::Message(done.protocol, buf.freeze()),
                    None => Reassembled::Dropped(done.protocol, done.total),
                });
            }
        }
        Ok(Reassembled::Partial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_and_bounds() -> Result<(), ReassemblyError> {
        let p = ProtocolId::new("p").map_err(|_| ReassemblyError::Orphan)?;
        let mut r = Reassembler::new(10);
        assert_eq!(r.start(p, 6, b"abc")?, Reassembled::Partial);
        assert_eq!(
            r.cont(b"def")?,
            Reassembled::Message(p, Bytes::from_static(b"abcdef"))
        );
        assert_eq!(r.cont(b"x"), Err(ReassemblyError::Orphan));
        assert_eq!(r.start(p, 11, b"a"), Err(ReassemblyError::TooLarge(11)));
        assert_eq!(r.start(p, 2, b"a")?, Reassembled::Partial);
        assert_eq!(r.cont(b"bc"), Err(ReassemblyError::Overrun));
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.start(p, 4, b"a")?, Reassembled::Partial);
        assert_eq!(r.whole(), Err(ReassemblyError::Interrupted));
        Ok(())
    }

    #[test]
    fn an_interrupting_start_keeps_the_new_message() -> Result<(), ReassemblyError> {
        let p = ProtocolId::new("p").map_err(|_| ReassemblyError::Orphan)?;
        let mut r = Reassembler::new(10);
        assert_eq!(r.start(p, 6, b"old")?, Reassembled::Partial);
        assert_eq!(r.start(p, 4, b"ne"), Err(ReassemblyError::Interrupted));
        assert_eq!(
            r.cont(b"wz")?,
            Reassembled::Message(p, Bytes::from_static(b"newz"))
        );
        Ok(())
    }

    #[test]
    fn a_discarded_message_frees_its_buffer_and_ends_cleanly() -> Result<(), ReassemblyError> {
        let p = ProtocolId::new("p").map_err(|_| ReassemblyError::Orphan)?;
        let mut r = Reassembler::new(10);
        assert_eq!(r.start(p, 6, b"abc")?, Reassembled::Partial);
        assert_eq!(r.buffered(), 3);
        r.discard();
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.cont(b"de")?, Reassembled::Partial);
        assert_eq!(r.cont(b"f")?, Reassembled::Dropped(p, 6));
        assert!(!r.in_progress());
        assert_eq!(r.start(p, 2, b"g")?, Reassembled::Partial);
        r.discard();
        assert_eq!(r.cont(b"hi"), Err(ReassemblyError::Overrun));
        Ok(())
    }
}
