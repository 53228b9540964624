//! Decide: an owner approves or denies. Authorised against the policy at the moment of the click;
//! the first valid decision wins, and a quorum of approvals is needed when the group asks for one.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{AccessError, Core, owners};
use crate::domain::Job;
use crate::domain::decision::{judge, settled};
use crate::domain::{
    AccessRequest, AuditAction, Decision, GroupPolicy, Judged, Notice, Principal, Refusal,
    RequestStatus, Verdict,
};
use crate::store::{self, audit, decisions, requests};

pub struct DecisionInput {
    pub request_id: i64,
    pub decider: Principal,
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

/// An owner approves or denies. Who may is judged against the group as it is now (for Entra
/// owners, as Graph lists them now) inside the write transaction, so two clicks cannot both win
/// and one person never counts twice.
pub async fn decide(
    core: &Core,
    input: DecisionInput,
    now: DateTime<Utc>,
) -> Result<Decided, AccessError> {
    let decider = &input.decider;
    // The owners as they are now — for Entra-owned groups Graph is asked, before the write lock,
    // and only briefly: the click must be answered within Slack's 3 seconds.
    let stored = requests::get(&*core.db.read()?, input.request_id)?;
    let current_group = match stored {
        Some(request) => match core.policy().group(&request.group) {
            Ok(group) => Some(owners::at_click(core, group).await?),
            Err(_) => None,
        },
        None => None,
    };
    let (request, judged) = core
        .write(|tx| {
            let request = requests::get(tx, input.request_id)?
                .ok_or(Refusal::NoSuchRequest(input.request_id))?;
            let earlier = decisions::of_request(tx, request.id)?;
            settled(&request, &earlier)?;
            // The policy as it is now, not as it was when the request was made.
            // A group a reload removed has nobody left to decide: fail closed, and say so.
            let group = current_group
                .filter(|group| group.name == request.group)
                .ok_or_else(|| super::snapshot::gone(&request))?;
            if let Some(snapshot) = &request.grant_target {
                super::snapshot::same_target(&request, &group, snapshot)?;
            }
            if owners::unverified_elsewhere(core, &group, decider, &request.requester) {
                return Err(Refusal::UnverifiedIdentity.into());
            }
            // A decision is never applied to a request older than the group's pending timeout:
            // its expiry job may simply not have run yet.
            if now >= request.requested_at + group.lifecycle.pending_timeout.to_chrono() {
                return Err(Refusal::TooOld {
                    id: request.id,
                    group: group.name.clone(),
                    timeout: group.lifecycle.pending_timeout,
                }
                .into());
            }
            let judged = judge(&request, &group, &earlier, decider, input.verdict)?;
            let decision = Decision {
                decider: decider.account.clone(),
                verdict: input.verdict,
                decided_at: now,
                counted_as: judged.counted_as.clone(),
            };
            if !decisions::insert(tx, request.id, &decision)? {
                return Err(Refusal::AlreadyApproved {
                    id: request.id,
                    missing: judged
                        .required
                        .saturating_sub(judged.approvals.saturating_sub(1)),
                }
                .into());
            }
            record(tx, &request, &group, &input, &judged, now)?;
            Ok::<_, AccessError>((request, judged))
        })
        .await?;
    core.wake_scheduler();
    if judged.status != RequestStatus::Pending {
        let waited = now - request.requested_at;
        core.metrics.decision(input.verdict.as_str(), waited);
    }
    tracing::info!(
        request_id = request.id,
        decider = %decider.account,
        status = ?judged.status,
        "decision recorded"
    );
    Ok(Decided {
        status: judged.status,
        approvals: judged.approvals,
        required: judged.required,
    })
}

/// The transition a valid decision makes: the audit event, and when it settles the request,
/// the compare-and-swap and the jobs that follow.
fn record(
    tx: &mut crate::store::WriteTx,
    request: &AccessRequest,
    group: &GroupPolicy,
    input: &DecisionInput,
    judged: &Judged,
    now: DateTime<Utc>,
) -> Result<(), AccessError> {
    let decider = &input.decider.account;
    let actor = decider.key();
    let counted_as: Vec<String> = judged.counted_as.iter().map(|k| k.to_string()).collect();
    let event = |action: AuditAction| audit::NewEvent {
        at: now,
        request_id: Some(request.id),
        actor: &actor,
        action,
        platform: Some(decider.platform.as_str()),
        channel: input.channel.as_deref(),
        detail: json!({
            "group": group.name,
            "approvals": judged.approvals,
            "approvals_required": judged.required,
            "counted_as": counted_as,
        })
        .to_string(),
    };
    let (action, notice) = match judged.status {
        RequestStatus::Pending => {
            audit::append(tx, event(AuditAction::ApprovalRecorded))?;
            store::jobs::queue_job(tx, request.id, &Job::RefreshMessages, now);
            return Ok(());
        }
        RequestStatus::Denied => (
            AuditAction::Denied,
            Notice::Denied {
                by: decider.clone(),
            },
        ),
        _ => (
            AuditAction::Approved,
            Notice::Approved {
                by: decider.clone(),
            },
        ),
    };
    // The transaction holds the write lock, so this compare-and-swap cannot lose; it still
    // guards the invariant should that ever change.
    if !requests::mark_decided(tx, request.id, judged.status, now)? {
        return Err(Refusal::AlreadyDecided {
            id: request.id,
            verdict: input.verdict,
            by: Vec::new(),
            status: judged.status,
        }
        .into());
    }
    audit::append(tx, event(action))?;
    super::timeout::discard(tx, request.id)?;
    store::jobs::queue_job(tx, request.id, &Job::NotifyRequester { notice }, now);
    if judged.status == RequestStatus::Approved {
        super::approve::queue_grant(tx, request, now);
    }
    store::jobs::queue_job(tx, request.id, &Job::RefreshMessages, now);
    Ok(())
}
