//! The outbox of a trail kept apart (`audit_database_url`): events wait in the main database,
//! committed with the change they record, until they are moved into the audit database. SQLite
//! cannot commit atomically across two WAL databases, so the outbox is what makes the pair safe.

use rusqlite::Row;

use super::audit::{self, NewEvent, Recorded};
use super::audit_hash::installed_key;
use super::{Connection, Result, to_ms};

/// The main database's mark that its trail lives apart: appends go to the outbox.
const TRAIL: &str = "audit_trail";
const APART: &str = "apart";

/// Whether this (main) database's trail lives in another file.
pub fn trail_is_apart(db: &Connection) -> Result<bool> {
    Ok(super::settings::get(db, TRAIL)?.as_deref() == Some(APART))
}

/// The id both files of a trail kept apart carry, so that each knows the other: a deleted or
/// swapped audit file would otherwise start a fresh, "intact" chain unnoticed.
const PAIRING: &str = "audit_trail_pairing";

/// The pairing id a database carries (main or audit), if any.
pub fn pairing(db: &Connection) -> Result<Option<String>> {
    super::settings::get(db, PAIRING)
}

pub fn set_pairing(db: &Connection, id: &str) -> Result<()> {
    super::settings::set(db, PAIRING, id)
}

/// The audit database's mark that a main database has taken it, once paired: from then on no
/// other main database can, not even one carrying the same id (a copy of the main file made
/// half-way through pairing).
const CLAIMED: &str = "audit_trail_claimed";

pub fn is_claimed(db: &Connection) -> Result<bool> {
    Ok(super::settings::get(db, CLAIMED)?.is_some())
}

pub fn claim(db: &Connection) -> Result<()> {
    super::settings::set(db, CLAIMED, "claimed")
}

/// Marks this (main) database's trail as living apart, from now on.
pub fn mark_apart(db: &Connection) -> Result<()> {
    super::settings::set(db, TRAIL, APART)
}

pub(super) fn put(conn: &Connection, event_uid: &str, event: &NewEvent<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_outbox (event_uid, at, request_id, actor, action, platform, channel, detail) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute((
        event_uid,
        to_ms(event.at),
        event.request_id,
        event.actor,
        event.action.as_str(),
        event.platform,
        event.channel,
        &event.detail,
    ))?;
    Ok(())
}

/// An event in the outbox, with its place in line.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: i64,
    pub event: Recorded,
}

impl Waiting {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Waiting {
            id: row.get("id")?,
            event: Recorded::from_row(row)?,
        })
    }
}

/// Every event waiting, in the order the changes committed.
pub fn waiting(db: &Connection) -> Result<Vec<Waiting>> {
    let mut statement = db.prepare_cached(
        "SELECT id, event_uid, at, request_id, actor, action, platform, channel, detail \
         FROM audit_outbox ORDER BY id",
    )?;
    let waiting = statement.query_map([], Waiting::from_row)?;
    Ok(waiting.collect::<rusqlite::Result<_>>()?)
}

pub fn count(db: &Connection) -> Result<i64> {
    Ok(db
        .prepare_cached("SELECT COUNT(*) FROM audit_outbox")?
        .query_row([], |row| row.get(0))?)
}

/// Chains `event` into the audit database `conn` (keyed as `append` keys) unless it is there
/// already: a move repeated after a crash. Returns whether it was chained now.
pub fn chain_once(conn: &Connection, event: &Recorded) -> Result<bool> {
    if audit::has_uid(conn, &event.event_uid)? {
        return Ok(false);
    }
    audit::chain(conn, installed_key(), event)?;
    Ok(true)
}

/// Removes the events up to `id` from the outbox, once the audit database holds them.
pub fn remove_up_to(db: &Connection, id: i64) -> Result<()> {
    db.prepare_cached("DELETE FROM audit_outbox WHERE id <= ?")?
        .execute([id])?;
    Ok(())
}

/// How many events the main database's own table holds (none, when the trail lives apart).
pub fn events_in(db: &Connection) -> Result<i64> {
    Ok(db
        .prepare_cached("SELECT COUNT(*) FROM audit_events")?
        .query_row([], |row| row.get(0))?)
}
