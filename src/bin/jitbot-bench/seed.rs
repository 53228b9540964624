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

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds what a seeded request grants, as jitbot records it for the bench group (the columns
/// `provider, provider_target, webhook_url, webhook_secret_env` of `store::grant_targets`,
/// `'webhook', ?4, ?5, NULL` in the statements): its target, and the URL of its webhook.
/// Seeded without them, every step's server filled them at its start, as an upgrade does once:
/// with a million requests, writes whose WAL the first second of measuring paid for (acks
/// held up to 120 ms).
fn bind_grant_target<'q>(query: Query<'q>, webhook_url: &'q str) -> Query<'q> {
    query.bind(crate::server::TARGET).bind(webhook_url)
}

/// `total` earlier requests of the bench group, the first `open` of them still pending (and
/// checked, so owners see them), the rest ended. Each from its own user, each granting what
/// the group grants through the webhook at `webhook_url`.
pub async fn history(
    db: &sqlx::SqlitePool,
    total: u64,
    open: u64,
    now: DateTime<Utc>,
    webhook_url: &str,
) -> anyhow::Result<()> {
    let now_ms = now.timestamp_millis();
    let query = sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1) \
         INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
             requester_addresses, justification, duration_minutes, status, origin_channel, \
             requested_at, confirmed_at, decided_at, granted_at, expires_at, ended_at, already_member, \
             provider, provider_target, webhook_url, webhook_secret_env) \
         SELECT 'bench', 'slack', 'UH' || i, 'uh' || i || '@bench.example', \
             json_array('uh' || i || '@bench.example'), 'seeded history', 60, \
             CASE WHEN i <= ?2 THEN 'pending' ELSE 'ended' END, 'C0REQUESTS', \
             ?3 - i * 1000, ?3 - i * 1000, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 + 3600000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE ?3 - i * 1000 + 3600000 END, \
             CASE WHEN i <= ?2 THEN NULL ELSE 0 END, 'webhook', ?4, ?5, NULL \
         FROM seq",
    )
    .bind(total as i64)
    .bind(open as i64)
    .bind(now_ms);
    bind_grant_target(query, webhook_url).execute(db).await?;
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
    webhook_url: &str,
) -> anyhow::Result<Vec<i64>> {
    let due_ms = due_at.timestamp_millis();
    let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM requests")
        .fetch_one(db)
        .await?;
    let query = sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1) \
         INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
             requester_addresses, justification, duration_minutes, status, origin_channel, \
             requested_at, confirmed_at, decided_at, granted_at, expires_at, already_member, \
             provider, provider_target, webhook_url, webhook_secret_env) \
         SELECT 'bench', 'slack', 'UG' || i, 'ug' || i || '@bench.example', \
             json_array('ug' || i || '@bench.example'), 'seeded grant', 60, 'active', 'C0REQUESTS', \
             ?3 - 3600000, ?3 - 3600000, ?3 - 3600000, ?3 - 3600000, \
             CASE WHEN i <= ?2 THEN ?3 ELSE ?3 + 86400000 END, 0, 'webhook', ?4, ?5, NULL \
         FROM seq",
    )
    .bind(total as i64)
    .bind(due as i64)
    .bind(due_ms);
    bind_grant_target(query, webhook_url).execute(db).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded requests record what they grant as jitbot itself would for the bench's config:
    /// the fill a server runs at its start (`store::grant_targets::fill_missing`) finds none.
    #[tokio::test]
    async fn seeded_requests_leave_the_start_nothing_to_fill() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("seeded.db");
        let webhook = "http://127.0.0.1:9/grants";
        let db = create(&database).await.unwrap();
        history(&db, 30, 10, Utc::now(), webhook).await.unwrap();
        grants(&db, 20, 5, Utc::now(), webhook).await.unwrap();
        db.close().await;

        let text = crate::server::jitbot_config(
            1,
            &database,
            "http://127.0.0.1:9/api",
            (webhook, false),
            "8h",
        );
        let config = jitbot::config::Config::parse(&text, dir.path()).unwrap();
        let conn = jitbot::store::Connection::open(&database).unwrap();
        let filled =
            jitbot::store::grant_targets::fill_missing(&conn, &config.policy, 1..=50).unwrap();
        assert_eq!(filled, 0, "every seeded request already records its grant");
        let recorded: Vec<(String, String, String)> = conn
            .prepare("SELECT DISTINCT provider, provider_target, webhook_url FROM requests")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let grants = config.policy.groups[0].grant_target();
        assert_eq!(
            recorded,
            [(grants.provider.name().into(), grants.target, webhook.into())]
        );
    }
}
