//! The side effects every transition queues, named once: tell the requester, tell the owners,
//! re-render the messages — jobs in the caller's transaction.

use chrono::{DateTime, Utc};

use crate::domain::{Account, AuditAction, Job, Notice};
use crate::store::{self, audit};

pub type Tx<'c> = crate::store::WriteTx<'c>;

pub fn tell_requester(tx: &mut Tx, request_id: i64, notice: Notice, now: DateTime<Utc>) {
    store::jobs::queue_job(tx, request_id, &Job::NotifyRequester { notice }, now);
}

pub fn tell_owners(tx: &mut Tx, request_id: i64, notice: Notice, now: DateTime<Utc>) {
    store::jobs::queue_job(tx, request_id, &Job::NotifyOwners { notice }, now);
}

pub fn refresh(tx: &mut Tx, request_id: i64, now: DateTime<Utc>) {
    store::jobs::queue_job(tx, request_id, &Job::RefreshMessages, now);
}

/// An audit event caused by a person, from their account and platform.
pub fn audit_by(
    tx: &mut Tx,
    person: &Account,
    request_id: i64,
    action: AuditAction,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> store::Result<()> {
    let actor = person.key();
    audit::append(
        tx,
        audit::NewEvent {
            at: now,
            request_id: Some(request_id),
            actor: &actor,
            action,
            platform: Some(person.platform.as_str()),
            channel: None,
            detail: detail.to_string(),
        },
    )
}

/// An audit event of jitbot's own.
pub fn audit_by_jitbot(
    tx: &mut Tx,
    request_id: i64,
    action: AuditAction,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> store::Result<()> {
    audit::append(
        tx,
        audit::NewEvent::by_jitbot(Some(request_id), action, detail, now),
    )
}
