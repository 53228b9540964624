//! The audit events an export asks for: a time window and a group. Reading only: export never
//! removes history.

use chrono::{DateTime, Utc};

use super::audit::Event;
use super::{Connection, Result, to_ms};

/// Which events to export; every bound is optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Events whose detail names this group.
    pub group: Option<String>,
}

/// The events the filter selects, oldest first. It may read the whole trail: run it on a reader
/// of its own (`Db::read_apart`).
pub fn select(db: &Connection, filter: &Filter) -> Result<Vec<Event>> {
    let mut statement = db.prepare_cached(
        "SELECT id, at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind \
         FROM audit_events \
         WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2) \
           AND (?3 IS NULL OR json_extract(detail, '$.group') = ?3) \
         ORDER BY id",
    )?;
    let events = statement.query_map(
        (
            filter.since.map(to_ms),
            filter.until.map(to_ms),
            filter.group.as_deref(),
        ),
        Event::from_row,
    )?;
    Ok(events.collect::<rusqlite::Result<_>>()?)
}
