//! Copying the WAL back into the database file beside the writer, not inside its commits.
//!
//! By default SQLite checkpoints in the commit that takes the WAL past 1 000 pages: that commit
//! copies every page the WAL holds into the database file and syncs both, with the writer held.
//! At 1 000 requests a second that was a commit of about 5 ms some 35 times a second, and every
//! acknowledgement queued behind one waited for it. Here commits do not checkpoint (short of
//! the backstop, `connections::WAL_BACKSTOP_BYTES`): a thread of its own copies the WAL every
//! [`EVERY`] on a connection of its own, while the writer goes on appending (a passive
//! checkpoint takes no writer lock), and a page written many times in between is copied once.
//!
//! The WAL starts over from its beginning only when a write transaction begins with every page
//! of it copied. Commits go on while the copy runs, so it ends a little behind; after every
//! second copy ([`COPIES_A_START_OVER`]) the next commit copies the rest (the pages committed
//! meanwhile) right after it has told its members, with the writer still held, so that the
//! group after it starts the WAL over. That rest is kept small
//! first: after the copy, shorter copies catch up with what was committed during the one before
//! (`catch_up`), so that the writer is held for a few pages rather than for a copy's worth.
//! And the pages those copies wrote into the database file are synced to the disk here, after
//! each copy (`sync_copied`), so that the sync of the file in that last copy finds almost none
//! left to write.

use std::fs::File;
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::group_commit::Writer;

/// How often the WAL is copied into the database: often enough that it stays a few thousand
/// pages at most under load, seldom enough that a page written again and again is copied once.
const EVERY: Duration = Duration::from_millis(100);
/// The WAL starts over after every this many copies that found pages to copy: the copy that
/// finishes it (`Writer::finish_checkpoint`) holds the writer through two syncs, 1.5–2.9 ms
/// measured at 1 000 requests a second (1.1–1.8 since `sync_copied`), and every
/// acknowledgement arriving meanwhile waits.
/// Logged in a diagnostic build at 1 000/s, those holds were behind most people's writes that
/// took over 0.7 ms; after every second copy instead of every copy, the acknowledgements over
/// 1 ms fell from 173 / 245 to 90 / 138 in 10 000 (two pairs of runs; one in five: 88–149
/// against 131–262) and the WAL grew to 17–22 MiB instead of 13–14, below the backstop. After
/// every fifth it reached 43 MiB, past the backstop.
const COPIES_A_START_OVER: u64 = 2;
/// A copy that found the WAL holding more than this many pages asks for it to start over,
/// whatever the count of copies: 16 MiB at jitbot's pages of 1 KiB, under half the backstop
/// (`connections::WAL_BACKSTOP_BYTES`). The WAL does not always start over when asked: the
/// copy that finishes it copies only what no reader still needs, and a reader preempted in the
/// middle of a read holds back the frames after its snapshot (logged at debug level: about one
/// such finish in 10 s at 1 000 requests a second, 4–10 at 3 000/s). Left to the next count,
/// the WAL then grew by another two copies' worth: at 1 000/s it reached 17–25 MiB in three
/// runs, 16–17 MiB with this. At 3 000/s it still reaches the backstop (the copier, at idle
/// priority on a full core, falls behind as well), which copies it in a commit.
const START_OVER_ABOVE: i64 = 16 * 1024;
/// After a copy that failed, the next try waits this much longer.
const AFTER_FAILURE: Duration = Duration::from_secs(1);
/// At most this many copies catch up after each copy (`catch_up`).
const CATCH_UP_COPIES: usize = 3;
/// A catch-up copy that found no more than this many pages to copy ends the catching up: the
/// commit that finishes the copy will find about as many, a sync's worth of holding the writer.
const FEW_PAGES: i64 = 50;

/// Copies the WAL every [`EVERY`] on `conn`, on a thread of its own at `SCHED_IDLE`
/// (`background`: a copy takes milliseconds of CPU, which the acknowledgements must not wait
/// for), for as long as `writer` is open and the [`Copier`] returned is neither dropped nor
/// stopped.
pub(super) fn start(conn: Connection, writer: &Arc<Writer>) -> std::io::Result<Copier> {
    let writer = Arc::downgrade(writer);
    let (stop, told_to_stop) = mpsc::channel();
    let (tell_stopped, stopped) = oneshot::channel();
    std::thread::Builder::new()
        .name("jitbot-wal-copy".into())
        .spawn(move || {
            crate::background::lower_this_thread();
            run(&conn, &writer, &told_to_stop);
            drop(conn);
            let _ = tell_stopped.send(());
        })?;
    Ok(Copier {
        running: Mutex::new(Some((stop, stopped))),
    })
}

