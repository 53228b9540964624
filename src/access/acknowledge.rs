//! Acknowledge: an owner has reviewed a break-glass use. Until one does, owners are reminded daily.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::act::Acted;
use super::effects::{audit_by, refresh, tell_owners};
use super::{AccessError, Core, owners};
use crate::domain::{AccessRequest, AuditAction, Notice, Principal, Refusal, RequestKind};
use crate::store::requests;

/// An owner of the group — not the person who broke the glass — reviews the use.
pub async fn acknowledge(
    core: &Core,
    person: &Principal,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> Result<Acted, AccessError> {
    if request.kind != RequestKind::BreakGlass {
        return Err(Refusal::NotBreakGlass(request.id).into());
    }
    let policy = core.policy();
    let group = policy.group(&request.group)?;
    let group = owners::at_click(core, group).await?;
    if !group.is_owner(person) {
        return Err(Refusal::NotOwner { group: group.name }.into());
    }
    if owners::unverified_elsewhere(core, &group, person, &request.requester) {
        return Err(Refusal::UnverifiedIdentity.into());
    }
    // A review of one's own emergency access is no review.
    if !group
        .keys_of(person)
        .is_disjoint(&group.keys_of(&request.requester))
    {
        return Err(Refusal::OwnRequest { group: group.name }.into());
    }
    core.write(|tx| {
        if !requests::acknowledge(tx, request.id, &person.account, now)? {
            return Err(Refusal::AlreadyAcknowledged(request.id).into());
        }
        let detail = json!({ "group": request.group });
        audit_by(
            tx,
            &person.account,
            request.id,
            AuditAction::Acknowledged,
            detail,
            now,
        )?;
        let notice = Notice::Acknowledged {
            by: person.account.clone(),
        };
        tell_owners(tx, request.id, notice, now);
        refresh(tx, request.id, now);
        Ok::<_, AccessError>(())
    })
    .await?;
    core.wake_scheduler();
    Ok(Acted::Acknowledged { id: request.id })
}
