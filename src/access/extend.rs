//! Extend: the requester asks for more time on active access. The extension is a request of its
//! own — checked, carded and decided like any other (or approved at once with `auto_extend`) —
//! and applied to the access it extends, which stays active meanwhile: no gap, no second
//! membership. An extension nobody approved in time lets the access end at its time.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::act::{Acted, only_requester, wrong_state};
use super::effects::{Tx, audit_by, audit_by_jitbot, refresh, tell_requester};
use super::{AccessError, Core};
use crate::domain::{
    AccessDuration, AccessRequest, AuditAction, Job, Notice, Principal, Refusal, RequestAction,
    RequestKind, RequestStatus,
};
use crate::providers::Grant;
use crate::store::{self, requests};

/// The requester asks for `asked` more (the group's default when `None`) on `request`.
pub async fn ask(
    core: &Core,
    person: &Principal,
    request: &AccessRequest,
    asked: Option<AccessDuration>,
    now: DateTime<Utc>,
) -> Result<Acted, AccessError> {
    let action = RequestAction::Extend { duration: asked };
    only_requester(request, person, &action)?;
    if request.status != RequestStatus::Active {
        return Err(wrong_state(request, &action));
    }
    if request.kind == RequestKind::BreakGlass {
        return Err(Refusal::BreakGlassNotExtended(request.id).into());
    }
    let policy = core.policy();
    let group = policy.group(&request.group)?;
    let duration = group.extension_for(request, asked)?;
    let extension = core
        .write(|tx| {
            if let Some(waiting) = requests::waiting_extensions(tx, &[request.id])?.first() {
                return Err(Refusal::ExtensionWaiting {
                    id: request.id,
                    extension: waiting.id,
                }
                .into());
            }
            // Whoever asked on the requester's behalf asks for the extension on it too: checked
            // again as manager or delegate, and never the one who approves it.
            let on_behalf = person.own_keys().is_disjoint(&request.requester.own_keys());
            let extension = requests::insert(
                tx,
                requests::NewRequest {
                    group: &request.group,
                    requester: &request.requester,
                    justification: &request.justification,
                    duration,
                    origin_channel: &request.origin_channel,
                    requested_at: now,
                    kind: RequestKind::Extension { of: request.id },
                    start_spec: None,
                    submitted_by: on_behalf.then_some(person),
                    grant_target: None,
                },
            )?;
            let detail = json!({ "group": request.group, "extends": request.id, "duration": duration.to_string() });
            audit_by(
                tx,
                &person.account,
                extension,
                AuditAction::ExtensionRequested,
                detail,
                now,
            )?;
            // Checked like any request before owners see it; the thread is the one of the access.
            store::jobs::queue_job(tx, extension, &Job::CheckRequester, now);
            let notice = Notice::ExtensionAsked {
                extension,
                duration: duration.to_string(),
            };
            tell_requester(tx, extension, notice, now);
            Ok::<_, AccessError>(extension)
        })
        .await?;
    core.wake_scheduler();
    tracing::info!(request_id = request.id, extension, "extension asked");
    Ok(Acted::ExtensionAsked {
        id: request.id,
        extension,
        duration,
    })
}