/// The copying thread: it stops at once when this is dropped or [`Copier::stop`]ped, rather
/// than at its next copy. Until it has, its connection is open, and the last connection to
/// close is the one that copies what the WAL still holds into the file: a copy of the file
/// made in between (a backup, the benchmark's steps) missed it.
pub struct Copier {
    /// Until stopped: what tells the thread to stop (by being dropped), and what it tells once
    /// its connection is closed.
    running: Mutex<Option<(mpsc::Sender<()>, oneshot::Receiver<()>)>>,
}

impl Copier {
    /// Stops the copying and returns once its connection is closed.
    pub async fn stop(&self) {
        let running = self.running.lock().expect("never poisoned").take();
        if let Some((stop, stopped)) = running {
            drop(stop);
            let _ = stopped.await;
        }
    }
}

/// Waits `for_`; false when told to stop (or when the [`Copier`] is gone) meanwhile.
fn wait(told_to_stop: &mpsc::Receiver<()>, for_: Duration) -> bool {
    matches!(
        told_to_stop.recv_timeout(for_),
        Err(mpsc::RecvTimeoutError::Timeout)
    )
}

fn run(conn: &Connection, writer: &Weak<Writer>, told_to_stop: &mpsc::Receiver<()>) {
    let database = open_to_sync(conn);
    let mut copies = 0u64;
    while wait(told_to_stop, EVERY) {
        // Held for the copy's few milliseconds at most; gone once the database is closed.
        let Some(writer) = writer.upgrade() else {
            return;
        };
        match catch_up(|| copy(conn)) {
            Ok(Progress { in_wal: 0, .. }) => {}
            Ok(progress) => {
                sync_copied(database.as_ref());
                copies += 1;
                if asks_to_start_over(copies, progress.in_wal) {
                    writer.finish_checkpoint_after_next_commit();
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not copy the WAL into the database; trying again");
                if !wait(told_to_stop, AFTER_FAILURE) {
                    return;
                }
            }
        }
    }
}

/// Whether the copy numbered `copies` (counting those that found pages to copy), having
/// found `in_wal` pages in the WAL, asks the writer to finish it so that the WAL starts over.
fn asks_to_start_over(copies: u64, in_wal: i64) -> bool {
    copies.is_multiple_of(COPIES_A_START_OVER) || in_wal > START_OVER_ABOVE
}

/// The database file `conn` copies the WAL into, opened to sync it (`sync_copied`); none for
/// a database without a file, or one that cannot be opened (the copies then go on unsynced,
/// and the copy that finishes them syncs them all, as before).
fn open_to_sync(conn: &Connection) -> Option<File> {
    let path = conn.path().filter(|path| !path.is_empty())?;
    File::options()
        .write(true)
        .open(path)
        .inspect_err(|error| tracing::warn!(%error, "could not open the database to sync it"))
        .ok()
}

/// Syncs to the disk the pages a copy wrote into the database file. SQLite syncs the file only
/// in the copy that takes the whole WAL, the one that holds the writer (`Writer::
/// finish_checkpoint`), and that sync then wrote out the pages of every copy since: logged at
/// 1 000 requests a second, that copy held the writer 1.5–2.0 ms (p50); synced here first, on
/// this thread, 1.1–1.3 ms, its two syncs each finding a few pages. On Linux a file's sync
/// writes out its pages whichever descriptor wrote them. A sync that fails costs nothing: the
/// copy that finishes syncs them again, and only that copy lets the WAL start over.
fn sync_copied(database: Option<&File>) {
    if let Some(Err(error)) = database.map(File::sync_data) {
        tracing::warn!(%error, "could not sync the copied pages; the finishing copy will");
    }
}

/// Where a copy left the WAL: the pages written to it since it last started over, as it stood
/// when the copy began, and how many of those are in the database now (each -1 when another
/// connection was copying it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Progress {
    pub in_wal: i64,
    pub copied: i64,
}

