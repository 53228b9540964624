//! Withdraw: the requester cancels a request nobody has decided yet, or one approved for a start
//! that has not come. The cards say so and lose their buttons.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::act::{Acted, only_requester, wrong_state};
use super::effects::{audit_by, refresh, tell_owners, tell_requester};
use super::{AccessError, Core};
use crate::domain::{AccessRequest, AuditAction, Notice, Principal, RequestAction};
use crate::store::{self, requests};

const REASON: &str = "The requester withdrew it.";

/// The requester withdraws `request`.
pub async fn cancel(
    core: &Core,
    person: &Principal,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> Result<Acted, AccessError> {
    let action = RequestAction::Cancel;
    only_requester(request, person, &action)?;
    if !request.can_be_cancelled(now) {
        return Err(wrong_state(request, &action));
    }
    let mut tx = store::write(&core.db).await?;
    // The compare-and-swap re-checks the state: a decision may have landed meanwhile.
    if !requests::mark_cancelled(&mut *tx, request.id, now, REASON).await? {
        let current = requests::get(&mut *tx, request.id).await?;
        return Err(wrong_state(current.as_ref().unwrap_or(request), &action));
    }
    let detail =
        json!({ "group": request.group, "reason": REASON, "was": request.status.as_str() });
    audit_by(
        &mut tx,
        &person.account,
        request.id,
        AuditAction::Cancelled,
        detail,
        now,
    )
    .await?;
    super::timeout::discard(&mut tx, request.id).await?;
    let notice = Notice::Cancelled {
        reason: REASON.to_string(),
    };
    tell_requester(&mut tx, request.id, notice.clone(), now);
    if request.confirmed_at.is_some() {
        tell_owners(&mut tx, request.id, notice, now);
    }
    refresh(&mut tx, request.id, now);
    core.commit(tx).await?;
    core.wake_scheduler();
    tracing::info!(
        request_id = request.id,
        "request withdrawn by the requester"
    );
    Ok(Acted::Cancelled { id: request.id })
}