/// The `Grant` job of an approved extension: the access it extends ends later — if it is still
/// active and the rules in force now still allow it.
pub async fn apply(
    core: &Core,
    extension: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let RequestKind::Extension { of } = extension.kind else {
        return Ok(());
    };
    if extension.status != RequestStatus::Approved {
        return Ok(());
    }
    let Some(access) = requests::get(&*core.db.read()?, of)? else {
        return Ok(());
    };
    // Approved after the end (its revocation may only be running late), it comes too late.
    let running =
        access.status == RequestStatus::Active && access.expires_at.is_some_and(|end| end > now);
    // The provider and target the access was granted under; a group a reload removed
    // extends nothing.
    let policy = core.policy();
    let group = match super::snapshot::group_to_grant(&policy, &access) {
        Ok(group) if running => group,
        Ok(_) => return lapse(core, extension, "the access had already ended.", now).await,
        Err(refusal) => return lapse(core, extension, &refusal.to_string(), now).await,
    };
    let group = &group;
    if let Err(refusal) = group.extension_for(&access, Some(extension.duration)) {
        return lapse(core, extension, &refusal.to_string(), now).await;
    }
    let old_end = access.expires_at.unwrap_or(now);
    let until = old_end + extension.duration.to_chrono();
    // Access the person held before jitbot was not granted by it: there is nothing to move.
    if access.already_member != Some(true) {
        let user_key = access.requester.account.key();
        let grant = Grant {
            request_id: access.id,
            group,
            user_key: &user_key,
            user_email: access.requester.email(),
            directory_id: access.requester.entra_id.as_deref(),
            justification: &access.justification,
            granted_at: access.granted_at.unwrap_or(now),
            expires_at: Some(until),
        };
        core.providers.for_group(group).extend(&grant).await?;
    }
    let applied = core
        .write(|tx| {
            // Applied once: a retried job finds the extension applied and moves nothing again.
            if !requests::mark_applied(tx, extension.id, now, until)? {
                return Ok(false);
            }
            if !requests::extend_until(tx, access.id, until)? {
                // Rolls back the extension's mark: it lapses instead, in a transaction of its own.
                return Err(NotApplied::Ended);
            }
            let detail = json!({ "group": access.group, "extension": extension.id, "from": old_end.to_rfc3339(), "until": until.to_rfc3339() });
            audit_by_jitbot(tx, access.id, AuditAction::Extended, detail, now)?;
            schedule_end(tx, &access, group, until, now);
            tell_requester(tx, access.id, Notice::Extended { until }, now);
            refresh(tx, access.id, now);
            refresh(tx, extension.id, now);
            Ok(true)
        })
        .await;
    match applied {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(NotApplied::Ended) => {
            return lapse(core, extension, "the access had already ended.", now).await;
        }
        Err(NotApplied::Store(error)) => return Err(error.into()),
    }
    core.wake_scheduler();
    tracing::info!(request_id = access.id, extension = extension.id, %until, "access extended");
    Ok(())
}

/// Why `apply`'s transaction was rolled back.
enum NotApplied {
    /// The access ended between reading it and now.
    Ended,
    Store(store::Error),
}

impl From<store::Error> for NotApplied {
    fn from(error: store::Error) -> Self {
        NotApplied::Store(error)
    }
}

/// The revocation at `until` and the warning before it. An earlier revocation job finds the
/// access still running and leaves it to this one.
pub fn schedule_end(
    tx: &mut Tx,
    access: &AccessRequest,
    group: &crate::domain::GroupPolicy,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    store::jobs::queue_job(tx, access.id, &Job::Revoke, until);
    if let Some(warn_before) = group.lifecycle.warn_before {
        let warn_at = until - warn_before.to_chrono();
        // Access shorter than the warning gets none: it would come at the grant.
        if warn_at > now {
            let job = Job::WarnEnding { expires_at: until };
            store::jobs::queue_job(tx, access.id, &job, warn_at);
        }
    }
}

/// An approved extension that cannot be applied: it fails, and the requester hears why.
async fn lapse(
    core: &Core,
    extension: &AccessRequest,
    reason: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    core.write(|tx| lapse_in(tx, extension, reason, now))
        .await?;
    core.wake_scheduler();
    Ok(())
}

/// Ends a waiting extension — pending or approved — in the caller's transaction.
pub fn lapse_in(
    tx: &mut Tx,
    extension: &AccessRequest,
    reason: &str,
    now: DateTime<Utc>,
) -> store::Result<()> {
    let ended = match extension.status {
        RequestStatus::Pending => requests::mark_cancelled(tx, extension.id, now, reason)?,
        _ => requests::mark_failed(tx, extension.id, reason)?,
    };
    if !ended {
        return Ok(());
    }
    let detail = json!({ "group": extension.group, "reason": reason });
    audit_by_jitbot(tx, extension.id, AuditAction::ExtensionLapsed, detail, now)?;
    let notice = Notice::ExtensionLapsed {
        reason: reason.to_string(),
    };
    tell_requester(tx, extension.id, notice, now);
    refresh(tx, extension.id, now);
    Ok(())
}
