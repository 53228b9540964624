//! SQL only: one function per query. Each takes the connection it runs on, so that callers decide
//! what runs inside one transaction: a reader (`Db::read`) or a write transaction (`write`).
//!
//! Queries run through rusqlite on the caller's own thread. A statement takes microseconds, and
//! a driver that runs each one on a connection thread of its own (sqlx) costs two thread switches
//! per statement, which on one core was most of a request's time. sqlx only runs the migrations.

pub mod audit;
pub mod audit_export;
mod audit_hash;
pub mod audit_outbox;
pub mod audit_purge;
mod checkpoint;
mod columns;
mod connections;
pub mod decisions;
pub mod follow_ups;
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

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::Semaphore;

pub use connections::Reader;
use connections::Readers;
pub use group_commit::WriteTx;
use group_commit::Writer;
pub use rusqlite::{Connection, OptionalExtension, params};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The write ran, but the group it was part of did not commit: nothing of it was kept.
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
    #[error("the database could not be opened: {0}")]
    Open(String),
    /// A read on the blocking pool that the runtime's shutdown stopped.
    #[error("{0}")]
    Interrupted(String),
}

/// A stored value that does not read back as what it should be (a column written by hand, say):
/// an error of the row's mapping, as rusqlite's own are.
pub fn decode_error(column: &str, why: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("column {column}: {why}").into(),
    )
}

/// The database: one writer connection and readers. Writes queue for the writer in process
/// (people's first come, first served; background work's when it is free) and the
/// transactions queued together commit together
/// (`group_commit`); WAL lets the readers run beside it. Anything that writes goes through
/// [`write`]. The readers are opened read-only, so a write sent to them fails loudly.
#[derive(Clone)]
pub struct Db {
    readers: Arc<Readers>,
    /// The writer's transactions, grouped.
    writer: Arc<Writer>,
    /// Whose writes go through this handle.
    priority: Priority,
    /// Background work's transactions take turns, one waiting for the writer at a time, and
    /// take it when it is free (`group_commit`), so a request's acknowledgement rarely waits
    /// for one of them. One for the database, whichever handle they go through.
    background_turn: Arc<Semaphore>,
    /// The thread copying the WAL into the file (none for a database in memory).
    copier: Option<Arc<checkpoint::Copier>>,
}

/// Whose writes go through a [`Db`] handle (`write`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Priority {
    /// Background work's when made on a thread whose writes all are (the scheduler's), people's
    /// otherwise.
    OfThisThread,
    /// Background work's ([`Db::for_background`]).
    Background,
    /// People's wherever made ([`Db::for_people`]).
    People,
}

thread_local! {
    /// Set on a thread whose writes are all background work ([`writes_on_this_thread_are_background`]).
    static BACKGROUND_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes every write transaction started on this thread background work, whichever [`Db`]
/// handle it goes through: for the scheduler's thread, where the chat adapters and providers
/// write through handles of their own (a card's message, an identity asked of Slack). Counted
/// as people's, those writes took the writer ahead of the acknowledgements, held the
/// scheduler's own writes back as a waiting person does, and committed on the thread that
/// answers people: at 1 000 requests a second they were three of every five writes.
pub fn writes_on_this_thread_are_background() {
    BACKGROUND_THREAD.with(|background| background.set(true));
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// A reader for queries that run now, on this thread: `requests::get(&db.read()?, id)`.
    /// Give it back (drop it) before waiting on anything.
    pub fn read(&self) -> Result<Reader> {
        self.readers.get()
    }

    /// A long read (an export, a check of the whole trail) on a thread of the blocking pool,
    /// so that it does not hold up everything else on this one.
    pub async fn read_apart<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let reader = self.read()?;
        match tokio::task::spawn_blocking(move || work(&reader)).await {
            Ok(read) => read,
            Err(stopped) if stopped.is_panic() => std::panic::resume_unwind(stopped.into_panic()),
            Err(_) => Err(Error::Interrupted(
                "the runtime shut down during the read".into(),
            )),
        }
    }

    /// Commits what is still waiting for its group's commit, and stops copying the WAL (its
    /// connection closed before this returns). Readers and the writer close as the last clone
    /// of the `Db` goes.
    pub async fn close(&self) {
        self.writer.flush().await;
        if let Some(copier) = &self.copier {
            copier.stop().await;
        }
    }

    /// Write transactions committed so far, and the commits (groups) they took.
    pub fn committed(&self) -> (u64, u64) {
        self.writer.committed()
    }

    /// The same database for background work (the scheduler): its write transactions go to the
    /// writer one at a time, so that people's requests, which write once each, come first.
    pub fn for_background(&self) -> Db {
        Db {
            priority: Priority::Background,
            ..self.clone()
        }
    }

    /// The same database for writes that people's writes may wait for, wherever they are made:
    /// a write made while holding a lock that people's requests take too (the audit trail's
    /// move) must not wait for the writer as background work does.
    pub fn for_people(&self) -> Db {
        Db {
            priority: Priority::People,
            ..self.clone()
        }
    }
}

/// Opens (creating if needed) and migrates the database.
pub async fn connect(database_url: &str) -> anyhow::Result<Db> {
    open(database_url, connections::Durability::Normal).await
}

/// Opens the audit database of a trail kept apart (`audit_database_url`), with the same schema.
/// Its commits reach the disk before they return (`synchronous = FULL`): an event is removed
/// from the main database's outbox only after that, so a power cut cannot lose it in between.
pub async fn connect_audit(database_url: &str) -> anyhow::Result<Db> {
    open(database_url, connections::Durability::Full).await
}

async fn open(database_url: &str, durability: connections::Durability) -> anyhow::Result<Db> {
    let place = connections::Place::of(database_url)?;
    let writer = connections::migrate_and_open_writer(&place, durability).await?;
    let writer = Writer::new(writer, durability);
    let copier = match connections::open_checkpointer(&place, durability)? {
        Some(checkpointer) => Some(Arc::new(checkpoint::start(checkpointer, &writer)?)),
        None => None,
    };
    Ok(Db {
        readers: Arc::new(Readers::new(place)?),
        writer,
        priority: Priority::OfThisThread,
        background_turn: Arc::new(Semaphore::new(1)),
        copier,
    })
}

/// Runs `work` as a write transaction on the writer, in the group open there (see
/// `group_commit`), and returns once its group has committed. When `work` fails, nothing it did
/// is kept. `work` runs on this thread and cannot wait on anything: read from other services
/// first, then write. It is background work when `db` is background work's handle, or when
/// this thread's writes all are and `db` is not people's.
pub async fn write<T, E: From<Error>>(
    db: &Db,
    work: impl FnOnce(&mut WriteTx) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let background = match db.priority {
        Priority::Background => true,
        Priority::People => false,
        Priority::OfThisThread => BACKGROUND_THREAD.with(std::cell::Cell::get),
    };
    let turn = match background {
        true => Some(
            db.background_turn
                .clone()
                .acquire_owned()
                .await
                .expect("never closed"),
        ),
        false => None,
    };
    db.writer.run(turn, work).await
}

pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
