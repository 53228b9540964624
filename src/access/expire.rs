//! Expire: when the time is up, the provider removes the access — never access held before.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::SCHEDULER;
use crate::app::App;
use crate::domain::{Notice, ProviderKind, RequestStatus};
use crate::jobs::{self, Job, WARN_OWNERS_AFTER};
use crate::providers::{Change, Grant};
use crate::store::{self, audit, requests};

/// The `Revoke` job. `earlier_failures` tells whether owners were warned and must hear it worked.
pub async fn run(
    app: &App,
    request_id: i64,
    earlier_failures: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(request) = requests::get(&app.db, request_id).await? else {
        return Ok(());
    };
    match request.status {
        RequestStatus::Active => {
            let mut tx = store::write(&app.db).await?;
            if requests::mark_revoking(&mut *tx, request_id).await? {
                audit::append(
                    &mut tx,
                    audit::NewEvent {
                        at: now,
                        request_id: Some(request_id),
                        actor: SCHEDULER,
                        action: "expiring",
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
        _ => return Ok(()),
    }

    let kept = request.already_member == Some(true);
    let group = app.policy().group(&request.group).with_context(|| {
        format!(
            "group {} is no longer in the config, so its access cannot be revoked",
            request.group
        )
    })?;
    // Another active grant of the same membership keeps it; the last one to end removes it.
    let sharing = app.policy().groups_sharing_target(group);
    let holders =
        requests::active_holders(&app.db, &request.requester, &sharing, request_id).await?;
    let still_held_by = holders.first().map(|holder| holder.id);
    let user_key = request.requester.key();
    let grant = Grant {
        request_id,
        group,
        user_key: &user_key,
        user_email: request.requester.email.as_deref(),
        directory_id: request.directory_user_id.as_deref(),
        justification: &request.justification,
        granted_at: request.granted_at.unwrap_or(now),
        expires_at: request.expires_at,
    };
    let change = if kept || still_held_by.is_some() {
        None
    } else {
        Some(app.providers.for_group(group).revoke(&grant).await?)
    };

    let mut tx = store::write(&app.db).await?;
    if !requests::mark_ended(&mut *tx, request_id, now).await? {
        return Ok(());
    }
    let action = match (kept, still_held_by) {
        (true, _) => "ended_kept_prior_membership",
        (false, Some(_)) => "ended_membership_still_held",
        (false, None) => "revoked",
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
            detail: format!(
                "PIM had not ended the membership of request #{request_id} in {} at its expiry; jitbot removed it.",
                group.name
            ),
        };
        jobs::enqueue(&mut tx, request_id, &Job::NotifyOwners { notice }, now).await?;
    }
    let notice = Notice::Ended {
        kept,
        still_held_by,
    };
    jobs::enqueue(&mut tx, request_id, &Job::NotifyRequester { notice }, now).await?;
    if earlier_failures >= WARN_OWNERS_AFTER {
        let notice = Notice::Recovered {
            action: "revocation".into(),
        };
        jobs::enqueue(&mut tx, request_id, &Job::NotifyOwners { notice }, now).await?;
    }
    jobs::enqueue(&mut tx, request_id, &Job::RefreshMessages, now).await?;
    tx.commit().await?;
    app.wake_scheduler();
    tracing::info!(request_id, kept, ?still_held_by, "access ended");
    Ok(())
}
