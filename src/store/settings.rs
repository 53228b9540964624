//! The `settings` table, and what it guards: whether Teams last ran in local trial mode. What
//! trial mode wrote came from unauthenticated requests, so none of it is used once a bot is
//! registered.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Connection, Db, OptionalExtension, Result, audit, identities};
use crate::domain::{AuditAction, Platform};

const TEAMS_MODE: &str = "teams_mode";

pub(super) fn get(db: &Connection, key: &str) -> Result<Option<String>> {
    Ok(db
        .prepare_cached("SELECT value FROM settings WHERE key = ?")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

pub(super) fn set(db: &Connection, key: &str, value: &str) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute((key, value))?;
    Ok(())
}

/// Records how Teams runs now. Leaving trial mode discards everything trial mode wrote about
/// Teams — conversations, users, cached addresses, open Teams requests and Teams decisions on
/// pending requests — in one audited transaction. Returns how many rows were discarded. The
/// trail is not moved here: when it lives apart, the caller flushes it after.
pub async fn enter_teams_mode(db: &Db, trial: bool, now: DateTime<Utc>) -> Result<u64> {
    super::write(db, |tx| -> Result<u64> {
        let was_trial = get(tx, TEAMS_MODE)?.as_deref() == Some("trial");
        set(tx, TEAMS_MODE, if trial { "trial" } else { "registered" })?;
        if trial || !was_trial {
            return Ok(0);
        }
        let mut discarded = identities::forget_platform(tx, Platform::Teams)?;
        for sql in [
            "DELETE FROM teams_users",
            "DELETE FROM teams_conversations",
            "DELETE FROM messages WHERE platform = 'teams'",
            "DELETE FROM decisions WHERE decider_key LIKE 'teams:%' \
             AND request_id IN (SELECT id FROM requests WHERE closed = 0 AND status = 'pending')",
        ] {
            discarded += tx.prepare_cached(sql)?.execute([])? as u64;
        }
        discarded += tx
            .prepare_cached(
                "UPDATE requests SET status = 'cancelled', ended_at = ?, failure = 'made in local trial mode' \
                 WHERE requester_platform = 'teams' AND status IN ('pending', 'approved')",
            )?
            .execute([super::to_ms(now)])? as u64;
        audit::append(
            tx,
            audit::NewEvent {
                platform: Some("teams"),
                ..audit::NewEvent::by_jitbot(
                    None,
                    AuditAction::TrialDataDiscarded,
                    json!({ "rows": discarded }),
                    now,
                )
            },
        )?;
        Ok(discarded)
    })
    .await
}
