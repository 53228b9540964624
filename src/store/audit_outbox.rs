//! The outbox of a trail kept apart (`audit_database_url`): events wait in the main database,
//! committed with the change they record, until they are moved into the audit database. SQLite
//! cannot commit atomically across two WAL databases, so the outbox is what makes the pair safe.

use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

use super::audit::{self, NewEvent, Recorded};
use super::audit_hash::installed_key;
use super::to_ms;

/// The main database's mark that its trail lives apart: appends go to the outbox.
const TRAIL: &str = "audit_trail";
const APART: &str = "apart";

/// Whether this (main) database's trail lives in another file.
pub async fn trail_is_apart(db: impl SqliteExecutor<'_>) -> sqlx::Result<bool> {
    Ok(super::settings::get(db, TRAIL).await?.as_deref() == Some(APART))
}

/// The id both files of a trail kept apart carry, so that each knows the other: a deleted or
/// swapped audit file would otherwise start a fresh, "intact" chain unnoticed.
const PAIRING: &str = "audit_trail_pairing";

/// The pairing id a database carries (main or audit), if any.
pub async fn pairing(db: impl SqliteExecutor<'_>) -> sqlx::Result<Option<String>> {
    super::settings::get(db, PAIRING).await
}

pub async fn set_pairing(db: impl SqliteExecutor<'_>, id: &str) -> sqlx::Result<()> {
    super::settings::set(db, PAIRING, id).await
}

/// Marks this (main) database's trail as living apart, from now on.
pub async fn mark_apart(db: impl SqliteExecutor<'_>) -> sqlx::Result<()> {
    super::settings::set(db, TRAIL, APART).await
}

pub(super) async fn put(
    conn: &mut SqliteConnection,
    event_uid: &str,
    event: &NewEvent<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_outbox (event_uid, at, request_id, actor, action, platform, channel, detail) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event_uid)
    .bind(to_ms(event.at))
    .bind(event.request_id)
    .bind(event.actor)
    .bind(event.action.as_str())
    .bind(event.platform)
    .bind(event.channel)
    .bind(event.detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// An event in the outbox, with its place in line.
#[derive(Debug, Clone, FromRow)]
pub struct Waiting {
    pub id: i64,
    #[sqlx(flatten)]
    pub event: Recorded,
}

/// Every event waiting, in the order the changes committed.
pub async fn waiting(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(
        "SELECT id, event_uid, at, request_id, actor, action, platform, channel, detail \
         FROM audit_outbox ORDER BY id",
    )
    .fetch_all(db)
    .await
}

pub async fn count(db: impl SqliteExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_outbox")
        .fetch_one(db)
        .await
}

/// Chains `event` into the audit database `conn` (keyed as `append` keys) unless it is there
/// already: a move repeated after a crash. Returns whether it was chained now.
pub async fn chain_once(conn: &mut SqliteConnection, event: &Recorded) -> sqlx::Result<bool> {
    if audit::has_uid(&mut *conn, &event.event_uid).await? {
        return Ok(false);
    }
    audit::chain(conn, installed_key(), event).await?;
    Ok(true)
}

/// Removes the events up to `id` from the outbox, once the audit database holds them.
pub async fn remove_up_to(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM audit_outbox WHERE id <= ?")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// How many events the main database's own table holds (none, when the trail lives apart).
pub async fn events_in(db: impl SqliteExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(db)
        .await
}
