//! The `audit_events` table: an append-only, hash-chained record of every transition.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{FromRow, SqliteConnection, SqliteExecutor, SqlitePool};

use super::{from_ms, to_ms};
use crate::domain::AuditAction;

/// The actor jitbot's own events (the scheduler's, the sweep's) are recorded under.
pub const JITBOT: &str = "jitbot";

/// The hash the first event chains from.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: DateTime<Utc>,
    pub request_id: Option<i64>,
    /// Who caused it: `slack:U…`, or `jitbot` for the scheduler.
    pub actor: &'a str,
    pub action: AuditAction,
    pub platform: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub detail: serde_json::Value,
}

impl NewEvent<'static> {
    /// An event of jitbot's own (the scheduler's), outside any chat.
    pub fn by_jitbot(
        request_id: Option<i64>,
        action: AuditAction,
        detail: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        NewEvent {
            at,
            request_id,
            actor: JITBOT,
            action,
            platform: None,
            channel: None,
            detail,
        }
    }
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
        event.action.as_str(),
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
    .bind(event.action.as_str())
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
    Ok(check_chain(&list(db, None).await?))
}

fn check_chain(events: &[Event]) -> ChainCheck {
    let mut expected_prev = GENESIS.to_string();
    for event in events {
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
            return ChainCheck::BrokenAt { id: event.id };
        }
        expected_prev = hash;
    }
    ChainCheck::Intact {
        events: events.len(),
    }
}

/// Events the table issued an id for but no longer holds. The chain alone cannot notice events
/// deleted from its end; `AUTOINCREMENT` can: `sqlite_sequence` keeps the highest id ever issued,
/// and ids are issued 1, 2, 3 … with none skipped (a rolled-back append rolls the sequence back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// Events `first..=last` are gone; `at_end`: no later event remains.
    Events { first: i64, last: i64, at_end: bool },
    /// The sequence is below an id the table holds: `sqlite_sequence` itself was changed.
    SequenceLowered { sequence: i64, last_id: i64 },
}

/// The last event, which operators record elsewhere: a chain rewritten from its start is intact
/// again, but its head differs from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub hash: String,
}

/// Everything `jitbot audit --verify` checks, read in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailCheck {
    pub chain: ChainCheck,
    pub gaps: Vec<Gap>,
    pub events: usize,
    pub head: Option<Head>,
}

impl TrailCheck {
    pub fn is_intact(&self) -> bool {
        matches!(self.chain, ChainCheck::Intact { .. }) && self.gaps.is_empty()
    }
}

/// Checks the hash chain and that every id ever issued is still there, and names the head.
pub async fn check_trail(db: &SqlitePool) -> sqlx::Result<TrailCheck> {
    // One read transaction: events appended meanwhile are neither listed nor counted.
    let mut tx = db.begin().await?;
    let events = list(&mut *tx, None).await?;
    let sequence: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'")
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    Ok(TrailCheck {
        chain: check_chain(&events),
        // No row yet: no event was ever appended.
        gaps: gaps(&ids, sequence.unwrap_or(0)),
        events: events.len(),
        head: events.last().map(|e| Head {
            id: e.id,
            hash: e.hash.clone(),
        }),
    })
}

/// The ids missing from `1..=sequence`, given the ids present in ascending order.
fn gaps(ids: &[i64], sequence: i64) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut expected = 1;
    for &id in ids {
        if id > expected {
            gaps.push(Gap::Events {
                first: expected,
                last: id - 1,
                at_end: false,
            });
        }
        expected = expected.max(id + 1);
    }
    if sequence >= expected {
        gaps.push(Gap::Events {
            first: expected,
            last: sequence,
            at_end: true,
        });
    }
    if let Some(&last_id) = ids.last()
        && last_id > sequence
    {
        gaps.push(Gap::SequenceLowered { sequence, last_id });
    }
    gaps
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

#[cfg(test)]
mod tests {
    use super::*;

    fn events(first: i64, last: i64, at_end: bool) -> Gap {
        Gap::Events {
            first,
            last,
            at_end,
        }
    }

    #[test]
    fn gaps_name_every_id_issued_and_gone() {
        assert_eq!(gaps(&[], 0), []);
        assert_eq!(gaps(&[1, 2, 3], 3), []);
        assert_eq!(gaps(&[1, 2, 3], 5), [events(4, 5, true)]);
        assert_eq!(gaps(&[], 2), [events(1, 2, true)]);
        assert_eq!(gaps(&[1, 2, 4, 5], 5), [events(3, 3, false)]);
        assert_eq!(
            gaps(&[2, 5], 7),
            [events(1, 1, false), events(3, 4, false), events(6, 7, true)]
        );
        assert_eq!(
            gaps(&[1, 2, 3], 2),
            [Gap::SequenceLowered {
                sequence: 2,
                last_id: 3
            }]
        );
    }
}
