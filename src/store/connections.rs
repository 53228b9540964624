//! Opening the database: where it is, the migrations (sqlx's), the writer connection and a
//! small pool of readers.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::{Error, Result};

/// Only another process (the command line, say) can hold the lock a connection waits for.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers kept open when idle. Reads run on the calling thread, so more than this are only
/// open at once when that many threads read at once; those are closed after use.
const IDLE_READERS: usize = 8;
/// Prepared statements each connection keeps (rusqlite's default is 16; the store has about a
/// hundred distinct statements, and preparing one costs more than running it).
const STATEMENT_CACHE: usize = 256;

/// The page size of a new database. Every commit writes each page it changed whole, to the WAL
/// and later back into the file: with SQLite's default of 4 KiB, a request's small rows in a
/// dozen tables and indexes came to about 35 pages, 140 KiB, written twice. 1 KiB pages hold
/// every row the store writes (a table row spills past about 990 bytes) and cut that to about
/// 16 pages, 16 KiB (`strace` at 200/s). Side by side in the benchmark (five pairs), ack p99
/// at 1 000/s 2.4–3.8 → 1.7–2.8 ms and at 3 000/s 10.7–14.9 → 7.7–9.1 ms (5.5–7.1 ms with the
/// backstop below in bytes: at 10 000 pages it was 10 MiB, which the WAL passes at 3 000/s);
/// with a history of a million requests 3.4 → 1.7 ms. 2 KiB was between the two, 512 bytes no
/// better than 1 KiB. A database made with other pages keeps them (SQLite cannot change them
/// in WAL mode); the README says how to convert one.
const PAGE_SIZE: u32 = 1024;
/// Should the WAL ever hold this much (its copying stopped, or could not keep up), the commit
/// that takes it there copies it, as SQLite's default does at 1 000 pages. At 1 000 requests a
/// second it stays under about 17 MiB (`checkpoint`); at 3 000/s, with the core full, it
/// reaches this in most runs.
const WAL_BACKSTOP_BYTES: i64 = 40 * 1024 * 1024;
/// A WAL file that grew past this (a burst, or a long read that kept it from starting over) is
/// cut back to it when the WAL starts over, rather than kept at its largest.
const WAL_FILE_KEPT: i64 = 64 * 1024 * 1024;

/// How durable a commit is before it returns.
#[derive(Clone, Copy)]
pub enum Durability {
    /// In the WAL, synced at checkpoints: a power cut may lose the last commits, never corrupts.
    Normal,
    /// Synced before the commit returns.
    Full,
}

impl Durability {
    fn synchronous(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// Where the database lives: a file, or memory shared by this process's connections to it.
pub enum Place {
    File(PathBuf),
    /// `sqlite::memory:`: a named in-memory database in SQLite's shared cache, so that the
    /// writer and the readers see one database. It lives while the writer is open.
    Memory(String),
}

impl Place {
    pub fn of(database_url: &str) -> anyhow::Result<Place> {
        if database_url.contains(":memory:") || database_url.contains("mode=memory") {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("jitbot-memory-{}-{n}", std::process::id());
            return Ok(Place::Memory(name));
        }
        // sqlx's parser, so that every URL the config accepts means what it meant before.
        let options = SqliteConnectOptions::from_str(database_url)?;
        Ok(Place::File(options.get_filename().to_path_buf()))
    }

    fn uri(&self) -> String {
        match self {
            Place::File(path) => path.display().to_string(),
            Place::Memory(name) => format!("file:{name}?mode=memory&cache=shared"),
        }
    }

    fn sqlx_options(&self) -> SqliteConnectOptions {
        match self {
            Place::File(path) => SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                // Only a new database takes it: SQLite ignores it once the file has pages.
                .page_size(PAGE_SIZE)
                .journal_mode(SqliteJournalMode::Wal),
            Place::Memory(name) => SqliteConnectOptions::new()
                .filename(format!("file:{name}"))
                .in_memory(true)
                .shared_cache(true),
        }
    }
}

/// Creates the database if needed, runs the migrations through sqlx, and opens the writer.
/// The writer opens before sqlx's connection closes, so an in-memory database outlives it.
pub async fn migrate_and_open_writer(
    place: &Place,
    durability: Durability,
) -> anyhow::Result<Connection> {
    let migrator = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(place.sqlx_options().busy_timeout(BUSY_TIMEOUT))
        .await?;
    sqlx::migrate!("./migrations").run(&migrator).await?;
    let writer = open_writer(place, durability)?;
    migrator.close().await;
    Ok(writer)
}

fn open_writer(place: &Place, durability: Durability) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        place.uri(),
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    set_up(&conn)?;
    conn.pragma_update(None, "synchronous", durability.synchronous())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Savepoints (each transaction of a group is one) and statements keep the pages they change
    // in a sub-journal, to undo them; by default it spills to a temporary file past 64 KiB, and
    // every group then pays for writes and a file of its own. In memory it costs a copy of each
    // page. Only the writer: readers keep spilling large sorts to disk.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Commits do not copy the WAL back into the database: `checkpoint` does, beside them.
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_BYTES / page_size)?;
    conn.pragma_update(None, "journal_size_limit", WAL_FILE_KEPT)?;
    Ok(conn)
}

/// The connection that copies the WAL back into the database (`checkpoint`), for a file:
/// an in-memory database has no WAL. Its syncs are as durable as the writer's commits.
pub fn open_checkpointer(place: &Place, durability: Durability) -> Result<Option<Connection>> {
    let Place::File(_) = place else {
        return Ok(None);
    };
    let conn = Connection::open_with_flags(
        place.uri(),
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", durability.synchronous())?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(Some(conn))
}

fn open_reader(place: &Place) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        place.uri(),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    set_up(&conn)?;
    if let Place::Memory(_) = place {
        // The shared cache locks tables, and the writer keeps a transaction open across a
        // group's members: without this a reader would wait for every commit. It then sees
        // what the group's members wrote before the group commits; an in-memory database is
        // for trying jitbot out, and loses everything when it stops anyway.
        conn.pragma_update(None, "read_uncommitted", true)?;
    }
    Ok(conn)
}

fn set_up(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The read connections: taken for a read and given back after it.
pub struct Readers {
    place: Place,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(place: Place) -> Result<Readers> {
        // One opened now, so that a database that cannot be read fails at start.
        let first = open_reader(&place)?;
        Ok(Readers {
            place,
            idle: Mutex::new(vec![first]),
        })
    }

    pub fn get(self: &std::sync::Arc<Readers>) -> Result<Reader> {
        let idle = self.idle.lock().expect("never poisoned").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.place)
                .map_err(|e| Error::Open(format!("a reader could not be opened: {e}")))?,
        };
        Ok(Reader {
            readers: self.clone(),
            conn: Some(conn),
        })
    }
}

/// A read connection, given back when dropped.
pub struct Reader {
    readers: std::sync::Arc<Readers>,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A reader left inside a transaction (a read that failed half-way) is closed instead.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.readers.idle.lock().expect("never poisoned");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}
