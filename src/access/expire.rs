//! Expire: when the time is up, the provider removes the access — never access held before.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::SCHEDULER;
use crate::app::App;
use crate::domain::{Notice, RequestStatus};
use crate::jobs::{self, Job, WARN_OWNERS_AFTER};
use crate::providers::Grant;
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
    if !kept {
        let user_key = request.requester.key();
        let grant = Grant {
            request_id,
            group,
            user_key: &user_key,
            user_email: request.requester.email.as_deref(),
            expires_at: request.expires_at,
        };
        app.providers.for_group(group).revoke(&grant).await?;
    }

    let mut tx = store::write(&app.db).await?;
    if !requests::mark_ended(&mut *tx, request_id, now).await? {
        return Ok(());
    }
    audit::append(
        &mut tx,
        audit::NewEvent {
            at: now,
            request_id: Some(request_id),
            actor: SCHEDULER,
            action: if kept { "ended_kept_prior_membership" } else { "revoked" },
            platform: None,
            channel: None,
            detail: json!({ "group": group.name, "target": group.target, "attempts": earlier_failures + 1 }),
        },
    )
    .await?;
    let notice = Notice::Ended { kept };
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
    tracing::info!(request_id, kept, "access ended");
    Ok(())
}
