//! The `local_memberships` table: what the `local` provider has granted.

use chrono::{DateTime, Utc};

use super::{Connection, Result, to_ms};

/// Adds a member. False when they were a member already.
pub fn add(db: &Connection, target: &str, member: &str, at: DateTime<Utc>) -> Result<bool> {
    let done = db
        .prepare_cached(
            "INSERT INTO local_memberships (target, member, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )?
        .execute((target, member, to_ms(at)))?;
    Ok(done == 1)
}

/// Removes a member. False when they were not one.
pub fn remove(db: &Connection, target: &str, member: &str) -> Result<bool> {
    let done = db
        .prepare_cached("DELETE FROM local_memberships WHERE target = ? AND member = ?")?
        .execute((target, member))?;
    Ok(done == 1)
}

pub fn members(db: &Connection, target: &str) -> Result<Vec<String>> {
    let mut statement =
        db.prepare_cached("SELECT member FROM local_memberships WHERE target = ? ORDER BY member")?;
    let members = statement.query_map([target], |row| row.get(0))?;
    Ok(members.collect::<rusqlite::Result<_>>()?)
}
