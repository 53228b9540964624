//! The `local_memberships` table: what the `local` provider has granted.

use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

use super::to_ms;

/// Adds a member. False when they were a member already.
pub async fn add(
    db: impl SqliteExecutor<'_>,
    target: &str,
    member: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO local_memberships (target, member, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(target)
    .bind(member)
    .bind(to_ms(at))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a member. False when they were not one.
pub async fn remove(db: impl SqliteExecutor<'_>, target: &str, member: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM local_memberships WHERE target = ? AND member = ?")
        .bind(target)
        .bind(member)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn members(db: impl SqliteExecutor<'_>, target: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT member FROM local_memberships WHERE target = ? ORDER BY member")
        .bind(target)
        .fetch_all(db)
        .await
}
