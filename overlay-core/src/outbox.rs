//! A connection's outgoing queue: bounded for application data, credit
//! limited toward the transport.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::id::ConnId;
use crate::transport::TransportCommand;

/// Bookkeeping memory of one queued frame beyond its bytes (queue slot,
/// shared buffer header, allocator rounding), counted against the reply
/// queue limit so that many tiny frames cannot cost far more than it.
pub(crate) const FRAME_OVERHEAD: usize = 64;

/// Frames waiting for transport credit.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<(Bytes, bool)>,
    /// Bytes of application frames queued here.
    app_bytes: usize,
    /// Bytes of control frames queued here.
    control_bytes: usize,
    /// Control frames queued here.
    control_frames: usize,
    /// Bytes handed to the transport and not reported sent.
    in_flight: usize,
    /// A sender was refused since the queue last had room.
    pub(crate) blocked: bool,
    /// Frames and bytes handed to the transport, for stats.
    pub(crate) frames_sent: u64,
    pub(crate) bytes_sent: u64,
}

impl Outbox {
    pub(crate) fn app_bytes(&self) -> usize {
        self.app_bytes
    }

    /// Memory held by queued control frames: their bytes plus
    /// [`FRAME_OVERHEAD`] each.
    pub(crate) fn control_memory(&self) -> usize {
        self.control_bytes + self.control_frames * FRAME_OVERHEAD
    }

    /// Queue a control frame (never refused).
    pub(crate) fn push_control(&mut self, frame: Bytes) {
        self.control_bytes += frame.len();
        self.control_frames += 1;
        self.queue.push_back((frame, false));
    }

    /// Queue a control frame ahead of everything.
    pub(crate) fn push_control_front(&mut self, frame: Bytes) {
        self.control_bytes += frame.len();
        self.control_frames += 1;
        self.queue.push_front((frame, false));
    }

    /// Queue application frames (the caller checked the limit).
    pub(crate) fn push_app(&mut self, frame: Bytes) {
        self.app_bytes += frame.len();
        self.queue.push_back((frame, true));
    }

    /// Hand frames to the transport while the window allows. A frame
    /// larger than the window goes alone.
    pub(crate) fn pump(
        &mut self,
        conn: ConnId,
        window: usize,
        out: &mut VecDeque<TransportCommand>,
    ) {
        while let Some((frame, _)) = self.queue.front() {
            if self.in_flight > 0 && self.in_flight + frame.len() > window {
                break;
            }
            let Some((frame, app)) = self.queue.pop_front() else {
                break;
            };
            if app {
                self.app_bytes -= frame.len();
            } else {
                self.control_bytes -= frame.len();
                self.control_frames -= 1;
            }
            self.in_flight += frame.len();
            self.frames_sent += 1;
            self.bytes_sent += frame.len() as u64;
            out.push_back(TransportCommand::Send { conn, frame });
        }
    }

    /// The transport reports `bytes` sent.
    pub(crate) fn on_sent(&mut self, bytes: usize) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
    }
}
