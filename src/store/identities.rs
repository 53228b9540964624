//! The `identities` table: a chat account's verified addresses, cached from the platforms'
//! directories. Only verified addresses are ever written here.

use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

use super::to_ms;
use crate::domain::Platform;

/// Caches an account's verified addresses (the preferred one first; none is an answer too).
pub async fn remember(
    db: impl SqliteExecutor<'_>,
    platform: Platform,
    user_id: &str,
    addresses: &[String],
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let addresses: Vec<String> = addresses.iter().map(|a| a.to_ascii_lowercase()).collect();
    sqlx::query(
        "INSERT INTO identities (platform, user_id, email, addresses, fetched_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (platform, user_id) DO UPDATE SET email = excluded.email, \
         addresses = excluded.addresses, fetched_at = excluded.fetched_at",
    )
    .bind(platform.as_str())
    .bind(user_id)
    .bind(addresses.first())
    .bind(serde_json::to_string(&addresses).expect("strings serialize"))
    .bind(to_ms(at))
    .execute(db)
    .await?;
    Ok(())
}

pub const ADDRESSES_OF: &str =
    "SELECT addresses FROM identities WHERE platform = ? AND user_id = ? AND fetched_at > ?";

/// The cached verified addresses of an account, if fetched after `fresh_after`. `Some(empty)`:
/// known to have none.
pub async fn addresses_of(
    db: impl SqliteExecutor<'_>,
    platform: Platform,
    user_id: &str,
    fresh_after: DateTime<Utc>,
) -> sqlx::Result<Option<Vec<String>>> {
    let addresses: Option<String> = sqlx::query_scalar(ADDRESSES_OF)
        .bind(platform.as_str())
        .bind(user_id)
        .bind(to_ms(fresh_after))
        .fetch_optional(db)
        .await?;
    Ok(addresses.map(|text| serde_json::from_str(&text).unwrap_or_default()))
}

pub const USER_WITH_EMAIL: &str = "SELECT user_id FROM identities WHERE platform = ? AND email = ? AND fetched_at > ? \
         ORDER BY fetched_at DESC LIMIT 1";

/// The cached user id whose preferred verified address is `email`, if fetched after `fresh_after`.
pub async fn user_with_email(
    db: impl SqliteExecutor<'_>,
    platform: Platform,
    email: &str,
    fresh_after: DateTime<Utc>,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(USER_WITH_EMAIL)
        .bind(platform.as_str())
        .bind(email.to_ascii_lowercase())
        .bind(to_ms(fresh_after))
        .fetch_optional(db)
        .await
}

/// Forgets every cached Teams account: what local trial mode learned is not trusted later.
pub async fn forget_platform(db: impl SqliteExecutor<'_>, platform: Platform) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM identities WHERE platform = ?")
        .bind(platform.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
