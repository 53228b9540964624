//! SQL only: one function per query. Connections come in as executors so that callers decide
//! what runs inside one transaction.

pub mod audit;
pub mod audit_export;
mod audit_hash;
pub mod audit_outbox;
pub mod audit_purge;
pub mod decisions;
pub mod grant_targets;
pub mod identities;
pub mod jobs;
pub mod local_memberships;
pub mod messages;
pub mod requests;
pub mod settings;
pub mod teams;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

pub type Db = SqlitePool;

/// Opens (creating if needed) and migrates the database.
pub async fn connect(database_url: &str) -> anyhow::Result<Db> {
    open(database_url, SqliteSynchronous::Normal).await
}

/// Opens the audit database of a trail kept apart (`audit_database_url`), with the same schema.
/// Its commits reach the disk before they return (`synchronous = FULL`): an event is removed
/// from the main database's outbox only after that, so a power cut cannot lose it in between.
pub async fn connect_audit(database_url: &str) -> anyhow::Result<Db> {
    open(database_url, SqliteSynchronous::Full).await
}

async fn open(database_url: &str, synchronous: SqliteSynchronous) -> anyhow::Result<Db> {
    let options = SqliteConnectOptions::from_str(database_url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    // An in-memory database exists per connection: keep exactly one.
    let max_connections = if database_url.contains(":memory:") {
        1
    } else {
        8
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// A write transaction that takes SQLite's write lock up front. Deferred transactions that read
/// first and write later can fail with SQLITE_BUSY instead of waiting; IMMEDIATE ones queue up.
pub async fn write(db: &Db) -> sqlx::Result<Transaction<'static, Sqlite>> {
    db.begin_with("BEGIN IMMEDIATE").await
}

pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
