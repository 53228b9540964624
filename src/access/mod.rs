//! Use cases: each one validates against the policy at that moment and changes state in one
//! transaction — the row (compare-and-swap), an audit event, and the jobs for its side effects.

pub mod check;
pub mod decide;
pub mod directory;
pub mod expire;
pub mod grant;
pub mod owners;
pub mod submit;
pub mod sweep;

use crate::domain::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The person's request or click is not allowed; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Something on our side broke.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AccessError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// The actor name the scheduler's own transitions are audited under.
pub const SCHEDULER: &str = "jitbot";
