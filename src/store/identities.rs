//! The `identities` table: a chat account's verified addresses, cached from the platforms'
//! directories. Only verified addresses are ever written here.

use chrono::{DateTime, Utc};

use super::{Connection, OptionalExtension, Result, to_ms};
use crate::domain::Platform;

/// Caches an account's verified addresses (the preferred one first; none is an answer too).
pub fn remember(
    db: &Connection,
    platform: Platform,
    user_id: &str,
    addresses: &[String],
    at: DateTime<Utc>,
) -> Result<()> {
    let addresses: Vec<String> = addresses.iter().map(|a| a.to_ascii_lowercase()).collect();
    db.prepare_cached(
        "INSERT INTO identities (platform, user_id, email, addresses, fetched_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (platform, user_id) DO UPDATE SET email = excluded.email, \
         addresses = excluded.addresses, fetched_at = excluded.fetched_at",
    )?
    .execute((
        platform.as_str(),
        user_id,
        addresses.first(),
        serde_json::to_string(&addresses).expect("strings serialize"),
        to_ms(at),
    ))?;
    Ok(())
}

pub const ADDRESSES_OF: &str =
    "SELECT addresses FROM identities WHERE platform = ? AND user_id = ? AND fetched_at > ?";

/// The cached verified addresses of an account, if fetched after `fresh_after`. `Some(empty)`:
/// known to have none.
pub fn addresses_of(
    db: &Connection,
    platform: Platform,
    user_id: &str,
    fresh_after: DateTime<Utc>,
) -> Result<Option<Vec<String>>> {
    let addresses: Option<String> = db
        .prepare_cached(ADDRESSES_OF)?
        .query_row((platform.as_str(), user_id, to_ms(fresh_after)), |row| {
            row.get(0)
        })
        .optional()?;
    Ok(addresses.map(|text| serde_json::from_str(&text).unwrap_or_default()))
}

pub const USER_WITH_EMAIL: &str = "SELECT user_id FROM identities WHERE platform = ? AND email = ? AND fetched_at > ? \
         ORDER BY fetched_at DESC LIMIT 1";

/// The cached user id whose preferred verified address is `email`, if fetched after `fresh_after`.
pub fn user_with_email(
    db: &Connection,
    platform: Platform,
    email: &str,
    fresh_after: DateTime<Utc>,
) -> Result<Option<String>> {
    let user_id = db
        .prepare_cached(USER_WITH_EMAIL)?
        .query_row(
            (
                platform.as_str(),
                email.to_ascii_lowercase(),
                to_ms(fresh_after),
            ),
            |row| row.get(0),
        )
        .optional()?;
    Ok(user_id)
}

/// Forgets every cached Teams account: what local trial mode learned is not trusted later.
pub fn forget_platform(db: &Connection, platform: Platform) -> Result<u64> {
    let done = db
        .prepare_cached("DELETE FROM identities WHERE platform = ?")?
        .execute([platform.as_str()])?;
    Ok(done as u64)
}
