//! `RetryAfter`: a failure that says when to try again. A leaf, so that the Graph client and the
//! providers can say so without knowing the scheduler that honours it.

use std::time::Duration;

/// A failure that says when to try again (Graph's `Retry-After` on 429, 503, 504): the scheduler
/// waits that long instead of its own backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("asked to retry after {0:?}")]
pub struct RetryAfter(pub Duration);

/// Whether a failure asked to be retried later (throttling), rather than failed for good.
pub fn is_retry_after(error: &anyhow::Error) -> bool {
    retry_after_of(error).is_some()
}

/// `RetryAfter` attached as context is seen by anyhow's own downcast; as a cause, in the chain.
pub fn retry_after_of(error: &anyhow::Error) -> Option<RetryAfter> {
    error
        .downcast_ref::<RetryAfter>()
        .or_else(|| error.chain().find_map(|e| e.downcast_ref::<RetryAfter>()))
        .copied()
}
