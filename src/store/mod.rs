//! SQL only: one function per query. Connections come in as executors so that callers decide
//! what runs inside one transaction.

pub mod audit;
pub mod audit_export;
mod audit_hash;
pub mod audit_outbox;
pub mod audit_purge;
pub mod decisions;
pub mod grant_targets;
mod group_commit;
pub mod hot_queries;
pub mod identities;
pub mod jobs;
pub mod local_memberships;
pub mod messages;
pub mod requests;
pub mod settings;
pub mod teams;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::Semaphore;

pub use group_commit::WriteTx;
use group_commit::Writer;

/// The database: one writer connection and a pool of readers. Writes queue for the writer in
/// process (first come, first served) instead of several connections polling SQLite's one write
/// lock, and the transactions queued together commit together (`group_commit`); WAL lets the
/// readers run beside it. Anything that writes goes through [`write`] (or [`write_alone`] for a
/// single write), so that it shares a group's commit; the `write` pool itself is used directly
/// only before anything else runs (migrations, start-up repairs). The readers are opened
/// read-only, so a write sent to them fails loudly rather than waiting for the lock.
#[derive(Clone, Debug)]
pub struct Db {
    pub read: SqlitePool,
    pub write: SqlitePool,
    /// The writer's transactions, grouped.
    writer: Arc<Writer>,
    /// For background work only: its transactions take turns, one waiting for the writer at a
    /// time, so a request's acknowledgement queues behind at most one of them.
    turn: Option<Arc<Semaphore>>,
}

impl Db {
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// Write transactions committed so far, and the commits (groups) they took.
    pub fn committed(&self) -> (u64, u64) {
        self.writer.committed()
    }

    /// The same database for background work (the scheduler): its write transactions go to the
    /// writer one at a time, so that people's requests, which write once each, come first.
    pub fn for_background(&self) -> Db {
        Db {
            turn: Some(Arc::new(Semaphore::new(1))),
            ..self.clone()
        }
    }
}

/// How many read connections a file database gets.
const READERS: u32 = 8;

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
    // Only another process (the command line, say) can hold the lock this process waits for.
    let options =
        SqliteConnectOptions::from_str(database_url)?.busy_timeout(Duration::from_secs(10));
    let writer_options = options
        .clone()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        // Savepoints (each transaction of a group is one) and statements keep the pages they
        // change in a sub-journal, to undo them; by default it spills to a temporary file past
        // 64 KiB, and every group then pays for writes and a file of its own. In memory it costs
        // a copy of each page. Only the writer: readers keep spilling large sorts to disk.
        .pragma("temp_store", "memory");
    // SQLite connections do not go stale: no ping before each use.
    let pool = |size: u32| {
        SqlitePoolOptions::new()
            .max_connections(size)
            .test_before_acquire(false)
    };
    let write = pool(1).connect_with(writer_options).await?;
    sqlx::migrate!("./migrations").run(&write).await?;
    // An in-memory database exists per connection: its one connection reads too.
    if database_url.contains(":memory:") {
        return Ok(Db {
            read: write.clone(),
            writer: Writer::new(write.clone()),
            write,
            turn: None,
        });
    }
    let read = pool(READERS).connect_with(options.read_only(true)).await?;
    Ok(Db {
        read,
        writer: Writer::new(write.clone()),
        write,
        turn: None,
    })
}

/// A write transaction on the writer, in the group open there (see `group_commit`). Its group's
/// `BEGIN IMMEDIATE` takes SQLite's write lock up front, so a transaction that reads first and
/// writes later never meets another process's lock half-way.
pub async fn write(db: &Db) -> sqlx::Result<WriteTx> {
    let turn = match &db.turn {
        Some(turn) => Some(turn.clone().acquire_owned().await.expect("never closed")),
        None => None,
    };
    db.writer.begin(turn).await
}

/// A write of its own (a statement or a few) as a transaction in the group commit: it shares
/// its group's commit, where a statement sent straight to the writer would pay for one alone.
/// Returns once it is committed.
pub async fn write_alone<T>(
    db: &Db,
    work: impl AsyncFnOnce(&mut SqliteConnection) -> sqlx::Result<T>,
) -> sqlx::Result<T> {
    let mut tx = write(db).await?;
    let done = work(&mut tx).await?;
    tx.commit().await?;
    Ok(done)
}

pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
