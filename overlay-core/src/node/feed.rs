//! The pipelined send path: [`ProtocolHandle::feed`](super::ProtocolHandle::feed)
//! queues a message for the node without waiting for the node's answer;
//! [`ProtocolHandle::flush`](super::ProtocolHandle::flush) waits until every
//! message fed before it was handed to the engine and reports the ones that
//! could not be.
//!
//! Bounded: each fed message holds credit (its size in bytes, at most the
//! whole budget) from a per-handle budget until the node has handed it to
//! the engine (or failed it), so fed messages waiting in the command queue
//! or for room on their connection never exceed the budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::command::Reply;
use crate::error::SendError;

/// Bytes of fed messages a handle may have between `feed` and the engine
/// (in the node's command queue or waiting for room on their connection).
pub(crate) const FEED_BUDGET: u32 = 1024 * 1024;

/// Messages fed through a [`ProtocolHandle`](super::ProtocolHandle) that the
/// node could not queue (returned by
/// [`ProtocolHandle::flush`](super::ProtocolHandle::flush)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{failed} fed message(s) could not be sent (the first: {first}); they were not queued")]
#[non_exhaustive]
pub struct FeedError {
    /// Why the first of them failed.
    pub first: SendError,
    /// How many failed since the last report.
    pub failed: u64,
}

/// A handle's pipeline state: its credit and the failures not yet reported.
#[derive(Debug)]
pub(crate) struct FeedState {
    budget: Arc<Semaphore>,
    failed: AtomicU64,
    first: Mutex<Option<SendError>>,
}

impl Default for FeedState {
    fn default() -> Self {
        FeedState {
            budget: Arc::new(Semaphore::new(FEED_BUDGET as usize)),
            failed: AtomicU64::new(0),
            first: Mutex::new(None),
        }
    }
}

impl FeedState {
    /// Credit for a message of `len` bytes (waits while the budget is
    /// spent). `None` only if the semaphore were closed (it never is).
    pub(crate) async fn credit(self: &Arc<Self>, len: usize) -> Option<FeedTicket> {
        let n = u32::try_from(len).unwrap_or(u32::MAX).clamp(1, FEED_BUDGET);
        let permit = self.budget.clone().acquire_many_owned(n).await.ok()?;
        Some(FeedTicket {
            state: self.clone(),
            permit: Some(permit),
        })
    }

    fn record(&self, e: SendError) {
        tracing::debug!(error = %e, "a fed message could not be sent");
        let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(e);
        }
        self.failed.fetch_add(1, Ordering::AcqRel);
    }

    /// Wait until every message fed so far was handed to the engine (or
    /// failed); then the failures since the last report.
    pub(crate) async fn flush(&self) -> Result<(), FeedError> {
        // All the credit back = nothing fed is still on its way.
        if let Ok(all) = self.budget.acquire_many(FEED_BUDGET).await {
            drop(all);
        }
        self.take()
    }

    /// The failures since the last report, without waiting.
    pub(crate) fn take(&self) -> Result<(), FeedError> {
        if self.failed.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        let failed = self.failed.swap(0, Ordering::AcqRel);
        match first.take() {
            Some(first) if failed > 0 => Err(FeedError { first, failed }),
            _ => Ok(()),
        }
    }
}

/// One fed message's credit and where its outcome goes. Dropped without
/// [`FeedTicket::finish`] (the node stopped with the message still queued),
/// it records [`SendError::NodeGone`]: a fed message is never lost silently.
#[derive(Debug)]
pub(crate) struct FeedTicket {
    state: Arc<FeedState>,
    permit: Option<OwnedSemaphorePermit>,
}

impl FeedTicket {
    /// The node is done with the message: record a failure, return the credit.
    pub(crate) fn finish(mut self, result: Result<(), SendError>) {
        if let Err(e) = result {
            self.state.record(e);
        }
        self.permit = None;
    }

    /// The message never reached the node (`feed` reports that itself).
    pub(crate) fn disarm(mut self) {
        self.permit = None;
    }
}

impl Drop for FeedTicket {
    fn drop(&mut self) {
        if self.permit.take().is_some() {
            self.state.record(SendError::NodeGone);
        }
    }
}

/// Where the outcome of a send goes: the awaiting caller of `send`, or the
/// pipeline of `feed`.
#[derive(Debug)]
pub(crate) enum SendReply {
    /// `send` / `try_send`: the caller awaits this.
    Await(Reply<Result<(), SendError>>),
    /// `feed`: failures are reported by the handle's next `flush`.
    Fed(FeedTicket),
}

impl SendReply {
    pub(crate) fn send(self, result: Result<(), SendError>) {
        match self {
            SendReply::Await(reply) => {
                let _ = reply.send(result);
            }
            SendReply::Fed(ticket) => ticket.finish(result),
        }
    }
}
