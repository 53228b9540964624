//! Submit: a person asks for a group; the request is stored pending, and its check — which asks
//! the owners once it passes — is queued. Nothing here waits on Slack, Teams or Graph.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::AccessError;
use super::Core;
use super::effects::Tx;
use crate::domain::Job;
use crate::domain::{
    AccessDuration, Account, AuditAction, GroupPolicy, Principal, Refusal, RequestCommand,
    RequestKind,
};
use crate::store::{self, audit, requests};

pub struct Submission {
    /// Who asks, with the verified facts known right now; the check verifies them again.
    pub requester: Principal,
    /// `for <person>`, resolved by the adapter to an account of the asker's platform: the access
    /// is for them, and `requester` asks on their behalf (the check says whether they may).
    pub on_behalf_of: Option<Account>,
    /// The channel or conversation where the person asked.
    pub origin_channel: String,
    pub command: RequestCommand,
    /// Break-glass: granted at once for at most the group's `break_glass_max`, reviewed after.
    pub break_glass: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub id: i64,
    pub group: String,
    pub duration: AccessDuration,
    pub break_glass: bool,
    /// The scheduled start as typed.
    pub start: Option<String>,
    /// Who the access is for, when the asker asked on their behalf.
    pub on_behalf_of: Option<Account>,
}

/// Whether anyone could ever decide: checked with what is known now (the check job checks again
/// with fresh facts; owners from Entra are only known once Graph is asked, there), and whether
/// jitbot can put a card in front of anyone at all (checked by the caller).
fn can_be_decided(group: &GroupPolicy, requester: &Principal) -> Result<(), Refusal> {
    if !group.owners.from_entra() {
        group.check_approvable(requester)?;
    }
    Ok(())
}

/// Who the access is for, and who asks on their behalf if someone does: the person asked for is
/// known by their account alone until the check verifies them. A typed `for` that the adapter
/// did not resolve is refused rather than taken as a request for the asker.
fn who_for(submission: &Submission) -> Result<(Principal, Option<&Principal>), Refusal> {
    let asker = &submission.requester;
    match (&submission.on_behalf_of, &submission.command.on_behalf_of) {
        (Some(person), _) if *person == asker.account => Err(Refusal::ForYourself),
        (Some(person), _) => Ok((Principal::new(person.clone()), Some(asker))),
        (None, Some(typed)) => Err(Refusal::UnknownPerson(typed.clone())),
        (None, None) => Ok((asker.clone(), None)),
    }
}

/// What is asked and for how long: break-glass for the group's `break_glass_max`, else access
/// for the duration asked (or the default) — if anyone could ever decide on it.
fn kind_and_duration(
    group: &GroupPolicy,
    submission: &Submission,
    requester: &Principal,
) -> Result<(RequestKind, AccessDuration), Refusal> {
    if submission.break_glass {
        let break_glass =
            group
                .lifecycle
                .break_glass
                .as_ref()
                .ok_or_else(|| Refusal::NoBreakGlass {
                    group: group.name.clone(),
                })?;
        return Ok((RequestKind::BreakGlass, break_glass.max));
    }
    can_be_decided(group, requester)?;
    let duration = group.duration_for(submission.command.duration)?;
    Ok((RequestKind::Access, duration))
}

/// Stores a request after the checks that need no outside service: the group, the duration,
/// one open request per group, enough owners other than the requester, someone to ask.
pub async fn submit(
    core: &Core,
    submission: Submission,
    now: DateTime<Utc>,
) -> Result<Submitted, AccessError> {
    let policy = core.policy();
    let group = policy.group(&submission.command.group)?;
    let (requester, submitter) = who_for(&submission)?;
    let requester = &requester;
    let (kind, duration) = kind_and_duration(group, &submission, requester)?;
    if core.platforms_in_use().is_empty() {
        return Err(Refusal::NobodyToAsk {
            group: group.name.clone(),
        }
        .into());
    }
    let start_spec = submission.command.start.as_ref().map(|s| s.to_string());

    let id = core
        .write(|tx| {
            if kind == RequestKind::BreakGlass
                && let Some(id) = requests::unreviewed_break_glass(tx, requester, &group.name)?
            {
                return Err(Refusal::BreakGlassUnreviewed {
                    id,
                    group: group.name.clone(),
                }
                .into());
            }
            if let Some(open) = requests::open_for(tx, requester, &group.name)? {
                let (id, group, status) = (open.id, group.name.clone(), open.status);
                return Err(match submitter {
                    Some(_) => Refusal::TheyHaveOpen { id, group, status },
                    None => Refusal::AlreadyOpen { id, group, status },
                }
                .into());
            }
            let id = requests::insert(
                tx,
                requests::NewRequest {
                    group: &group.name,
                    requester,
                    justification: &submission.command.justification,
                    duration,
                    origin_channel: &submission.origin_channel,
                    requested_at: now,
                    kind,
                    start_spec: start_spec.as_deref(),
                    submitted_by: submitter,
                    grant_target: Some(&group.grant_target()),
                },
            )?;
            let detail = json!({
                "group": group.name,
                "duration": duration.to_string(),
                "justification": submission.command.justification,
                "kind": kind.as_str(),
                "starts": start_spec,
                "on_behalf_of": submitter.map(|_| requester.account.key()),
            });
            audit_requested(tx, id, &submission, detail, now)?;
            // The check first: when it passes at once, the thread opens showing the request
            // pending.
            let jobs = [(id, Job::CheckRequester, now), (id, Job::Announce, now)];
            store::jobs::queue_jobs(tx, &jobs);
            Ok::<_, AccessError>(id)
        })
        .await?;
    core.wake_scheduler();
    // The HTTP span that carried the form learns the new request's id here (a no-op elsewhere):
    // the lines after it, and the reply's, are then found by it like a click's.
    tracing::Span::current().record("request_id", id);
    tracing::info!(request_id = id, group = group.name, "request submitted");
    Ok(Submitted {
        id,
        group: group.name.clone(),
        duration,
        break_glass: kind == RequestKind::BreakGlass,
        start: start_spec,
        on_behalf_of: submitter.map(|_| requester.account.clone()),
    })
}

/// The `requested` event, by whoever typed the command (the submitter, when they asked for
/// someone else), where they typed it.
fn audit_requested(
    tx: &mut Tx,
    id: i64,
    submission: &Submission,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> store::Result<()> {
    let asker = &submission.requester.account;
    audit::append(
        tx,
        audit::NewEvent {
            at: now,
            request_id: Some(id),
            actor: &asker.key(),
            action: AuditAction::Requested,
            platform: Some(asker.platform.as_str()),
            channel: Some(&submission.origin_channel),
            detail: detail.to_string(),
        },
    )
}
