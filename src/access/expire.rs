//! Expire: when the time is up, the provider removes the access — never access held before. A
//! grant that was given up is undone the same way.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Core;
use super::ends::End;
use crate::domain::job::WARN_OWNERS_AFTER;
use crate::domain::{
    AccessRequest, AuditAction, GroupPolicy, Job, Notice, ProviderKind, RequestStatus, wording,
};
use crate::providers::{Change, Grant};
use crate::store::jobs::StartedRevocation;
use crate::store::{self, audit, requests};

/// The `Revoke` job, with its request and who else holds its membership when the scheduler's
/// pass started it (`start_all`). `earlier_failures` tells whether owners were warned and must
/// hear it worked.
pub async fn run(
    core: &Core,
    request_id: i64,
    started: Option<Box<StartedRevocation>>,
    earlier_failures: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (request, known) = match started.map(|started| *started) {
        Some(StartedRevocation {
            request,
            sharing,
            still_held_by,
        }) => (request, Some((sharing, still_held_by))),
        None => match requests::get(&*core.db.read()?, request_id)? {
            Some(request) => (request, None),
            None => return Ok(()),
        },
    };
    match request.status {
        // Extended since this job was queued: the revocation queued with the extension ends it.
        RequestStatus::Active if request.expires_at.is_some_and(|at| at > now) => return Ok(()),
        // Boxed, as the undoing below: most revocations were started by the scheduler's pass,
        // and inline either made every revocation in flight (a thousand at once) larger.
        RequestStatus::Active => {
            if !Box::pin(start_revoking(core, &request, now)).await? {
                return Ok(());
            }
        }
        RequestStatus::Revoking => {}
        // A grant given up, or one that lost to a cancellation, may have added the person.
        RequestStatus::Failed | RequestStatus::Cancelled => {
            return Box::pin(undo_failed_grant(core, &request, now)).await;
        }
        _ => return Ok(()),
    }
    // The provider and target the request was made under, even if a reload changed the group.
    let policy = core.policy();
    let group = &super::snapshot::group_to_revoke(&policy, &request)?;
    // Another active grant of the same membership keeps it; the last one to end removes it.
    // What the start read holds only for the groups it was read for: a reload since may have
    // changed which groups share this membership.
    let sharing = super::snapshot::sharing(&policy, group);
    let still_held_by = match known {
        Some((read_for, still_held_by)) if read_for == sharing => still_held_by,
        _ => {
            let (person, holding) = (&request.requester, requests::Holding::Active);
            requests::first_holder(&*core.db.read()?, request_id, person, &sharing, holding)?
                .map(|holder| holder.id)
        }
    };
    let user_key = request.requester.account.key();
    let grant = grant_of(&request, group, &user_key, now);
    let kept = request.already_member == Some(true);
    let change = if kept || still_held_by.is_some() {
        None
    } else {
        Some(core.providers.for_group(group).revoke(&grant).await?)
    };
    let ended = Ended {
        grant: &grant,
        kept,
        still_held_by,
        change,
        attempts: earlier_failures + 1,
    };
    core.ends
        .record(core, end_of(&request, &ended, now))
        .await?;
    Ok(())
}

/// `active → revoking`, audited: from here the revocation is retried until it works.
/// False when the access goes on: extended between reading it and now.
async fn start_revoking(
    core: &Core,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if !mark_revoking(core, &[request.id], now).await?.is_empty() {
        return Ok(true);
    }
    // A concurrent revocation moved it on (go on: it is idempotent); or an extension moved the
    // end (stop: the revocation queued with it ends the access).
    let current = requests::get(&*core.db.read()?, request.id)?;
    Ok(current.is_some_and(|r| r.status == RequestStatus::Revoking))
}

