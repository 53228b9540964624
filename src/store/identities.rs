//! The `identities` table: platform user ↔ email, cached from the platforms' directories.

use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

use super::to_ms;
use crate::domain::Platform;

pub async fn remember(
    db: impl SqliteExecutor<'_>,
    platform: Platform,
    user_id: &str,
    email: Option<&str>,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO identities (platform, user_id, email, fetched_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (platform, user_id) DO UPDATE SET email = excluded.email, fetched_at = excluded.fetched_at",
    )
    .bind(platform.as_str())
    .bind(user_id)
    .bind(email.map(str::to_ascii_lowercase))
    .bind(to_ms(at))
    .execute(db)
    .await?;
    Ok(())
}

/// The cached email of a user, if fetched after `fresh_after`. `Some(None)`: known to have none.
pub async fn email_of(
    db: impl SqliteExecutor<'_>,
    platform: Platform,
    user_id: &str,
    fresh_after: DateTime<Utc>,
) -> sqlx::Result<Option<Option<String>>> {
    sqlx::query_scalar(
        "SELECT email FROM identities WHERE platform = ? AND user_id = ? AND fetched_at > ?",
    )
    .bind(platform.as_str())
    .bind(user_id)
    .bind(to_ms(fresh_after))
    .fetch_optional(db)
    .await
}

/// The cached user id for an email, if fetched after `fresh_after`.
pub async fn user_with_email(
    db: impl SqliteExecutor<'_>,
    platform: Platform,
    email: &str,
    fresh_after: DateTime<Utc>,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT user_id FROM identities WHERE platform = ? AND email = ? AND fetched_at > ? \
         ORDER BY fetched_at DESC LIMIT 1",
    )
    .bind(platform.as_str())
    .bind(email.to_ascii_lowercase())
    .bind(to_ms(fresh_after))
    .fetch_optional(db)
    .await
}
