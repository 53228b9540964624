//! Jobs: the side effects of a transition, stored as JSON next to the request they belong to and
//! run by the scheduler — durable, so that they survive a restart.

use serde::{Deserialize, Serialize};

use super::identity::{Account, Platform};
use super::notice::Notice;

/// One side effect of a transition. Stored as JSON next to the request it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Post the visible "request #N … pending" message whose thread carries later events.
    Announce,
    /// Confirm who asked, from verified sources, and that they may; then send the cards.
    CheckRequester,
    /// Post an approval card to a channel or an owner.
    PostCard {
        platform: Platform,
        destination: CardDestination,
    },
    /// Re-render every message that shows the request, from its current state.
    RefreshMessages,
    /// Reply in the request's thread.
    NotifyRequester {
        notice: Notice,
    },
    /// Tell one person directly (a direct message), outside the request's thread.
    NotifyPerson {
        person: Account,
        notice: Notice,
    },
    /// Reply under every approval card, addressed to the owners.
    NotifyOwners {
        notice: Notice,
    },
    Grant,
    Revoke,
    /// The drift sweep: every swept Entra group against jitbot's grants; queues the next one.
    Sweep,
    /// Remove a member the sweep found without a grant (`sweep = "remove"`).
    SweepRemove {
        group: String,
        member: String,
    },
    /// Warn the requester that the access ends soon — if it still ends at `expires_at` (an
    /// extension queues its own warning).
    WarnEnding {
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// Remind the owners, halfway through the pending timeout, of a request still waiting.
    RemindPending,
    /// End a request nobody decided within the pending timeout.
    ExpirePending,
    /// Remind the owners of a break-glass use nobody reviewed yet; queues the next reminder.
    RemindAcknowledge,
    /// Announce a break-glass use in the group's security channel(s).
    AnnounceBreakGlass,
    /// Send the audit events the collector has not had yet, in order; queues the next round.
    ForwardAudit,
    /// Purge the audit events older than `audit_retention`; queues the next purge.
    PurgeAudit,
    /// Tell one of a group's approval channels what the sweep found.
    SweepReport {
        platform: Platform,
        channel: String,
        group: String,
        members: Vec<String>,
        removed: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum CardDestination {
    Channel { channel: String },
    Owner { owner: String },
}

/// Failures after which owners hear that a grant or revocation keeps failing.
pub const WARN_OWNERS_AFTER: i64 = 3;

impl Job {
    /// The job's kind, as stored (`grant`, `notify_requester` …): for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Job::Announce => "announce",
            Job::CheckRequester => "check_requester",
            Job::PostCard { .. } => "post_card",
            Job::RefreshMessages => "refresh_messages",
            Job::NotifyRequester { .. } => "notify_requester",
            Job::NotifyOwners { .. } => "notify_owners",
            Job::Grant => "grant",
            Job::Revoke => "revoke",
            Job::Sweep => "sweep",
            Job::SweepRemove { .. } => "sweep_remove",
            Job::WarnEnding { .. } => "warn_ending",
            Job::RemindPending => "remind_pending",
            Job::ExpirePending => "expire_pending",
            Job::RemindAcknowledge => "remind_acknowledge",
            Job::AnnounceBreakGlass => "announce_break_glass",
            Job::SweepReport { .. } => "sweep_report",
            Job::NotifyPerson { .. } => "notify_person",
            Job::ForwardAudit => "forward_audit",
            Job::PurgeAudit => "purge_audit",
        }
    }

    /// After how many attempts the job is given up: revocations never are, grants and checks
    /// after `grant_attempts`, messages after `message_attempts`.
    pub fn attempt_limit(&self, grant_attempts: i64, message_attempts: i64) -> Option<i64> {
        match self {
            // Access must go, and the sweep must come round again: these never give up.
            Job::Revoke
            | Job::Sweep
            | Job::SweepRemove { .. }
            | Job::ExpirePending
            | Job::RemindAcknowledge
            | Job::ForwardAudit
            | Job::PurgeAudit => None,
            Job::Grant | Job::CheckRequester => Some(grant_attempts),
            _ => Some(message_attempts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_tags() {
        let jobs = [
            Job::Grant,
            Job::ExpirePending,
            Job::WarnEnding {
                expires_at: chrono::DateTime::UNIX_EPOCH,
            },
        ];
        for job in jobs {
            let stored = serde_json::to_value(&job).unwrap();
            assert_eq!(stored["job"], job.name());
        }
    }

    #[test]
    fn jobs_round_trip_as_json() {
        let job = Job::PostCard {
            platform: Platform::Slack,
            destination: CardDestination::Owner {
                owner: "bob@example.com".into(),
            },
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
    }
}
