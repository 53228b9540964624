//! The request lifecycle: which states exist and which moves between them are allowed.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    Active,
    Revoking,
    Ended,
    Failed,
    Cancelled,
    /// Nobody decided within the group's `pending_timeout`.
    Expired,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 9] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::Active,
        Self::Revoking,
        Self::Ended,
        Self::Failed,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Active => "active",
            Self::Revoking => "revoking",
            Self::Ended => "ended",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// Statuses in which a person still "has" the request: a second one for the same group is refused.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Approved | Self::Active | Self::Revoking
        )
    }

    /// The moves the lifecycle allows; every compare-and-swap in the store follows one of them.
    pub fn can_become(self, next: RequestStatus) -> bool {
        use RequestStatus::*;
        matches!(
            (self, next),
            (Pending, Approved)
                | (Pending, Denied)
                | (Pending, Cancelled)
                | (Pending, Expired)
                // A scheduled request, approved ahead of its start, may still be withdrawn.
                | (Approved, Cancelled)
                | (Approved, Active)
                // An extension, once its time is added to the request it extends.
                | (Approved, Ended)
                | (Approved, Failed)
                | (Active, Revoking)
                | (Revoking, Ended)
        )
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown request status `{s}`"))
    }
}

/// An owner's answer to a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        }
    }

    pub fn past_tense(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Deny => "denied",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestStatus::*;
    use super::*;

    #[test]
    fn follows_the_lifecycle() {
        assert!(Pending.can_become(Approved));
        assert!(Pending.can_become(Denied));
        assert!(Approved.can_become(Active));
        assert!(Active.can_become(Revoking));
        assert!(Revoking.can_become(Ended));
        assert!(!Pending.can_become(Active));
        assert!(!Denied.can_become(Approved));
        assert!(!Ended.can_become(Active));
    }

    #[test]
    fn round_trips_through_text() {
        for status in RequestStatus::ALL {
            assert_eq!(status.as_str().parse::<RequestStatus>(), Ok(status));
        }
    }
}

/// A request as stored: who asked for what, why, and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRequest {
    pub id: i64,
    pub group: String,
    /// Who asked, with the facts verified so far (all of them once `confirmed_at` is set).
    pub requester: super::Principal,
    pub justification: String,
    pub duration: super::AccessDuration,
    pub status: RequestStatus,
    /// The platform channel or conversation where it was asked.
    pub origin_channel: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub granted_at: Option<chrono::DateTime<chrono::Utc>>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `Some(true)`: a member before jitbot's grant, so revocation leaves them in place.
    pub already_member: Option<bool>,
    pub failure: Option<String>,
    /// When jitbot verified who asked (their account, addresses, directory entry) and that
    /// they may ask. Until then no card is shown and nobody can decide.
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// For `owners = "entra"`: the owners when the request was made, as stored JSON.
    pub owner_snapshot: Option<String>,
    /// What is asked: access, more time on an active grant, or break-glass access.
    pub kind: RequestKind,
    /// A scheduled start as typed (`tomorrow 09:00`), read in the requester's time zone by
    /// the check.
    pub start_spec: Option<String>,
    /// A scheduled start: approved ahead, granted at this moment.
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Who asked on the requester's behalf (their manager or a delegate), if someone did, with
    /// the facts verified so far (all of them once `confirmed_at` is set).
    pub submitted_by: Option<super::Principal>,
    /// How active access ended before its time, if it did.
    pub ended_early: Option<EarlyEnd>,
    /// For break-glass access: the owner who reviewed it, and when.
    pub acknowledged: Option<(super::Account, chrono::DateTime<chrono::Utc>)>,
    /// What it grants, fixed when it was made (`None`: an extension, which grants what the
    /// request it extends does, or a request older than snapshots whose group has left).
    pub grant_target: Option<super::GrantTarget>,
}

/// A scheduled request can be withdrawn until this long before its start: a click read its
/// clock a moment before it lands, and the grant must not be under way by then.
pub const CANCEL_BEFORE_START: chrono::Duration = chrono::Duration::minutes(1);

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Access to a group for a while: the usual request.
    Access,
    /// More time on the active request `of`; approved like a request, applied to that one.
    Extension { of: i64 },
    /// Emergency access, granted at once and reviewed afterwards.
    BreakGlass,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Extension { .. } => "extension",
            Self::BreakGlass => "break_glass",
        }
    }
}

/// Access ended before its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EarlyEnd {
    /// The requester said "I'm done".
    Released,
    /// An owner ended it, for this reason.
    Revoked { by: super::Account, reason: String },
}

impl AccessRequest {
    /// The request whose thread and grant this one belongs to: itself, or for an extension the
    /// request it extends.
    pub fn thread_id(&self) -> i64 {
        match self.kind {
            RequestKind::Extension { of } => of,
            _ => self.id,
        }
    }

    /// Whether this person asked: the requester (known by any of the same keys), or whoever
    /// asked on their behalf.
    pub fn is_asked_by(&self, person: &super::Principal) -> bool {
        let keys = person.own_keys();
        !keys.is_disjoint(&self.requester.own_keys())
            || self
                .submitted_by
                .as_ref()
                .is_some_and(|submitter| !keys.is_disjoint(&submitter.own_keys()))
    }

    /// Whether the request may still be withdrawn: pending, or approved for a start that has not
    /// come yet (from then on the grant may be under way).
    pub fn can_be_cancelled(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.status == RequestStatus::Pending
            || (self.status == RequestStatus::Approved
                && self
                    .starts_at
                    .is_some_and(|start| start > now + CANCEL_BEFORE_START))
    }
}
