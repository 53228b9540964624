//! The `settings` table, and what it guards: whether Teams last ran in local trial mode. What
//! trial mode wrote came from unauthenticated requests, so none of it is used once a bot is
//! registered.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::SqliteExecutor;

use super::{Db, audit, identities};
use crate::domain::{AuditAction, Platform};

const TEAMS_MODE: &str = "teams_mode";

pub(super) async fn get(db: impl SqliteExecutor<'_>, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
        .bind(key)
        .fetch_optional(db)
        .await
}

pub(super) async fn set(db: impl SqliteExecutor<'_>, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(db)
    .await?;
    Ok(())
}

/// Records how Teams runs now. Leaving trial mode discards everything trial mode wrote about
/// Teams — conversations, users, cached addresses, open Teams requests and Teams decisions on
/// pending requests — in one audited transaction. Returns how many rows were discarded.
pub async fn enter_teams_mode(db: &Db, trial: bool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = super::write(db).await?;
    let was_trial = get(&mut *tx, TEAMS_MODE).await?.as_deref() == Some("trial");
    set(
        &mut *tx,
        TEAMS_MODE,
        if trial { "trial" } else { "registered" },
    )
    .await?;
    if trial || !was_trial {
        tx.commit().await?;
        return Ok(0);
    }
    let mut discarded = identities::forget_platform(&mut *tx, Platform::Teams).await?;
    for sql in [
        "DELETE FROM teams_users",
        "DELETE FROM teams_conversations",
        "DELETE FROM messages WHERE platform = 'teams'",
        "DELETE FROM decisions WHERE decider_key LIKE 'teams:%' \
         AND request_id IN (SELECT id FROM requests WHERE status = 'pending')",
    ] {
        discarded += sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    discarded += sqlx::query(
        "UPDATE requests SET status = 'cancelled', ended_at = ?, failure = 'made in local trial mode' \
         WHERE requester_platform = 'teams' AND status IN ('pending', 'approved')",
    )
    .bind(super::to_ms(now))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::append(
        &mut tx,
        audit::NewEvent {
            platform: Some("teams"),
            ..audit::NewEvent::by_jitbot(
                None,
                AuditAction::TrialDataDiscarded,
                json!({ "rows": discarded }),
                now,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(discarded)
}
