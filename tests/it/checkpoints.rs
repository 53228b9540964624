//! The WAL is copied back into the database file beside the writer, never inside a commit, and
//! it still starts over, so it does not grow without end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jitbot::store;

/// A new database's pages (`connections::PAGE_SIZE`): one row is about one page.
const PAGE: usize = 1024;
/// The WAL's backstop in pages of [`PAGE`] (`connections::WAL_BACKSTOP_BYTES`, 40 MiB).
const BACKSTOP_PAGES: u64 = 40 * 1024 * 1024 / PAGE as u64;

async fn db_with_pages_table() -> (tempfile::TempDir, PathBuf, store::Db) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jitbot.db");
    let db = store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    store::write(&db, |tx| {
        tx.execute("CREATE TABLE pages (body BLOB)", [])
            .map_err(store::Error::from)
    })
    .await
    .unwrap();
    (dir, file, db)
}

/// Writes `count` rows of nearly a page each in one transaction.
async fn write_pages(db: &store::Db, count: usize) {
    store::write(db, |tx| {
        let mut insert = tx.prepare_cached("INSERT INTO pages (body) VALUES (zeroblob(?))")?;
        for _ in 0..count {
            insert.execute([PAGE as i64 - 200])?;
        }
        Ok::<_, store::Error>(())
    })
    .await
    .unwrap();
}

fn size(file: &Path) -> u64 {
    std::fs::metadata(file).map(|m| m.len()).unwrap_or(0)
}

/// The pages the WAL file has room for: as many as it ever held at once since it was created.
fn wal_pages(file: &Path) -> u64 {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    // Each page in the WAL has a 24-byte frame header.
    size(Path::new(&wal)) / (PAGE as u64 + 24)
}

/// Waits until the database file holds what was written: the checkpointer has copied it.
async fn until_copied(file: &Path, at_least: u64) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while size(file) < at_least {
        assert!(
            Instant::now() < give_up,
            "the WAL was never copied into the database"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Small pages: every commit writes each page it changed whole, twice (into the WAL, then back).
#[tokio::test]
async fn a_new_database_has_pages_of_1_kib() {
    let (_dir, _file, db) = db_with_pages_table().await;
    let page_size: i64 = db
        .read()
        .unwrap()
        .pragma_query_value(None, "page_size", |row| row.get(0))
        .unwrap();
    assert_eq!(page_size, PAGE as i64);
}

/// The pages of `db`, and the WAL pages at which its writer's commits copy the WAL themselves.
async fn page_size_and_backstop(db: &store::Db) -> (i64, i64) {
    store::write(db, |tx| {
        let pragma = |name| tx.pragma_query_value(None, name, |row| row.get::<_, i64>(0));
        Ok::<_, store::Error>((pragma("page_size")?, pragma("wal_autocheckpoint")?))
    })
    .await
    .unwrap()
}

/// The backstop is the same 40 MiB whatever the pages: counted in pages of 1 KiB it would be
/// passed at 3 000 requests a second, and the commit that passed it would copy the WAL.
#[tokio::test]
async fn the_backstop_is_counted_in_bytes() {
    let (_dir, _file, db) = db_with_pages_table().await;
    assert_eq!(
        page_size_and_backstop(&db).await,
        (PAGE as i64, BACKSTOP_PAGES as i64)
    );
}

/// A database made with SQLite's default pages of 4 KiB (by an earlier version) keeps them,
/// with the same backstop in bytes, and is written and read as before.
#[tokio::test]
async fn a_database_with_pages_of_4_kib_keeps_them_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.db");
    let old = rusqlite::Connection::open(&file).unwrap();
    old.pragma_update(None, "page_size", 4096).unwrap();
    old.pragma_update(None, "journal_mode", "WAL").unwrap();
    old.execute("CREATE TABLE kept (body TEXT)", []).unwrap();
    drop(old);
    let db = store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    assert_eq!(
        page_size_and_backstop(&db).await,
        (4096, 40 * 1024 * 1024 / 4096)
    );
    store::write(&db, |tx| {
        tx.execute("INSERT INTO kept (body) VALUES ('still here')", [])
            .map_err(store::Error::from)
    })
    .await
    .unwrap();
    let body: String = db
        .read()
        .unwrap()
        .query_row("SELECT body FROM kept", [], |row| row.get(0))
        .unwrap();
    assert_eq!(body, "still here");
}

#[tokio::test]
async fn a_commit_leaves_the_wal_in_place_and_the_checkpointer_copies_it_soon_after() {
    let (_dir, file, db) = db_with_pages_table().await;
    // SQLite's own default would copy these 2 000 pages inside the commit that wrote them.
    // The checkpointer could happen to copy them in the moment between the commit and the
    // look; that it never leaves them in place, in three tries, means the commit copied them.
    let mut left_in_place = false;
    for _ in 0..3 {
        let before = size(&file);
        write_pages(&db, 2_000).await;
        left_in_place |= size(&file) == before;
        until_copied(&file, before + 2_000 * PAGE as u64).await;
    }
    assert!(left_in_place, "the commit copied the WAL into the database");
}

#[tokio::test]
async fn the_wal_starts_over_once_copied() {
    let (_dir, file, db) = db_with_pages_table().await;
    let per_burst = 2_000;
    for burst in 1..=3_u64 {
        write_pages(&db, per_burst).await;
        until_copied(&file, burst * (per_burst * PAGE) as u64).await;
        // The file reaches its size as the copy starts; time for the copy to end (2 MiB).
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The first commit after the copy finishes it; the one after starts the WAL over.
        write_pages(&db, 1).await;
        write_pages(&db, 1).await;
    }
    // Without the copies and the new start the WAL would hold all three bursts.
    let frames = wal_pages(&file);
    assert!(
        frames < 2 * per_burst as u64,
        "the WAL holds {frames} pages: it never started over"
    );
}

/// The checkpointer's copy ends a little behind writes that go on; the commit after it copies
/// the rest, or the WAL would start over only when it reached the backstop (10 000 pages, when
/// a commit copies it as SQLite's default does), and the WAL file would grow to that. Counted in
/// pages written rather than time: on a busy machine the copying falls further behind (the
/// WAL reached 9 000 pages once when the tests ran beside a build), but only without the commit
/// that finishes each copy does it reach the backstop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_writes_that_never_pause() {
    let (_dir, file, db) = db_with_pages_table().await;
    let mut written = 0_u64;
    while written < 2 * BACKSTOP_PAGES {
        write_pages(&db, 16).await;
        written += 16;
    }
    let frames = wal_pages(&file);
    assert!(
        frames < BACKSTOP_PAGES,
        "the WAL grew to {frames} pages of {written} written: it started over only at the backstop"
    );
}

/// Closing the database stops the copying before it returns: nothing written afterwards (through
/// a handle still open) reaches the file until the WAL reaches its backstop. With its connection
/// open on until its next copy, a copy of the file made in between missed what the WAL held.
#[tokio::test]
async fn closing_the_database_stops_the_copying() {
    let (_dir, file, db) = db_with_pages_table().await;
    write_pages(&db, 500).await;
    until_copied(&file, 500 * PAGE as u64).await;
    db.close().await;
    // The first commit after a copy may finish it, with the writer held: that is not a copy.
    write_pages(&db, 1).await;
    let before = size(&file);
    write_pages(&db, 1_000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(size(&file), before, "a copy ran after the close");
}
