//! Withdraw: the requester cancels a request nobody has decided yet, or one approved for a start
//! that has not come. The cards say so and lose their buttons.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::act::{Acted, only_requester, wrong_state};
use super::effects::{audit_by, refresh, tell_owners, tell_requester};
use super::{AccessError, Core};
use crate::domain::{AccessRequest, AuditAction, Notice, Principal, RequestAction};
use crate::store::requests;

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
    core.write(|tx| {
        // The compare-and-swap re-checks the state: a decision may have landed meanwhile.
        if !requests::mark_cancelled(tx, request.id, now, REASON)? {
            let current = requests::get(tx, request.id)?;
            return Err(wrong_state(current.as_ref().unwrap_or(request), &action));
        }
        let detail =
            json!({ "group": request.group, "reason": REASON, "was": request.status.as_str() });
        audit_by(
            tx,
            &person.account,
            request.id,
            AuditAction::Cancelled,
            detail,
            now,
        )?;
        super::timeout::discard(tx, request.id)?;
        let notice = Notice::Cancelled {
            reason: REASON.to_string(),
        };
        tell_requester(tx, request.id, notice.clone(), now);
        if request.confirmed_at.is_some() {
            tell_owners(tx, request.id, notice, now);
        }
        refresh(tx, request.id, now);
        Ok::<_, AccessError>(())
    })
    .await?;
    core.wake_scheduler();
    tracing::info!(
        request_id = request.id,
        "request withdrawn by the requester"
    );
    Ok(Acted::Cancelled { id: request.id })
}
