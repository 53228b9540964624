//! Expire: when the time is up, the provider removes the access — never access held before. A
//! grant that was given up is undone the same way.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::Core;
use super::SCHEDULER;
use crate::domain::{
    AccessRequest, AuditAction, GroupPolicy, Job, Notice, ProviderKind, RequestStatus, wording,
};
use crate::providers::{Change, Grant};
use crate::scheduler::WARN_OWNERS_AFTER;
use crate::store::{self, audit, requests};

/// The `Revoke` job. `earlier_failures` tells whether owners were warned and must hear it worked.
pub async fn run(
    core: &Core,
    request_id: i64,
    earlier_failures: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(request) = requests::get(&core.db, request_id).await? else {
        return Ok(());
    };
    match request.status {
        RequestStatus::Active => {
            let mut tx = store::write(&core.db).await?;
            if requests::mark_revoking(&mut *tx, request_id).await? {
                audit::append(
                    &mut tx,
                    audit::NewEvent {
                        at: now,
                        request_id: Some(request_id),
                        actor: SCHEDULER,
                        action: AuditAction::Expiring,
                        platform: None,
                        channel: None,
                        detail: json!({ "expires_at": request.expires_at.map(|at| at.to_rfc3339()) }),
                    },
                )
                .await?;
            }
            tx.commit().await?;
        }
        RequestStatus::Revoking => {}
        RequestStatus::Failed => return undo_failed_grant(core, &request, now).await,
        _ => return Ok(()),
    }

    let kept = request.already_member == Some(true);
    let group = core.policy().group(&request.group).with_context(|| {
        format!(
            "group {} is no longer in the config, so its access cannot be revoked",
            request.group
        )
    })?;
    // Another active grant of the same membership keeps it; the last one to end removes it.
    let sharing = core.policy().groups_sharing_target(group);
    let holders =
        requests::active_holders(&core.db, &request.requester, &sharing, request_id).await?;
    let still_held_by = holders.first().map(|holder| holder.id);
    let user_key = request.requester.account.key();
    let grant = grant_of(&request, group, &user_key, now);
    let change = if kept || still_held_by.is_some() {
        None
    } else {
        Some(core.providers.for_group(group).revoke(&grant).await?)
    };

    let mut tx = store::write(&core.db).await?;
    if !requests::mark_ended(&mut *tx, request_id, now).await? {
        return Ok(());
    }
    let action = match (kept, still_held_by) {
        (true, _) => AuditAction::EndedKeptPriorMembership,
        (false, Some(_)) => AuditAction::EndedMembershipStillHeld,
        (false, None) => AuditAction::Revoked,
    };
    audit::append(
        &mut tx,
        audit::NewEvent {
            at: now,
            request_id: Some(request_id),
            actor: SCHEDULER,
            action,
            platform: None,
            channel: None,
            detail: json!({
                "group": group.name,
                "target": group.target,
                "attempts": earlier_failures + 1,
                "provider_result": change.map(Change::as_str),
                "still_held_by": still_held_by,
                "account": {
                    "member": grant.member(),
                    "directory_id": grant.directory_id,
                },
            }),
        },
    )
    .await?;
    // PIM ends memberships itself: jitbot removing one at (not before) its end means Entra had not.
    let ended_on_time = request.expires_at.is_some_and(|at| now >= at);
    if group.provider == ProviderKind::EntraPimGroup
        && change == Some(Change::Made)
        && ended_on_time
    {
        let notice = Notice::Disagreement {
            detail: wording::pim_disagreement(request_id, &group.name),
        };
        store::jobs::enqueue_job(&mut tx, request_id, &Job::NotifyOwners { notice }, now).await?;
    }
    let notice = Notice::Ended {
        kept,
        still_held_by,
    };
    store::jobs::enqueue_job(&mut tx, request_id, &Job::NotifyRequester { notice }, now).await?;
    if earlier_failures >= WARN_OWNERS_AFTER {
        let notice = Notice::Recovered {
            action: "revocation".into(),
        };
        store::jobs::enqueue_job(&mut tx, request_id, &Job::NotifyOwners { notice }, now).await?;
    }
    store::jobs::enqueue_job(&mut tx, request_id, &Job::RefreshMessages, now).await?;
    tx.commit().await?;
    core.wake_scheduler();
    tracing::info!(request_id, kept, ?still_held_by, "access ended");
    Ok(())
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
    let group = core.policy().group(&request.group).with_context(|| {
        format!(
            "group {} is no longer in the config, so a failed grant cannot be undone",
            request.group
        )
    })?;
    let sharing = core.policy().groups_sharing_target(group);
    let holders =
        requests::active_holders(&core.db, &request.requester, &sharing, request.id).await?;
    let user_key = request.requester.account.key();
    let grant = grant_of(request, group, &user_key, now);
    let change = match holders.first() {
        Some(_) => None,
        None => Some(core.providers.for_group(group).revoke(&grant).await?),
    };
    let mut tx = store::write(&core.db).await?;
    audit::append(
        &mut tx,
        audit::NewEvent {
            at: now,
            request_id: Some(request.id),
            actor: SCHEDULER,
            action: AuditAction::FailedGrantUndone,
            platform: None,
            channel: None,
            detail: json!({
                "group": group.name,
                "target": group.target,
                "provider_result": change.map(Change::as_str),
                "still_held_by": holders.first().map(|holder| holder.id),
                "account": { "member": grant.member(), "directory_id": grant.directory_id },
            }),
        },
    )
    .await?;
    let notice = Notice::FailedGrantUndone;
    store::jobs::enqueue_job(&mut tx, request.id, &Job::NotifyOwners { notice }, now).await?;
    tx.commit().await?;
    core.wake_scheduler();
    tracing::info!(request_id = request.id, "a failed grant was undone");
    Ok(())
}
