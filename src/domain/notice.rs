//! Notices: what the lifecycle tells people, independent of how a platform renders it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::identity::Account;

/// One event worth a message in a request's thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    Approved {
        by: Account,
    },
    Denied {
        by: Account,
    },
    Granted {
        expires_at: DateTime<Utc>,
    },
    /// Access ended; `kept` means the person was a member before jitbot and still is, and
    /// `still_held_by` names another of their requests that still grants the same membership.
    Ended {
        kept: bool,
        #[serde(default)]
        still_held_by: Option<i64>,
    },
    /// Said with an error id only: the error chain is in the log, never in chat.
    GrantFailed {
        #[serde(alias = "error")]
        error_id: String,
    },
    /// What jitbot found differs from what the access system says (e.g. PIM had not ended a
    /// membership at expiry).
    Disagreement {
        detail: String,
    },
    /// Approved, but not granted: the requester no longer passes the directory's checks.
    GrantRefused {
        reason: String,
    },
    /// The request was withdrawn before any decision, for this reason.
    Cancelled {
        reason: String,
    },
    /// To the owners: a grant or revocation keeps failing and is being retried.
    StillFailing {
        action: String,
        attempts: u32,
        #[serde(alias = "error")]
        error_id: String,
    },
    /// To the owners: the revocation that was failing went through.
    Recovered {
        action: String,
    },
    /// To the owners: what a grant that was given up may have done has been removed.
    FailedGrantUndone,
}

impl Notice {
    /// The people a notice speaks of, to be shown by name.
    pub fn people(&self) -> Vec<Account> {
        match self {
            Notice::Approved { by } | Notice::Denied { by } => vec![by.clone()],
            _ => Vec::new(),
        }
    }

    /// Whether the notice says why the requester was turned down: for them alone, where the
    /// platform cannot show a message to one person in a shared conversation.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Notice::Cancelled { .. } | Notice::GrantRefused { .. })
    }
}
