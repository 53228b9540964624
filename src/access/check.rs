//! Check: before any owner sees a card, jitbot confirms who asked — from verified sources only —
//! and that they may ask. Until then nobody can decide; a check that cannot run is retried.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::behalf::{self, Behalf};
use super::effects::Tx;
use super::{AccessError, Core, approve, break_glass, directory, owners, timeout};
use crate::domain::schedule::StartSpec;
use crate::domain::{
    AccessRequest, AuditAction, CardDestination, GroupPolicy, Job, Notice, Owners, Principal,
    Refusal, RequestKind,
};
use crate::store::{self, audit, requests};

/// The `CheckRequester` job: the requester's platform says who they are — afresh, verified facts
/// only — and the directory and the policy say whether they may ask. Passing confirms the request
/// and sends the cards; failing cancels it with the reason in its thread. `Err` means the check
/// could not run (Graph or a platform is down): the job is retried and nobody is asked meanwhile.
pub async fn run(core: &Core, request: &AccessRequest, now: DateTime<Utc>) -> anyhow::Result<()> {
    if request.status != crate::domain::RequestStatus::Pending || request.confirmed_at.is_some() {
        return Ok(());
    }
    let account = &request.requester.account;
    let requester = core.chat(account.platform)?.principal(account, now).await?;
    let verdict = match (core.policy().group(&request.group), requester) {
        (Err(refusal), _) | (_, Err(refusal)) => Err(refusal),
        (Ok(group), Ok(requester)) => {
            // Directory look-ups happen before the write transaction, which must not wait.
            let group = owners::current(core, group).await?;
            match judge_requester(core, &group, request, requester, now).await? {
                Ok(passed) => start_of(core, request, now).await?.map(|starts_at| Passed {
                    starts_at,
                    ..passed
                }),
                Err(refusal) => Err(refusal),
            }
        }
    };
    let changed = core
        .write(|tx| match verdict {
            Ok(passed) => confirm(tx, request, &passed, now),
            Err(refusal) => {
                cancel(tx, request.id, &refusal.to_string(), now)?;
                Ok(true)
            }
        })
        .await?;
    if !changed {
        return Ok(());
    }
    core.wake_scheduler();
    Ok(())
}

/// What a passed check found: the group with its owners now, the requester's verified facts,
/// whoever asked on their behalf, the cards to send, the rule that approves it without owners
/// (if any), and the start.
struct Passed {
    group: GroupPolicy,
    requester: Principal,
    submitter: Option<Principal>,
    cards: Vec<Job>,
    rule: Option<String>,
    starts_at: Option<DateTime<Utc>>,
}

/// Confirms the request in the caller's transaction, and queues what follows: the cards and
/// the pending timeout, or — approved by a rule — the grant. False when it had moved on.
fn confirm(
    tx: &mut Tx,
    request: &AccessRequest,
    passed: &Passed,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if !requests::confirm(tx, request.id, &passed.requester, now)? {
        return Ok(false);
    }
    if let Some(submitter) = &passed.submitter {
        on_behalf(tx, request.id, &passed.requester, submitter, now)?;
    }
    if let Some(starts_at) = passed.starts_at {
        requests::set_starts_at(tx, request.id, starts_at)?;
    }
    if let Owners::EntraGroup(entra) = &passed.group.owners {
        let snapshot = owners::to_json(entra);
        requests::set_owner_snapshot(tx, request.id, &snapshot)?;
    }
    audit_confirmed(tx, request.id, passed, now)?;
    for job in &passed.cards {
        store::jobs::queue_job(tx, request.id, job, now);
    }
    let confirmed = AccessRequest {
        starts_at: passed.starts_at,
        ..request.clone()
    };
    match &passed.rule {
        Some(rule) => {
            approve::by_rule(tx, &confirmed, rule, now)?;
            if request.kind == RequestKind::BreakGlass {
                break_glass::queue_review(tx, request.id, now);
            }
        }
        None => timeout::queue(tx, &confirmed, &passed.group, now),
    }
    // The thread and cards posted from now on show the request confirmed; only what was posted
    // before (the thread, when this check is a retry) needs redrawing.
    if store::messages::any_for(tx, request.id)? {
        store::jobs::queue_job(tx, request.id, &Job::RefreshMessages, now);
    }
    Ok(true)
}

