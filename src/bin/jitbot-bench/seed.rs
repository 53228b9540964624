//! Seeds a bench database straight with SQL (the server is not running yet): history to show
//! that costs do not grow with it, and active grants coming due together for revocation lag.

use std::path::Path;

use chrono::{DateTime, Utc};

/// Creates and migrates the database as jitbot would; seeding then writes through one sqlx
/// connection of its own, as an outside tool would (the file is in WAL mode from its creation).
pub async fn create(database: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    let db = jitbot::store::connect(&format!("sqlite://{}", database.display())).await?;
    db.close().await;
    drop(db);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(database)
        .busy_timeout(std::time::Duration::from_secs(10));
    Ok(sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// `total` earlier requests of the bench group, the first `open` of them still pending (and
/// checked, so owners see them), the rest ended. Each from its own user.
pub async fn history(
    db: &sqlx::SqlitePool,
    total: u64,
    open: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let now_ms = now.timestamp_millis();
    sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1) \
         INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
             requester_addresses, justification, duration_minutes, status, origin_channel, \
             requested_at, confirmed_at, decided_at, granted_at, expires_at, ended_at, already_member) \
         SELECT 'bench', 'slack', 'UH' || i, 'uh' || i || '@bench.example', \
             json_array('uh' || i || '@bench.example'), 'seeded history', 60, \
             CASE WHEN i <= ?2 THEN 'pending' ELSE 'ended' END, 'C0REQUESTS', \
             ?3 - i * 1000, ?3 - i * 1000, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 + 3600000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 + 3600000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE 0 END \
         FROM seq",
    )
    .bind(total as i64)
    .bind(open as i64)
    .bind(now_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// `total` active grants of the bench group, `due` of them expiring at `due_at` and the rest a
/// day later, each with its revocation job queued as a grant queues it and its thread and card
/// posted. Returns the ids due.
pub async fn grants(
    db: &sqlx::SqlitePool,
    total: u64,
    due: u64,
    due_at: DateTime<Utc>,
) -> anyhow::Result<Vec<i64>> {
    let due_ms = due_at.timestamp_millis();
    let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM requests")
        .fetch_one(db)
        .await?;
    sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1) \
         INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
             requester_addresses, justification, duration_minutes, status, origin_channel, \
             requested_at, confirmed_at, decided_at, granted_at, expires_at, already_member) \
         SELECT 'bench', 'slack', 'UG' || i, 'ug' || i || '@bench.example', \
             json_array('ug' || i || '@bench.example'), 'seeded grant', 60, 'active', 'C0REQUESTS', \
             ?3 - 3600000, ?3 - 3600000, ?3 - 3600000, ?3 - 3600000, \
             CASE WHEN i <= ?2 THEN ?3 ELSE ?3 + 86400000 END, 0 \
         FROM seq",
    )
    .bind(total as i64)
    .bind(due as i64)
    .bind(due_ms)
    .execute(db)
    .await?;
    // Each granted request has its thread and its approval card, as a real one does: the end is
    // told in the thread and shown on both.
    sqlx::query(
        "INSERT INTO messages (request_id, platform, role, conversation, message_id) \
         SELECT id, 'slack', 'thread', 'C0REQUESTS', '1700000000.' || id FROM requests WHERE id >= ?1 \
         UNION ALL \
         SELECT id, 'slack', 'card', 'C0APPROVALS', '1700000001.' || id FROM requests WHERE id >= ?1",
    )
    .bind(first)
    .execute(db)
    .await?;
    sqlx::query(
        "INSERT INTO jobs (request_id, payload, due_at) \
         SELECT id, '{\"job\":\"revoke\"}', expires_at FROM requests WHERE id >= ? AND status = 'active'",
    )
    .bind(first)
    .execute(db)
    .await?;
    let ids = sqlx::query_scalar("SELECT id FROM requests WHERE id >= ? AND expires_at = ?")
        .bind(first)
        .bind(due_ms)
        .fetch_all(db)
        .await?;
    Ok(ids)
}

/// Moves the expiry (and the queued revocation) of `ids` to `due_at`.
pub async fn move_due(
    db: &sqlx::SqlitePool,
    ids: &[i64],
    due_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(());
    };
    let due_ms = due_at.timestamp_millis();
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE requests SET expires_at = ? WHERE id BETWEEN ? AND ?")
        .bind(due_ms)
        .bind(first)
        .bind(last)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE jobs SET due_at = ? WHERE request_id BETWEEN ? AND ?")
        .bind(due_ms)
        .bind(first)
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
