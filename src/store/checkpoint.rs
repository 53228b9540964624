//! Copying the WAL back into the database file beside the writer, not inside its commits.
//!
//! By default SQLite checkpoints in the commit that takes the WAL past 1 000 pages: that commit
//! copies every page the WAL holds into the database file and syncs both, with the writer held.
//! At 1 000 requests a second that was a commit of about 5 ms some 35 times a second, and every
//! acknowledgement queued behind one waited for it. Here commits do not checkpoint (short of
//! the backstop, `connections::WAL_BACKSTOP`): a thread of its own copies the WAL every
//! [`EVERY`] on a connection of its own, while the writer goes on appending (a passive
//! checkpoint takes no writer lock), and a page written many times in between is copied once.
//!
//! The WAL starts over from its beginning only when a write transaction begins with every page
//! of it copied. Commits go on while the copy runs, so it ends a little behind; the next commit
//! copies the rest (the pages committed meanwhile) right after it has told its members, with the
//! writer still held, so that the group after it starts the WAL over.

use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::Connection;

use super::group_commit::Writer;

/// How often the WAL is copied into the database: often enough that it stays a few thousand
/// pages at most under load, seldom enough that a page written again and again is copied once.
const EVERY: Duration = Duration::from_millis(100);
/// After a copy that failed, the next try waits this much longer.
const AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Copies the WAL every [`EVERY`] on `conn`, on a thread of its own, for as long as `writer` is
/// open.
pub(super) fn start(conn: Connection, writer: &Arc<Writer>) -> std::io::Result<()> {
    let writer = Arc::downgrade(writer);
    std::thread::Builder::new()
        .name("jitbot-wal-copy".into())
        .spawn(move || run(&conn, &writer))?;
    Ok(())
}

fn run(conn: &Connection, writer: &Weak<Writer>) {
    loop {
        std::thread::sleep(EVERY);
        // Held for the copy's few milliseconds at most; gone once the database is closed.
        let Some(writer) = writer.upgrade() else {
            return;
        };
        match copy(conn) {
            Ok(0) => {}
            Ok(_) => writer.finish_checkpoint_after_next_commit(),
            Err(error) => {
                tracing::warn!(%error, "could not copy the WAL into the database; trying again");
                std::thread::sleep(AFTER_FAILURE);
            }
        }
    }
}

/// Copies into the database what the WAL holds and no reader still needs, without waiting for
/// anyone. Returns the pages written to the WAL since it last started over, as it stood when
/// the copy began (-1 when another connection was copying it).
pub(super) fn copy(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}
