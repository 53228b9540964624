//! End early: the requester says "I'm done", or an owner revokes — the access is removed now
//! through the provider, the thread and the cards say how it ended.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::act::{Acted, only_requester, wrong_state};
use super::effects::{audit_by, refresh, tell_owners, tell_requester};
use super::{AccessError, Core, owners};
use crate::domain::{
    AccessRequest, AuditAction, EarlyEnd, Job, Notice, Principal, Refusal, RequestAction,
    RequestStatus,
};
use crate::store::{self, requests};

/// "I'm done": the requester ends their own access now.
pub async fn release(
    core: &Core,
    person: &Principal,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> Result<Acted, AccessError> {
    let action = RequestAction::Release;
    only_requester(request, person, &action)?;
    end(core, person, request, &action, EarlyEnd::Released, now).await?;
    Ok(Acted::Released { id: request.id })
}

/// An owner of the group, as the owners are now, ends someone's access now and says why.
pub async fn revoke(
    core: &Core,
    person: &Principal,
    request: &AccessRequest,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Acted, AccessError> {
    let action = RequestAction::Revoke {
        reason: reason.to_string(),
    };
    let policy = core.policy();
    let group = policy.group(&request.group)?;
    let group = owners::at_click(core, group).await?;
    if !group.is_owner(person) {
        return Err(Refusal::NotOwner { group: group.name }.into());
    }
    let early = EarlyEnd::Revoked {
        by: person.account.clone(),
        reason: reason.to_string(),
    };
    end(core, person, request, &action, early, now).await?;
    Ok(Acted::Revoked { id: request.id })
}

/// `active → revoking` with how it ended, audited; the revocation runs now and is retried until
/// it works, like one at the end of the time.
async fn end(
    core: &Core,
    person: &Principal,
    request: &AccessRequest,
    action: &RequestAction,
    early: EarlyEnd,
    now: DateTime<Utc>,
) -> Result<(), AccessError> {
    if request.status != RequestStatus::Active {
        return Err(wrong_state(request, action));
    }
    let audit_action = core
        .write(|tx| {
            if !requests::mark_ending_early(tx, request.id, &early)? {
                let current = requests::get(tx, request.id)?;
                return Err(wrong_state(current.as_ref().unwrap_or(request), action));
            }
            let (audit_action, notice) = match &early {
                EarlyEnd::Released => (AuditAction::Released, Notice::Released),
                EarlyEnd::Revoked { by, reason } => (
                    AuditAction::RevokedEarly,
                    Notice::Revoked {
                        by: by.clone(),
                        reason: reason.clone(),
                    },
                ),
            };
            let reason = match &early {
                EarlyEnd::Revoked { reason, .. } => Some(reason.as_str()),
                EarlyEnd::Released => None,
            };
            let detail = json!({
                "group": request.group,
                "expires_at": request.expires_at.map(|at| at.to_rfc3339()),
                "reason": reason,
            });
            audit_by(tx, &person.account, request.id, audit_action, detail, now)?;
            store::jobs::queue_job(tx, request.id, &Job::Revoke, now);
            store::jobs::discard(tx, request.id, &["warn_ending"])?;
            tell_requester(tx, request.id, notice.clone(), now);
            if matches!(early, EarlyEnd::Revoked { .. }) {
                tell_owners(tx, request.id, notice, now);
            }
            refresh(tx, request.id, now);
            Ok::<_, AccessError>(audit_action)
        })
        .await?;
    core.wake_scheduler();
    tracing::info!(request_id = request.id, how = ?audit_action, "access ending early");
    Ok(())
}
