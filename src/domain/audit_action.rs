//! What the audit trail records: every kind of event, named once.

use std::fmt;

/// One kind of audit event. Stored by its snake_case name, which is what operators read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Requested,
    RequesterConfirmed,
    Cancelled,
    ApprovalRecorded,
    Approved,
    Denied,
    Granted,
    GrantFailed,
    FailedGrantUndone,
    Expiring,
    Revoked,
    EndedKeptPriorMembership,
    EndedMembershipStillHeld,
    SweepFound,
    SweepRemoved,
    TrialDataDiscarded,
    Released,
    RevokedEarly,
    Expired,
    ExtensionRequested,
    Extended,
    ExtensionLapsed,
    ApprovedByPolicy,
    Acknowledged,
    PolicyReloaded,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::RequesterConfirmed => "requester_confirmed",
            Self::Cancelled => "cancelled",
            Self::ApprovalRecorded => "approval_recorded",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Granted => "granted",
            Self::GrantFailed => "grant_failed",
            Self::FailedGrantUndone => "failed_grant_undone",
            Self::Expiring => "expiring",
            Self::Revoked => "revoked",
            Self::EndedKeptPriorMembership => "ended_kept_prior_membership",
            Self::EndedMembershipStillHeld => "ended_membership_still_held",
            Self::SweepFound => "sweep_found",
            Self::SweepRemoved => "sweep_removed",
            Self::TrialDataDiscarded => "trial_data_discarded",
            Self::Released => "released",
            Self::RevokedEarly => "revoked_early",
            Self::Expired => "expired",
            Self::ExtensionRequested => "extension_requested",
            Self::Extended => "extended",
            Self::ExtensionLapsed => "extension_lapsed",
            Self::ApprovedByPolicy => "approved_by_policy",
            Self::Acknowledged => "acknowledged",
            Self::PolicyReloaded => "policy_reloaded",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
