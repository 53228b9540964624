//! The `audit_events` table: an append-only, hash-chained record of every transition.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

use super::{from_ms, to_ms};

/// The hash the first event chains from.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: DateTime<Utc>,
    pub request_id: Option<i64>,
    /// Who caused it: `slack:U…`, or `jitbot` for the scheduler.
    pub actor: &'a str,
    pub action: &'a str,
    pub platform: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, FromRow)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub request_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub platform: Option<String>,
    pub channel: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Event {
    pub fn at(&self) -> DateTime<Utc> {
        from_ms(self.at)
    }
}

/// Appends an event chained to the last one. Call it inside the transaction that makes the change
/// it records, which also serialises appends.
pub async fn append(conn: &mut SqliteConnection, event: NewEvent<'_>) -> sqlx::Result<()> {
    let prev_hash: Option<String> =
        sqlx::query_scalar("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let prev_hash = prev_hash.unwrap_or_else(|| GENESIS.to_string());
    let detail = event.detail.to_string();
    let hash = chain_hash(
        &prev_hash,
        to_ms(event.at),
        event.request_id,
        event.actor,
        event.action,
        event.platform,
        event.channel,
        &detail,
    );
    sqlx::query(
        "INSERT INTO audit_events (at, request_id, actor, action, platform, channel, detail, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(to_ms(event.at))
    .bind(event.request_id)
    .bind(event.actor)
    .bind(event.action)
    .bind(event.platform)
    .bind(event.channel)
    .bind(detail)
    .bind(prev_hash)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list(
    db: impl SqliteExecutor<'_>,
    request_id: Option<i64>,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, at, request_id, actor, action, platform, channel, detail, prev_hash, hash \
         FROM audit_events WHERE (?1 IS NULL OR request_id = ?1) ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(db)
    .await
}

/// Where the chain is broken, if anywhere: the first event whose hash or link does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    Intact { events: usize },
    BrokenAt { id: i64 },
}

pub async fn verify(db: impl SqliteExecutor<'_>) -> sqlx::Result<ChainCheck> {
    let events = list(db, None).await?;
    let mut expected_prev = GENESIS.to_string();
    for event in &events {
        let hash = chain_hash(
            &event.prev_hash,
            event.at,
            event.request_id,
            &event.actor,
            &event.action,
            event.platform.as_deref(),
            event.channel.as_deref(),
            &event.detail,
        );
        if event.prev_hash != expected_prev || event.hash != hash {
            return Ok(ChainCheck::BrokenAt { id: event.id });
        }
        expected_prev = hash;
    }
    Ok(ChainCheck::Intact {
        events: events.len(),
    })
}

#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev_hash: &str,
    at: i64,
    request_id: Option<i64>,
    actor: &str,
    action: &str,
    platform: Option<&str>,
    channel: Option<&str>,
    detail: &str,
) -> String {
    // Fields are length-prefixed so that no two different events can produce the same input.
    let mut hasher = Sha256::new();
    let fields = [
        prev_hash.to_string(),
        at.to_string(),
        request_id.map(|id| id.to_string()).unwrap_or_default(),
        actor.to_string(),
        action.to_string(),
        platform.unwrap_or_default().to_string(),
        channel.unwrap_or_default().to_string(),
        detail.to_string(),
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}
