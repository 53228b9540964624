//! The audit events an export asks for: a time window and a group. Reading only: export never
//! removes history.

use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

use super::audit::Event;
use super::to_ms;

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

/// The events the filter selects, oldest first.
pub async fn select(db: impl SqliteExecutor<'_>, filter: &Filter) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind \
         FROM audit_events \
         WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2) \
           AND (?3 IS NULL OR json_extract(detail, '$.group') = ?3) \
         ORDER BY id",
    )
    .bind(filter.since.map(to_ms))
    .bind(filter.until.map(to_ms))
    .bind(filter.group.as_deref())
    .fetch_all(db)
    .await
}
