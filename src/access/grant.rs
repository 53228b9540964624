//! Grant: once approved, the provider adds the person, and the clock starts.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Core, approve, directory};
use crate::domain::Job;
use crate::domain::{
    AccessRequest, AuditAction, GroupPolicy, Notice, Policy, Refusal, RequestKind, RequestStatus,
};
use crate::providers::{Change, Grant};
use crate::store::{self, audit, decisions, requests};

/// The `Grant` job. Safe to repeat: a request that is no longer `approved` is left alone.
pub async fn run(core: &Core, request_id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(request) = requests::get(&*core.db.read()?, request_id)? else {
        return Ok(());
    };
    if request.status != RequestStatus::Approved {
        return Ok(());
    }
    if let RequestKind::Extension { .. } = request.kind {
        return super::extend::apply(core, &request, now).await;
    }
    if let Some(starts_at) = request.starts_at.filter(|start| *start > now) {
        // Not yet: a job that ran early (a clock stepped back) waits for the start.
        core.write(|tx| {
            store::jobs::queue_job(tx, request_id, &Job::Grant, starts_at);
            Ok::<_, store::Error>(())
        })
        .await?;
        return Ok(());
    }
    // The group as the policy says now (its limits apply), granting the provider and target
    // the request was made under; a group a reload removed is granted nothing.
    let policy = core.policy();
    let group = match super::snapshot::group_to_grant(&policy, &request) {
        Ok(group) => group,
        Err(refusal) => return refuse(core, &request, &refusal, now).await,
    };
    let group = &group;
    // Checked again now, not only when asked: a duration the policy no longer allows, or an
    // account disabled or made ineligible since, is not granted anything.
    if let Err(refusal) = still_allowed(core, group, &request, now).await? {
        return refuse(core, &request, &refusal, now).await;
    }
    let provider = core.providers.for_group(group);
    let user_key = request.requester.account.key();
    let expires_at = now + request.duration.to_chrono();
    let grant = Grant {
        request_id,
        group,
        user_key: &user_key,
        user_email: request.requester.email(),
        directory_id: request.requester.entra_id.as_deref(),
        justification: &request.justification,
        granted_at: now,
        expires_at: Some(expires_at),
    };
    let already_member = prior_membership(core, &policy, &request, &grant).await?;
    let change = if already_member {
        Change::AlreadySo
    } else {
        provider.grant(&grant).await?
    };
    let granted = core
        .write(|tx| {
            if !requests::mark_active(tx, request_id, now, expires_at)? {
                // Withdrawn while the provider was granting: what it added is removed again,
                // durably (the revocation undoes a grant of a request that is no longer
                // approved).
                if change == Change::Made {
                    store::jobs::queue_job(tx, request_id, &Job::Revoke, now);
                    return Ok(Granted::Undoing);
                }
                return Ok(Granted::Lost);
            }
            let detail = json!({
                "group": group.name,
                "provider": group.provider.name(),
                "target": group.target,
                "expires_at": expires_at.to_rfc3339(),
                "already_member": already_member,
                "provider_result": change.as_str(),
                "account": { "member": grant.member(), "directory_id": grant.directory_id },
            });
            let event =
                audit::NewEvent::by_jitbot(Some(request_id), AuditAction::Granted, detail, now);
            audit::append(tx, event)?;
            super::extend::schedule_end(tx, &request, group, expires_at, now);
            let notice = Notice::Granted { expires_at };
            store::jobs::queue_job(tx, request_id, &Job::NotifyRequester { notice }, now);
            store::jobs::queue_job(tx, request_id, &Job::RefreshMessages, now);
            Ok::<_, store::Error>(Granted::Active)
        })
        .await?;
    match granted {
        Granted::Active => {}
        Granted::Undoing => {
            core.wake_scheduler();
            tracing::warn!(request_id, "a grant lost to a cancellation; undoing it");
            return Ok(());
        }
        // Nothing was added, so there is nothing to undo.
        Granted::Lost => return Ok(()),
    }
    core.wake_scheduler();
    tracing::info!(request_id, %expires_at, "access granted");
    Ok(())
}

/// How `run`'s transaction ended.
enum Granted {
    Active,
    /// Lost to a cancellation after the provider added the person: a revocation was queued.
    Undoing,
    /// Lost to a cancellation, and the provider had changed nothing.
    Lost,
}

