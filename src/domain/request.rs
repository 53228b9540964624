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
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 8] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::Active,
        Self::Revoking,
        Self::Ended,
        Self::Failed,
        Self::Cancelled,
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
                | (Approved, Active)
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
}
