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
    /// To the requester: the access ends soon; Extend and I'm done go with it.
    EndingSoon {
        expires_at: DateTime<Utc>,
        /// How long is left when it is said, as "15m".
        left: String,
    },
    /// The requester ended the access early ("I'm done").
    Released,
    /// An owner ended the access early, for this reason.
    Revoked {
        by: Account,
        reason: String,
    },
    /// Nobody decided within the group's pending timeout.
    Expired,
    /// To the owners, halfway through the pending timeout: the request still waits for them.
    Reminder {
        expires_at: DateTime<Utc>,
    },
    /// An extension (request `extension`) was asked for.
    ExtensionAsked {
        extension: i64,
        duration: String,
    },
    /// The access now lasts longer.
    Extended {
        until: DateTime<Utc>,
    },
    /// An extension was not applied: the access had ended, or the rules no longer allow it.
    ExtensionLapsed {
        reason: String,
    },
    /// Approved ahead of a scheduled start; granted then.
    Scheduled {
        starts_at: DateTime<Utc>,
    },
    /// Approved by a rule of the group rather than by an owner.
    ApprovedByPolicy {
        rule: String,
    },
    /// Someone asked on the requester's behalf; said to the requester.
    OnBehalf {
        by: Account,
    },
    /// An owner reviewed the break-glass use.
    Acknowledged {
        by: Account,
    },
    /// To the owners, daily: a break-glass use still waits for review.
    AcknowledgeReminder,
}

impl Notice {
    /// The people a notice speaks of, to be shown by name.
    pub fn people(&self) -> Vec<Account> {
        match self {
            Notice::Approved { by }
            | Notice::Denied { by }
            | Notice::Revoked { by, .. }
            | Notice::OnBehalf { by }
            | Notice::Acknowledged { by } => vec![by.clone()],
            _ => Vec::new(),
        }
    }

    /// Who a private notice is for: whoever asked (the submitter, for a request on someone's
    /// behalf) hears why it was turned down; the person holding access hears why it was revoked.
    pub fn private_to<'a>(&self, request: &'a super::AccessRequest) -> &'a Account {
        match self {
            Notice::Revoked { .. } => &request.requester.account,
            _ => request
                .submitted_by
                .as_ref()
                .map_or(&request.requester.account, |asker| &asker.account),
        }
    }

    /// Whether the notice carries a reason meant for the requester alone (why a request was
    /// cancelled, not granted, or revoked): the thread may be in a channel others read.
    pub fn is_private(&self) -> bool {
        matches!(
            self,
            Notice::Cancelled { .. } | Notice::GrantRefused { .. } | Notice::Revoked { .. }
        )
    }
}
