//! Act: what a person does to a request that exists — cancel, I'm done, revoke, extend,
//! acknowledge — from a typed command or a button. Each action authorises the person against the
//! request and the policy now, in its own use case.

use chrono::{DateTime, Utc};

use super::{AccessError, Core, acknowledge, end_early, extend, withdraw};
pub use crate::domain::Acted;
use crate::domain::{Principal, Refusal, RequestAction};
use crate::store::requests;

/// Does `action` to request `id` as `person`, at `now`.
pub async fn act(
    core: &Core,
    person: &Principal,
    id: i64,
    action: &RequestAction,
    now: DateTime<Utc>,
) -> Result<Acted, AccessError> {
    let request = requests::get(&*core.db.read()?, id)?.ok_or(Refusal::NoSuchRequest(id))?;
    match action {
        RequestAction::Cancel => withdraw::cancel(core, person, &request, now).await,
        RequestAction::Release => end_early::release(core, person, &request, now).await,
        RequestAction::Revoke { reason } => {
            end_early::revoke(core, person, &request, reason, now).await
        }
        RequestAction::Extend { duration } => {
            extend::ask(core, person, &request, *duration, now).await
        }
        RequestAction::Acknowledge => acknowledge::acknowledge(core, person, &request, now).await,
    }
}

/// The refusal for an action the request's state does not allow.
pub(super) fn wrong_state(
    request: &crate::domain::AccessRequest,
    action: &RequestAction,
) -> AccessError {
    Refusal::WrongState {
        id: request.id,
        status: request.status,
        action: past_participle(action).to_string(),
    }
    .into()
}

fn past_participle(action: &RequestAction) -> &'static str {
    match action {
        RequestAction::Cancel => "cancelled",
        RequestAction::Release | RequestAction::Revoke { .. } => "ended early",
        RequestAction::Extend { .. } => "extended",
        RequestAction::Acknowledge => "acknowledged",
    }
}

/// Refuses anyone but the person who asked (or asked on the requester's behalf).
pub(super) fn only_requester(
    request: &crate::domain::AccessRequest,
    person: &Principal,
    action: &RequestAction,
) -> Result<(), AccessError> {
    if request.is_asked_by(person) {
        return Ok(());
    }
    Err(Refusal::NotRequester {
        id: request.id,
        action: action.verb().to_string(),
    }
    .into())
}