/// Copies into the database what the WAL holds and no reader still needs, without waiting for
/// anyone.
pub(super) fn copy(conn: &Connection) -> rusqlite::Result<Progress> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Progress {
            in_wal: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// Copies (`copy`), then copies again what was committed during the copy before, until a copy
/// finds [`FEW_PAGES`] or fewer, or [`CATCH_UP_COPIES`] have run; returns the first copy's
/// progress. Each is shorter than
/// the one before, as less was committed while it ran. At 1 000 requests a second a copy took
/// 11–16 ms, and the commit that finished it held the writer for 1.5–2.8 ms, which every
/// acknowledgement arriving meanwhile waited for, ten times a second; after one or two
/// catch-up copies of 0.5–2.5 ms it held it for 0.7–1.7 ms, and the acknowledgements that
/// took over 2 ms in the server fell from 127–175 to 36–67 in 8 000.
pub(super) fn catch_up(
    mut copy: impl FnMut() -> rusqlite::Result<Progress>,
) -> rusqlite::Result<Progress> {
    let first = copy()?;
    if first.in_wal <= 0 {
        return Ok(first);
    }
    let mut copied = first.copied;
    for _ in 0..CATCH_UP_COPIES {
        let again = copy()?;
        let caught_up = again.copied - copied;
        copied = again.copied;
        if caught_up <= FEW_PAGES {
            break;
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(in_wal: i64, copied: i64) -> rusqlite::Result<Progress> {
        Ok(Progress { in_wal, copied })
    }

    /// Runs `catch_up` after a copy of 3 000 pages, each later copy finding what `later` says,
    /// and returns how many later copies ran.
    fn copies_after_first(later: &[i64]) -> usize {
        let mut found = later.iter();
        let mut copied = 0;
        let mut ran = 0;
        let first = catch_up(|| {
            copied += match ran {
                0 => 3_000,
                _ => *found.next().expect("no more copies than scripted"),
            };
            ran += 1;
            progress(copied, copied)
        });
        assert_eq!(
            first.unwrap(),
            Progress {
                in_wal: 3_000,
                copied: 3_000
            }
        );
        ran - 1
    }

    #[test]
    fn the_wal_is_asked_to_start_over_every_second_copy_and_whenever_it_holds_too_much() {
        let asked: Vec<u64> = (1..=6)
            .filter(|&copy| asks_to_start_over(copy, 1_000))
            .collect();
        assert_eq!(asked, [2, 4, 6]);
        assert!(asks_to_start_over(3, START_OVER_ABOVE + 1));
        assert!(!asks_to_start_over(3, START_OVER_ABOVE));
    }

    #[test]
    fn the_copied_pages_are_synced_in_the_database_s_own_file() {
        use std::os::unix::fs::MetadataExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jitbot.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        let database = open_to_sync(&conn).expect("the file is opened to be synced");
        let (synced, file) = (
            database.metadata().unwrap(),
            std::fs::metadata(&path).unwrap(),
        );
        assert_eq!(
            (synced.dev(), synced.ino()),
            (file.dev(), file.ino()),
            "the database file, not its WAL"
        );
        sync_copied(Some(&database));

        assert!(open_to_sync(&Connection::open_in_memory().unwrap()).is_none());
        std::fs::remove_file(&path).unwrap();
        assert!(
            open_to_sync(&conn).is_none(),
            "a file that cannot be opened leaves the copies unsynced, not the copier stopped"
        );
    }

    #[test]
    fn catching_up_stops_at_a_copy_that_found_few_pages() {
        assert_eq!(copies_after_first(&[400, 60, FEW_PAGES, 900]), 3);
        assert_eq!(copies_after_first(&[0, 900]), 1);
    }

    #[test]
    fn catching_up_stops_after_its_copies_however_much_each_found() {
        assert_eq!(copies_after_first(&[900; CATCH_UP_COPIES]), CATCH_UP_COPIES);
    }

    #[test]
    fn an_empty_wal_or_a_failed_copy_is_not_caught_up_with() {
        /// The copies `catch_up` makes, each answered in turn from `answers`.
        fn copies(answers: Vec<rusqlite::Result<Progress>>) -> (rusqlite::Result<Progress>, usize) {
            let mut answers = answers.into_iter();
            let mut made = 0;
            let caught_up = catch_up(|| {
                made += 1;
                answers.next().expect("copied again")
            });
            (caught_up, made)
        }
        let (empty, made) = copies(vec![progress(0, 0)]);
        assert_eq!(
            (empty.unwrap(), made),
            (
                Progress {
                    in_wal: 0,
                    copied: 0
                },
                1
            )
        );
        let (failed, made) = copies(vec![Err(rusqlite::Error::InvalidQuery)]);
        assert!(failed.is_err() && made == 1);
        let (failed_again, made) =
            copies(vec![progress(10, 5), Err(rusqlite::Error::InvalidQuery)]);
        assert!(failed_again.is_err() && made == 2);
    }
}
