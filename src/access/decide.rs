//! Decide: an owner approves or denies. Authorised against the policy at the moment of the click;
//! the first valid decision wins, and a quorum of approvals is needed when the group asks for one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{AccessError, owners};
use crate::app::App;
use crate::domain::{GroupPolicy, Notice, Person, Refusal, RequestStatus, Verdict};
use crate::jobs::{self, Job};
use crate::store::{self, audit, decisions, requests};

pub struct DecisionInput {
    pub request_id: i64,
    pub decider: Person,
    pub verdict: Verdict,
    /// Where the click happened, for the audit trail.
    pub channel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The request's status after this decision: still pending while approvals are missing.
    pub status: RequestStatus,
    pub approvals: u32,
    pub required: u32,
}

/// How long a click may wait for Graph to list an Entra group's owners.
const OWNERS_TIMEOUT: Duration = Duration::from_secs(1);

async fn current_owners(app: &App, group: &GroupPolicy) -> Result<GroupPolicy, Refusal> {
    let unavailable = || Refusal::OwnersUnavailable {
        group: group.name.clone(),
    };
    match tokio::time::timeout(OWNERS_TIMEOUT, owners::current(app, group)).await {
        Ok(Ok(group)) => Ok(group),
        Ok(Err(error)) => {
            tracing::warn!(
                group = group.name,
                error = format!("{error:#}"),
                "could not read the owners at a click"
            );
            Err(unavailable())
        }
        Err(_) => {
            tracing::warn!(
                group = group.name,
                "Graph did not list the owners in time at a click"
            );
            Err(unavailable())
        }
    }
}

pub async fn decide(
    app: &App,
    input: DecisionInput,
    now: DateTime<Utc>,
) -> Result<Decided, AccessError> {
    let decider = &input.decider;
    // The owners as they are now — for Entra-owned groups Graph is asked, before the write lock,
    // and only briefly: the click must be answered within Slack's 3 seconds.
    let current_group = match requests::get(&app.db, input.request_id).await? {
        Some(request) => match app.policy().group(&request.group) {
            Ok(group) => Some(current_owners(app, group).await?),
            Err(_) => None,
        },
        None => None,
    };
    let mut tx = store::write(&app.db).await?;
    let request = requests::get(&mut *tx, input.request_id)
        .await?
        .ok_or(Refusal::NoSuchRequest(input.request_id))?;
    let earlier = decisions::of_request(&mut *tx, request.id).await?;
    if request.status != RequestStatus::Pending {
        let deciding_verdict = if request.status == RequestStatus::Denied {
            Verdict::Deny
        } else {
            Verdict::Approve
        };
        let by: Vec<String> = earlier
            .iter()
            .filter(|d| d.verdict == deciding_verdict)
            .map(|d| d.decider_key.clone())
            .collect();
        return Err(Refusal::AlreadyDecided {
            id: request.id,
            verdict: deciding_verdict,
            by: (!by.is_empty()).then(|| by.join(", ")),
            status: request.status,
        }
        .into());
    }
    // The policy as it is now, not as it was when the request was made.
    let group = current_group
        .as_ref()
        .filter(|group| group.name == request.group)
        .ok_or_else(|| Refusal::NotOwner {
            group: request.group.clone(),
        })?;
    if !group.is_owner(decider) {
        return Err(Refusal::NotOwner {
            group: group.name.clone(),
        }
        .into());
    }
    if decider.is(&request.requester) && !group.allow_self_approval {
        return Err(Refusal::OwnRequest {
            group: group.name.clone(),
        }
        .into());
    }

    let decider_key = decider.key();
    let approvals_before = earlier
        .iter()
        .filter(|d| d.verdict == Verdict::Approve)
        .count() as u32;
    if !decisions::insert(&mut *tx, request.id, &decider_key, input.verdict, now).await? {
        return Err(Refusal::AlreadyApproved {
            id: request.id,
            missing: group.approvals_required.saturating_sub(approvals_before),
        }
        .into());
    }
    let approvals = approvals_before + u32::from(input.verdict == Verdict::Approve);
    let status = match input.verdict {
        Verdict::Deny => RequestStatus::Denied,
        Verdict::Approve if approvals >= group.approvals_required => RequestStatus::Approved,
        Verdict::Approve => RequestStatus::Pending,
    };
    let event = |action: &'static str| audit::NewEvent {
        at: now,
        request_id: Some(request.id),
        actor: &decider_key,
        action,
        platform: Some(decider.platform.as_str()),
        channel: input.channel.as_deref(),
        detail: json!({
            "group": group.name,
            "approvals": approvals,
            "approvals_required": group.approvals_required,
        }),
    };
    match status {
        RequestStatus::Pending => {
            audit::append(&mut tx, event("approval_recorded")).await?;
        }
        decided => {
            // The transaction holds the write lock, so this compare-and-swap cannot lose; it
            // still guards the invariant should that ever change.
            if !requests::mark_decided(&mut *tx, request.id, decided, now).await? {
                return Err(Refusal::AlreadyDecided {
                    id: request.id,
                    verdict: input.verdict,
                    by: None,
                    status: decided,
                }
                .into());
            }
            let (action, notice) = if decided == RequestStatus::Denied {
                (
                    "denied",
                    Notice::Denied {
                        by: decider_key.clone(),
                    },
                )
            } else {
                (
                    "approved",
                    Notice::Approved {
                        by: decider_key.clone(),
                    },
                )
            };
            audit::append(&mut tx, event(action)).await?;
            jobs::enqueue(&mut tx, request.id, &Job::NotifyRequester { notice }, now).await?;
            if decided == RequestStatus::Approved {
                jobs::enqueue(&mut tx, request.id, &Job::Grant, now).await?;
            }
        }
    }
    jobs::enqueue(&mut tx, request.id, &Job::RefreshMessages, now).await?;
    tx.commit().await?;
    app.wake_scheduler();
    tracing::info!(
        request_id = request.id,
        decider = decider_key,
        ?status,
        "decision recorded"
    );
    Ok(Decided {
        status,
        approvals,
        required: group.approvals_required,
    })
}
