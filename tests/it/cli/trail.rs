//! A small audit trail with chosen times, written through the store, and the forgeries an
//! attacker who can write the database but lacks the key could make.

use chrono::{DateTime, Duration, TimeZone, Utc};
use jitbot::domain::AuditAction;
use jitbot::secrets::Secret;
use jitbot::store::{self, Db, audit};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::execute;

pub const KEY: &str = "k3y-for-the-trail";

pub fn key() -> Secret {
    Secret::new(KEY)
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

/// Five events: alice's prod-db request approved by bob and granted, then carol's staging
/// request denied by dave. Events 1–2 are plain, as if written before the key was set; the rest
/// are keyed with `key` when there is one.
pub async fn write(db: &Db, key: Option<&Secret>) {
    let events = [
        (
            1,
            "slack:U0ALICE",
            AuditAction::Requested,
            Some("slack"),
            Some("C0OPS"),
            json!({ "group": "prod-db", "justification": "fixing INC-4711", "duration": "2h" }),
        ),
        (
            1,
            "slack:U0BOB",
            AuditAction::Approved,
            Some("slack"),
            Some("C0OPS"),
            json!({ "group": "prod-db", "approvals": 1, "approvals_required": 1 }),
        ),
        (
            1,
            audit::JITBOT,
            AuditAction::Granted,
            None,
            None,
            json!({ "group": "prod-db", "account": { "member": "alice@example.com" } }),
        ),
        (
            2,
            "teams:29:carol",
            AuditAction::Requested,
            Some("teams"),
            Some("19:ops@thread.tacv2"),
            json!({ "group": "staging", "justification": "load test, \"quoted\", with commas", "duration": "1h" }),
        ),
        (
            2,
            "teams:29:dave",
            AuditAction::Denied,
            Some("teams"),
            None,
            json!({ "group": "staging", "verdict": "denied" }),
        ),
    ];
    for (i, (request_id, actor, action, platform, channel, detail)) in
        events.into_iter().enumerate()
    {
        let event = audit::NewEvent {
            at: at(i as i64 * 7),
            request_id: Some(request_id),
            actor,
            action,
            platform,
            channel,
            detail: detail.to_string(),
        };
        store::write(db, |tx| {
            audit::append_with(tx, key.filter(|_| i >= 2), event)
        })
        .await
        .unwrap();
    }
}

/// The plain SHA-256 of event `id` as it now stands: what anyone can compute without the key.
pub async fn plain_hash(db: &Db, id: i64) -> String {
    let event = audit::list(&db.read().unwrap(), None)
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap();
    let fields = [
        event.prev_hash,
        event.at.to_string(),
        event
            .request_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        event.actor,
        event.action,
        event.platform.unwrap_or_default(),
        event.channel.unwrap_or_default(),
        event.detail,
    ];
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Gives event `id` the plain hash of its content, marked as `kind`.
pub async fn rehash_plainly(db: &Db, id: i64, kind: &str) {
    let hash = plain_hash(db, id).await;
    execute(
        db,
        "UPDATE audit_events SET hash = ?, hash_kind = ? WHERE id = ?",
        (hash, kind, id),
    )
    .await;
}