/// The checks at the moment of the grant: the duration against the policy in force now, the
/// account afresh when the start was scheduled (time has passed since the check), and the
/// directory when the group needs it. `Err` when a check cannot run: the grant is retried.
async fn still_allowed(
    core: &Core,
    group: &GroupPolicy,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<(), Refusal>> {
    let longest = match (&request.kind, &group.lifecycle.break_glass) {
        (RequestKind::BreakGlass, Some(break_glass)) => break_glass.max,
        (RequestKind::BreakGlass, None) => {
            return Ok(Err(Refusal::NoBreakGlass {
                group: group.name.clone(),
            }));
        }
        _ => group.max_duration,
    };
    if request.duration > longest {
        return Ok(Err(Refusal::TooLong {
            group: group.name.clone(),
            asked: request.duration,
            max: longest,
        }));
    }
    if request.starts_at.is_some() {
        let account = &request.requester.account;
        if let Err(refusal) = core.chat(account.platform)?.principal(account, now).await? {
            return Ok(Err(refusal));
        }
        // Approved ahead by a rule of the group (no owner decided): the rule must still hold.
        let by_rule = decisions::of_request(&*core.db.read()?, request.id)?.is_empty();
        if by_rule
            && request.kind == RequestKind::Access
            && approve::rule_for(core, group, request, &request.requester)
                .await?
                .is_none()
        {
            return Ok(Err(Refusal::RuleNoLongerApplies {
                group: group.name.clone(),
            }));
        }
    }
    if directory::needs_directory(group)
        && let Err(refusal) =
            directory::check_requester(core, group, request.requester.clone()).await?
    {
        return Ok(Err(refusal));
    }
    Ok(Ok(()))
}

/// Whether the person held this access before jitbot's grant — checked once and recorded before
/// granting: after a crash mid-grant, the retry must not take jitbot's own membership for access
/// the person had before. Membership that another of the person's grants holds, active or being
/// revoked, is jitbot's, so that grant's answer is inherited.
async fn prior_membership(
    core: &Core,
    policy: &Policy,
    request: &AccessRequest,
    grant: &Grant<'_>,
) -> anyhow::Result<bool> {
    if let Some(known) = request.already_member {
        return Ok(known);
    }
    let member = core
        .providers
        .for_group(grant.group)
        .is_member(grant)
        .await?;
    let sharing = super::snapshot::sharing(policy, grant.group);
    // A membership there now is another request's if one of the person's holds it, or is
    // being revoked and has not removed it yet: prior access only if that one's was.
    let (person, holding) = (&request.requester, requests::Holding::ActiveOrRevoking);
    let holder = requests::first_holder(&*core.db.read()?, request.id, person, &sharing, holding)?;
    let prior = match holder {
        Some(holder) if member => holder.already_member.unwrap_or(false),
        // What a grant given up left behind, and its undo has not removed yet, is jitbot's too.
        None if member => {
            !requests::failed_awaiting_undo(&*core.db.read()?, &request.requester, &sharing)?
        }
        _ => member,
    };
    store::write(&core.db, |tx| {
        requests::record_prior_membership(tx, request.id, prior)
    })
    .await?;
    Ok(prior)
}

/// The requester no longer passes the directory's checks: nothing is granted, the request
/// fails, and the requester and owners are told why.
async fn refuse(
    core: &Core,
    request: &AccessRequest,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let reason = refusal.to_string();
    let failed = core
        .write(|tx| {
            if !requests::mark_failed(tx, request.id, &reason)? {
                return Ok(false);
            }
            let detail = json!({ "refused": reason });
            let event =
                audit::NewEvent::by_jitbot(Some(request.id), AuditAction::GrantFailed, detail, now);
            audit::append(tx, event)?;
            let notice = Notice::GrantRefused { reason };
            let to_requester = Job::NotifyRequester {
                notice: notice.clone(),
            };
            store::jobs::queue_job(tx, request.id, &to_requester, now);
            store::jobs::queue_job(tx, request.id, &Job::NotifyOwners { notice }, now);
            store::jobs::queue_job(tx, request.id, &Job::RefreshMessages, now);
            Ok::<_, store::Error>(true)
        })
        .await?;
    if !failed {
        return Ok(());
    }
    core.wake_scheduler();
    tracing::info!(
        request_id = request.id,
        "a grant was refused at the last check"
    );
    Ok(())
}

/// After the last attempt: the request fails, and the requester and owners are told. A grant
/// given up may still have half happened (a webhook receiver that applied it but answered 500),
/// so an idempotent revocation is queued too.
pub async fn give_up(
    core: &Core,
    request_id: i64,
    error: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let failed = core
        .write(|tx| {
            if !requests::mark_failed(tx, request_id, error)? {
                return Ok(false);
            }
            // Chat hears an error id; the chain (with URLs and ids) stays in the log and the
            // audit trail.
            let error_id = crate::error_id::new();
            tracing::error!(request_id, error_id, error, "a grant was given up");
            audit::append(
                tx,
                audit::NewEvent::by_jitbot(
                    Some(request_id),
                    AuditAction::GrantFailed,
                    json!({ "error": error, "error_id": error_id }),
                    now,
                ),
            )?;
            let notice = Notice::GrantFailed { error_id };
            store::jobs::queue_job(
                tx,
                request_id,
                &Job::NotifyRequester {
                    notice: notice.clone(),
                },
                now,
            );
            store::jobs::queue_job(tx, request_id, &Job::NotifyOwners { notice }, now);
            store::jobs::queue_job(tx, request_id, &Job::Revoke, now);
            store::jobs::queue_job(tx, request_id, &Job::RefreshMessages, now);
            Ok::<_, store::Error>(true)
        })
        .await?;
    if !failed {
        return Ok(());
    }
    core.wake_scheduler();
    Ok(())
}