/// `active → revoking` for each of `ids` whose time is up, audited, in one transaction: the
/// scheduler starts every revocation it claims in a pass together, so ten thousand grants ending
/// in the same second cost the writer a few hundred transactions, not ten thousand. Who else
/// holds each one's membership is then read in one statement too, once they are revoking (two
/// ending together must not each keep the membership for the other). Returns the revocations
/// started whose holders were read: their jobs find them revoking, with what was read. The
/// others' jobs find them revoking too, and read their holders themselves.
pub async fn start_all(
    core: &Core,
    ids: &[i64],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<StartedRevocation>> {
    let started = mark_revoking(core, ids, now).await?;
    let policy = core.policy();
    // A request whose group cannot be resolved is left out: its job fails on that by itself.
    let sharing: Vec<(AccessRequest, Vec<String>)> = started
        .into_iter()
        .filter_map(|request| {
            let group = super::snapshot::group_to_revoke(&policy, &request).ok()?;
            let sharing = super::snapshot::sharing(&policy, &group);
            Some((request, sharing))
        })
        .collect();
    let asked: Vec<requests::HoldersOf> = sharing
        .iter()
        .map(|(request, groups)| requests::HoldersOf {
            request_id: request.id,
            person: &request.requester,
            groups,
        })
        .collect();
    let holding = requests::Holding::Active;
    // Read after `mark_revoking` committed: the holders counted are those still active then.
    let read = core
        .db
        .read()
        .and_then(|db| requests::first_holders(&db, &asked, holding));
    let mut holders = match read {
        Ok(holders) => holders,
        Err(error) => {
            tracing::warn!(
                revocations = asked.len(),
                %error,
                "could not read who else holds the memberships of revocations started together; each job reads its own"
            );
            return Ok(Vec::new());
        }
    };
    Ok(sharing
        .into_iter()
        .map(|(request, sharing)| StartedRevocation {
            still_held_by: holders.remove(&request.id).map(|holder| holder.id),
            sharing,
            request,
        })
        .collect())
}

/// `active → revoking` for each of `ids` whose time is up, audited, in one transaction. Returns
/// the requests moved, as they are now.
async fn mark_revoking(
    core: &Core,
    ids: &[i64],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<AccessRequest>> {
    let started = core
        .write(|tx| {
            let started = requests::mark_revoking(tx, ids, now)?;
            let events: Vec<audit::NewEvent> = started
                .iter()
                .map(|request| {
                    let detail =
                        json!({ "expires_at": request.expires_at.map(|at| at.to_rfc3339()) });
                    audit::NewEvent::by_jitbot(Some(request.id), AuditAction::Expiring, detail, now)
                })
                .collect();
            audit::append_all(tx, &events)?;
            Ok::<_, store::Error>(started)
        })
        .await?;
    Ok(started)
}

/// How one request's access ended.
struct Ended<'a> {
    grant: &'a Grant<'a>,
    /// A member before jitbot's grant: left in place.
    kept: bool,
    /// Another of the person's requests holding the same membership.
    still_held_by: Option<i64>,
    /// What the provider did, when it was asked.
    change: Option<Change>,
    attempts: i64,
}

/// The end's audit event and what people are told, recorded with the ends finishing beside it
/// (`ends`), which also lapses the extensions still waiting.
fn end_of(request: &AccessRequest, ended: &Ended<'_>, now: DateTime<Utc>) -> End {
    let group = ended.grant.group;
    let action = match (ended.kept, ended.still_held_by) {
        (true, _) => AuditAction::EndedKeptPriorMembership,
        (false, Some(_)) => AuditAction::EndedMembershipStillHeld,
        (false, None) => AuditAction::Revoked,
    };
    let detail = json!({
        "group": group.name,
        "target": group.target,
        "attempts": ended.attempts,
        "provider_result": ended.change.map(Change::as_str),
        "still_held_by": ended.still_held_by,
        "account": { "member": ended.grant.member(), "directory_id": ended.grant.directory_id },
    });
    let mut jobs = Vec::new();
    // Who ended it early was told then; an end at its time is told now.
    if request.ended_early.is_none() {
        let notice = Notice::Ended {
            kept: ended.kept,
            still_held_by: ended.still_held_by,
        };
        jobs.push(Job::NotifyRequester { notice });
    }
    // PIM ends memberships itself: jitbot removing one at (not before) its end means Entra had not.
    let ended_on_time = request.expires_at.is_some_and(|at| now >= at);
    if group.provider == ProviderKind::EntraPimGroup
        && ended.change == Some(Change::Made)
        && ended_on_time
    {
        let detail = wording::pim_disagreement(request.id, &group.name);
        jobs.push(Job::NotifyOwners {
            notice: Notice::Disagreement { detail },
        });
    }
    if ended.attempts > WARN_OWNERS_AFTER {
        let action = "revocation".into();
        jobs.push(Job::NotifyOwners {
            notice: Notice::Recovered { action },
        });
    }
    jobs.push(Job::RefreshMessages);
    End {
        request_id: request.id,
        at: now,
        action,
        detail: detail.to_string(),
        jobs,
        // Lag counts for ends at their time; an early end had no due time to be late for.
        due_at: request.expires_at.filter(|_| request.ended_early.is_none()),
    }
}

/// What the provider is told about one request's access.
fn grant_of<'a>(
    request: &'a AccessRequest,
    group: &'a GroupPolicy,
    user_key: &'a str,
    now: DateTime<Utc>,
) -> Grant<'a> {
    Grant {
        request_id: request.id,
        group,
        user_key,
        user_email: request.requester.email(),
        directory_id: request.requester.entra_id.as_deref(),
        justification: &request.justification,
        granted_at: request.granted_at.unwrap_or(now),
        expires_at: request.expires_at,
    }
}

/// After a grant was given up: whatever it may have done is removed, unless the person held that
/// access before (or through another active request). A grant that never reached the provider
/// recorded no prior membership, and has nothing to undo.
async fn undo_failed_grant(
    core: &Core,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if request.already_member != Some(false) {
        return Ok(());
    }
    let policy = core.policy();
    let group = &super::snapshot::group_to_revoke(&policy, request)?;
    let sharing = super::snapshot::sharing(&policy, group);
    let (person, holding) = (&request.requester, requests::Holding::Active);
    let holder = requests::first_holder(&*core.db.read()?, request.id, person, &sharing, holding)?;
    let user_key = request.requester.account.key();
    let grant = grant_of(request, group, &user_key, now);
    let change = match holder {
        Some(_) => None,
        None => Some(core.providers.for_group(group).revoke(&grant).await?),
    };
    let detail = json!({
        "group": group.name,
        "target": group.target,
        "provider_result": change.map(Change::as_str),
        "still_held_by": holder.map(|holder| holder.id),
        "account": { "member": grant.member(), "directory_id": grant.directory_id },
    });
    core.write(|tx| {
        audit::append(
            tx,
            audit::NewEvent::by_jitbot(
                Some(request.id),
                AuditAction::FailedGrantUndone,
                detail,
                now,
            ),
        )?;
        let notice = Notice::FailedGrantUndone;
        store::jobs::queue_job(tx, request.id, &Job::NotifyOwners { notice }, now);
        Ok::<_, store::Error>(())
    })
    .await?;
    core.wake_scheduler();
    tracing::info!(request_id = request.id, "a failed grant was undone");
    Ok(())
}
