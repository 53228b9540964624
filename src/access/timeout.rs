//! Pending timeout: a request nobody decided within the group's `pending_timeout` expires, and
//! the owners are reminded once, halfway.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Core;
use super::effects::{Tx, audit_by_jitbot, refresh, tell_owners, tell_requester};
use crate::domain::{
    AccessRequest, AuditAction, GroupPolicy, Job, LifecycleRules, Notice, RequestStatus,
};
use crate::store::{self, requests};

/// The reminder halfway and the expiry at the end, counted from when the request was made.
pub fn queue(tx: &mut Tx, request: &AccessRequest, group: &GroupPolicy, now: DateTime<Utc>) {
    let timeout = group.lifecycle.pending_timeout.to_chrono();
    let expires_at = request.requested_at + timeout;
    let remind_at = request.requested_at + timeout / 2;
    if remind_at > now {
        store::jobs::queue_job(tx, request.id, &Job::RemindPending, remind_at);
    }
    store::jobs::queue_job(tx, request.id, &Job::ExpirePending, expires_at.max(now));
}

/// Drops the reminder and the expiry of a request that is no longer pending.
pub fn discard(tx: &mut Tx, request_id: i64) -> store::Result<()> {
    store::jobs::discard(tx, request_id, &["remind_pending", "expire_pending"])
}

/// The `RemindPending` job: the owners hear that the request still waits, if it does.
pub async fn remind(
    core: &Core,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if request.status != RequestStatus::Pending {
        return Ok(());
    }
    let timeout = core
        .policy()
        .group(&request.group)
        .map(|group| group.lifecycle.pending_timeout)
        .unwrap_or(LifecycleRules::default().pending_timeout);
    let expires_at = request.requested_at + timeout.to_chrono();
    core.write(|tx| {
        tell_owners(tx, request.id, Notice::Reminder { expires_at }, now);
        Ok::<_, store::Error>(())
    })
    .await?;
    core.wake_scheduler();
    Ok(())
}

/// The `ExpirePending` job: still pending at the end of the timeout, the request expires — the
/// cards lose their buttons, the thread and the owners are told.
pub async fn expire(
    core: &Core,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    // The timeout as the group says now: a longer one set since moves the expiry later.
    if let Ok(group) = core.policy().group(&request.group) {
        let due = request.requested_at + group.lifecycle.pending_timeout.to_chrono();
        if due > now && request.status == RequestStatus::Pending {
            core.write(|tx| {
                store::jobs::queue_job(tx, request.id, &Job::ExpirePending, due);
                Ok::<_, store::Error>(())
            })
            .await?;
            return Ok(());
        }
    }
    let expired = core
        .write(|tx| {
            if !requests::mark_expired(tx, request.id, now)? {
                return Ok(false);
            }
            let detail = json!({ "group": request.group, "requested_at": request.requested_at.to_rfc3339() });
            audit_by_jitbot(tx, request.id, AuditAction::Expired, detail, now)?;
            tell_requester(tx, request.id, Notice::Expired, now);
            if request.confirmed_at.is_some() {
                tell_owners(tx, request.id, Notice::Expired, now);
            }
            refresh(tx, request.id, now);
            Ok::<_, store::Error>(true)
        })
        .await?;
    if !expired {
        return Ok(());
    }
    core.wake_scheduler();
    tracing::info!(
        request_id = request.id,
        "a request nobody decided has expired"
    );
    Ok(())
}