/// The scheduled start, read in the requester's time zone (UTC when the platform does not say).
async fn start_of(
    core: &Core,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Option<DateTime<Utc>>, Refusal>> {
    let Some(spec) = &request.start_spec else {
        return Ok(Ok(None));
    };
    let spec: StartSpec = match spec.parse() {
        Ok(spec) => spec,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let account = &request.requester.account;
    let zone = core
        .chat(account.platform)?
        .time_zone(account)
        .await?
        .and_then(|zone| zone.parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::Tz::UTC);
    Ok(spec.resolve(zone, now).map(Some))
}

/// Cancels a request whose check could not run after every retry: failing closed, with a reason.
pub async fn give_up(core: &Core, request_id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let reason = "jitbot could not check your account just now, so the owners were not asked. Please ask again later.";
    core.write(|tx| cancel(tx, request_id, reason, now)).await?;
    core.wake_scheduler();
    Ok(())
}

/// The requester with the directory's facts, whoever asked on their behalf, and the cards to
/// send — or why not.
async fn judge_requester(
    core: &Core,
    group: &GroupPolicy,
    request: &AccessRequest,
    requester: Principal,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Passed, Refusal>> {
    let requester = match directory::check_requester(core, group, requester).await? {
        Ok(requester) => requester,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let (submitter, behalf_rule) =
        match behalf::authorise(core, group, request, &requester, now).await? {
            Ok(Some(Behalf { submitter, rule })) => (Some(submitter), rule),
            Ok(None) => (None, None),
            Err(refusal) => return Ok(Err(refusal)),
        };
    let rule = match behalf_rule {
        Some(rule) => Some(rule),
        None => approve::rule_for(core, group, request, &requester).await?,
    };
    if rule.is_none()
        && let Err(refusal) = group.check_approvable_besides(&requester, submitter.as_ref())
    {
        return Ok(Err(refusal));
    }
    // With owners on more than one platform, someone known by nothing but one account could be
    // one of them under another: nothing would tell the two apart.
    let anonymous = |p: &Principal| p.emails.is_empty() && p.entra_id.is_none();
    if (anonymous(&requester) || submitter.as_ref().is_some_and(anonymous))
        && core.platforms_in_use().len() > 1
    {
        return Ok(Err(Refusal::UnverifiedIdentity));
    }
    // Approved by a rule, nobody decides: owners see a card only for break-glass, to review it.
    let wants_cards = rule.is_none() || request.kind == RequestKind::BreakGlass;
    let cards = if wants_cards {
        card_jobs(core, group, &requester, submitter.as_ref(), now).await?
    } else {
        Vec::new()
    };
    if rule.is_none() && cards.is_empty() {
        return Ok(Err(Refusal::NobodyToAsk {
            group: group.name.clone(),
        }));
    }
    Ok(Ok(Passed {
        group: group.clone(),
        requester,
        submitter,
        cards,
        rule,
        starts_at: None,
    }))
}

/// The group's approval channels on the platforms jitbot is connected to (Slack, Teams or both,
/// so that owners on either can decide), or else a DM to every owner who may decide — neither
/// the requester nor whoever asked for them — on every platform where that owner can be reached.
async fn card_jobs(
    core: &Core,
    group: &GroupPolicy,
    requester: &Principal,
    submitter: Option<&Principal>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Job>> {
    let platforms = core.platforms_in_use();
    let to_channels: Vec<Job> = group
        .approval_channels
        .iter()
        .filter(|(platform, _)| platforms.contains(platform))
        .map(|(platform, channel)| Job::PostCard {
            platform: *platform,
            destination: CardDestination::Channel {
                channel: channel.clone(),
            },
        })
        .collect();
    if !to_channels.is_empty() {
        return Ok(to_channels);
    }
    let mut to_owners = Vec::new();
    for owner in group.owners.entries() {
        if !group.may_decide(owner, requester) || submitter.is_some_and(|s| owner.matches(s)) {
            continue;
        }
        for platform in &platforms {
            if core.chat(*platform)?.can_reach(owner, now).await? {
                to_owners.push(Job::PostCard {
                    platform: *platform,
                    destination: CardDestination::Owner {
                        owner: owner.to_string(),
                    },
                });
            }
        }
    }
    Ok(to_owners)
}

/// Records the submitter's verified facts, and tells the person asked for — directly: the
/// request's thread is where the submitter asked.
fn on_behalf(
    tx: &mut Tx,
    request_id: i64,
    requester: &Principal,
    submitter: &Principal,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    requests::set_submitter(tx, request_id, submitter)?;
    let job = Job::NotifyPerson {
        person: requester.account.clone(),
        notice: Notice::OnBehalf {
            by: submitter.account.clone(),
        },
    };
    store::jobs::queue_job(tx, request_id, &job, now);
    Ok(())
}

/// The verified facts the check relied on: the requester's, and whoever asked for them.
fn audit_confirmed(
    tx: &mut Tx,
    request_id: i64,
    passed: &Passed,
    now: DateTime<Utc>,
) -> Result<(), AccessError> {
    let facts = |person: &Principal| {
        json!({
            "account": person.account.key(),
            "addresses": person.emails,
            "entra_id": person.entra_id,
        })
    };
    let mut detail = facts(&passed.requester);
    if let Some(submitter) = &passed.submitter {
        detail["submitted_by"] = facts(submitter);
    }
    audit::append(
        tx,
        audit::NewEvent::by_jitbot(
            Some(request_id),
            AuditAction::RequesterConfirmed,
            detail,
            now,
        ),
    )?;
    Ok(())
}

fn cancel(tx: &mut Tx, request_id: i64, reason: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    if !requests::mark_cancelled(tx, request_id, now, reason)? {
        return Ok(());
    }
    audit::append(
        tx,
        audit::NewEvent::by_jitbot(
            Some(request_id),
            AuditAction::Cancelled,
            json!({ "reason": reason }),
            now,
        ),
    )?;
    let notice = Notice::Cancelled {
        reason: reason.to_string(),
    };
    store::jobs::queue_job(tx, request_id, &Job::NotifyRequester { notice }, now);
    store::jobs::queue_job(tx, request_id, &Job::RefreshMessages, now);
    tracing::info!(
        request_id,
        reason,
        "request cancelled before any owner was asked"
    );
    Ok(())
}
