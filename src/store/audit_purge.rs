//! Retention (`audit_retention`): the oldest events are removed, and the removal is itself an
//! audit event naming the last event removed and its hash, so that the rest still verifies.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::audit::{self, NewEvent};
use super::audit_hash::installed_key;
use super::{Connection, OptionalExtension, Result, to_ms};
use crate::domain::AuditAction;

/// What one purge removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub events: i64,
    pub up_to: i64,
}

/// Removes the oldest events recorded before `before`, at most `limit` of them and never past
/// `at_most` (the last event the collector has, when the trail is forwarded), and chains an
/// `audit_purged` event saying so. Only a run of the oldest ids is removed: an old event after a
/// newer one (a clock stepped back) waits for the newer one, so that what remains is one
/// unbroken chain. Call it inside a write transaction on the database the trail lives in, and
/// again while it removes `limit`: a transaction keeps a copy of every page it changes until it
/// ends, so the first purge of a long trail in one would hold the trail in memory, and the
/// writer for as long.
pub fn purge(
    conn: &Connection,
    before: DateTime<Utc>,
    at_most: Option<i64>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Option<Purged>> {
    // The last id of the leading run of old events among the oldest `limit`: just before the
    // first young one, or the last of them when all are old. Read in id order, so it costs
    // `limit` rows however long the trail.
    let up_to: Option<i64> = conn
        .prepare_cached(
            "WITH oldest AS (SELECT id, at FROM audit_events ORDER BY id LIMIT ?2) \
             SELECT COALESCE((SELECT MIN(id) - 1 FROM oldest WHERE at >= ?1), \
                             (SELECT MAX(id) FROM oldest))",
        )?
        .query_row((to_ms(before), limit), |row| row.get(0))?;
    let Some(up_to) = up_to.map(|id| at_most.map_or(id, |most| id.min(most))) else {
        return Ok(None);
    };
    let removed: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT (SELECT COUNT(*) FROM audit_events WHERE id <= ?1), hash \
             FROM audit_events WHERE id = ?1",
        )?
        .query_row([up_to], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((events, hash)) = removed else {
        // Nothing old, or already removed by an earlier purge.
        return Ok(None);
    };
    let detail = json!({
        "up_to": up_to,
        "hash": hash,
        "events": events,
        "before": before.to_rfc3339(),
    });
    let event = NewEvent::by_jitbot(None, AuditAction::AuditPurged, detail, now);
    audit::append_with(conn, installed_key(), event)?;
    conn.prepare_cached("DELETE FROM audit_events WHERE id <= ?")?
        .execute([up_to])?;
    Ok(Some(Purged { events, up_to }))
}
