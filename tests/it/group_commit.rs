//! Write transactions that queue for the writer commit together, yet each keeps its own outcome:
//! a commit returns only once it is in the database, and a rollback undoes only its own part.

use std::sync::Arc;
use std::time::Duration;

use jitbot::store::{self, Connection, OptionalExtension};
use tokio::sync::Barrier;

async fn scratch_db() -> (tempfile::TempDir, store::Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jitbot.db").display());
    let db = store::connect(&url).await.unwrap();
    store::write(&db, |tx| {
        tx.execute("CREATE TABLE scratch (n INTEGER PRIMARY KEY)", [])
            .map_err(store::Error::from)
    })
    .await
    .unwrap();
    (dir, db)
}

/// Why a transaction's work gave up: it is rolled back, as a use case's refusal is.
#[derive(Debug)]
enum GaveUp {
    Refused,
    Store(#[allow(dead_code)] store::Error),
}

impl From<store::Error> for GaveUp {
    fn from(error: store::Error) -> Self {
        GaveUp::Store(error)
    }
}

/// Inserts `n` into the scratch table.
fn insert(db: &Connection, n: i64) -> store::Result<()> {
    db.prepare_cached("INSERT INTO scratch (n) VALUES (?)")?
        .execute([n])?;
    Ok(())
}

/// The scratch table as the readers see it.
fn stored(db: &store::Db) -> Vec<i64> {
    let reader = db.read().unwrap();
    let mut statement = reader.prepare("SELECT n FROM scratch ORDER BY n").unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_transactions_share_commits_and_keep_their_own_outcomes() {
    let (_dir, db) = scratch_db().await;
    let (transactions_before, commits_before) = db.committed();
    let start = Arc::new(Barrier::new(60));
    let mut tasks = Vec::new();
    for n in 0..60_i64 {
        let (db, start) = (db.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let written = store::write(&db, |tx| {
                insert(tx, n)?;
                match n % 4 {
                    // Refused after its insert: rolled back to its savepoint, the others' rows
                    // untouched.
                    0 => Err(GaveUp::Refused),
                    // A statement that fails, its error returned (as `?` does).
                    1 => {
                        let duplicate = insert(tx, n);
                        assert!(duplicate.is_err());
                        duplicate?;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            })
            .await;
            match n % 4 {
                0 | 1 => assert!(written.is_err(), "member {n} was told it committed"),
                _ => {
                    written.unwrap();
                    // Committed means readable by everyone, at once.
                    let seen: Option<i64> = db
                        .read()
                        .unwrap()
                        .query_row("SELECT n FROM scratch WHERE n = ?", [n], |row| row.get(0))
                        .optional()
                        .unwrap();
                    assert_eq!(seen, Some(n), "row {n} not visible after its commit");
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The rollbacks left the writer free for the next transaction.
    store::write(&db, |tx| {
        tx.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
            .map_err(store::Error::from)
    })
    .await
    .unwrap();

    let expected: Vec<i64> = (0..60).filter(|n| n % 4 >= 2).collect();
    assert_eq!(stored(&db), expected);
    let (transactions, commits) = db.committed();
    let (transactions, commits) = (transactions - transactions_before, commits - commits_before);
    assert_eq!(transactions, expected.len() as u64 + 1);
    assert!(
        commits < transactions,
        "{transactions} transactions queued together took {commits} commits"
    );
}

#[tokio::test]
async fn a_lone_transaction_commits_at_once_and_a_refused_one_leaves_nothing() {
    let (_dir, db) = scratch_db().await;
    // The scratch table's creation was one transaction, committed alone.
    assert_eq!(db.committed(), (1, 1));
    let refused = store::write(&db, |tx| {
        insert(tx, 1)?;
        Err::<(), _>(GaveUp::Refused)
    })
    .await;
    assert!(matches!(refused, Err(GaveUp::Refused)));
    store::write(&db, |tx| insert(tx, 2)).await.unwrap();
    assert_eq!(stored(&db), vec![2]);
    // The writer is free for the next transaction as soon as one has committed.
    store::write(&db, |tx| insert(tx, 3)).await.unwrap();
    assert_eq!(stored(&db), vec![2, 3]);
    // Only the kept transactions count. Each waited for its own commit; the refused one's
    // group was still open when the next one came, and committed with it.
    assert_eq!(db.committed(), (1 + 2, 1 + 2));
}

/// The jobs in the table, in the order they run: their request and kind.
fn jobs_queued(db: &store::Db) -> Vec<(i64, String)> {
    store::jobs::all(&db.read().unwrap())
        .unwrap()
        .into_iter()
        .map(|job| {
            let kind = serde_json::from_str::<serde_json::Value>(&job.payload).unwrap()["job"]
                .as_str()
                .unwrap()
                .to_string();
            (job.request_id.unwrap(), kind)
        })
        .collect()
}

#[tokio::test]
async fn jobs_queued_in_a_transaction_are_stored_as_it_commits_in_order_and_not_when_it_is_refused()
{
    use jitbot::domain::Job;
    let (_dir, db) = scratch_db().await;
    let now = chrono::Utc::now();
    let refused = store::write(&db, |tx| {
        store::jobs::queue_job(tx, 7, &Job::Revoke, now);
        insert(tx, 1)?;
        Err::<(), _>(GaveUp::Refused)
    })
    .await;
    assert!(refused.is_err());
    store::write(&db, |tx| {
        store::jobs::queue_job(tx, 1, &Job::CheckRequester, now);
        store::jobs::queue_jobs(tx, &[(2, Job::Grant, now), (1, Job::Announce, now)]);
        // Not in the table while the work runs: they go in after it, in one statement.
        let inside: i64 = tx.query_row("SELECT COUNT(*) FROM jobs", [], |row| row.get(0))?;
        assert_eq!(inside, 0);
        Ok::<_, store::Error>(())
    })
    .await
    .unwrap();
    let expected = [(1, "check_requester"), (2, "grant"), (1, "announce")];
    let expected: Vec<(i64, String)> = expected.map(|(id, kind)| (id, kind.into())).into();
    assert_eq!(jobs_queued(&db), expected);
}

/// A caller that stops waiting once its work has run (its request was cancelled, say) does not
/// take its change back, and does not hold up the group it left open for the next caller.
#[tokio::test]
async fn a_caller_that_gives_up_while_its_group_commits_leaves_its_change_committed() {
    let (_dir, db) = scratch_db().await;
    {
        let first = store::write(&db, |tx| insert(tx, 1));
        // Polled once: the work runs, then the caller waits for the group's commit, which on
        // this one-thread runtime cannot run before the caller lets go of it.
        let gave_up = tokio::select! {
            biased;
            _ = first => false,
            () = std::future::ready(()) => true,
        };
        assert!(gave_up, "committed before its committer could run");
    }
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        store::write(&db, |tx| insert(tx, 2)),
    )
    .await;
    assert!(
        second.is_ok(),
        "the group left open by a caller that gave up never committed"
    );
    second.unwrap().unwrap();
    assert_eq!(stored(&db), vec![1, 2]);
}

/// A caller that stops waiting while it queues for the writer leaves nothing, and the writer
/// free for the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_while_queued_leaves_the_writer_free_and_the_rest_committed() {
    let (_dir, db) = scratch_db().await;
    // The first caller's work holds the writer until the test lets it go.
    let (holding, held) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let first = {
        let db = db.clone();
        tokio::spawn(async move {
            store::write(&db, move |tx| {
                holding.send(()).unwrap();
                released.recv().unwrap();
                insert(tx, 1)
            })
            .await
        })
    };
    held.await.unwrap();
    // A second caller queues for the writer, then hangs up before its turn.
    let queued = {
        let db = db.clone();
        tokio::spawn(async move { store::write(&db, |tx| insert(tx, 2)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    queued.abort();
    assert!(queued.await.unwrap_err().is_cancelled());
    release.send(()).unwrap();
    first.await.unwrap().unwrap();

    let free = tokio::time::timeout(
        Duration::from_secs(5),
        store::write(&db, |tx| insert(tx, 3)),
    )
    .await;
    assert!(free.is_ok(), "the writer stayed with a caller that gave up");
    free.unwrap().unwrap();
    assert_eq!(stored(&db), vec![1, 3]);
}

fn panics() -> store::Result<()> {
    panic!("the work of a transaction panicked")
}

/// A transaction whose work panics is rolled back alone: the others of its group commit, and the
/// writer stays usable.
#[tokio::test]
async fn a_member_that_panics_is_rolled_back_alone() {
    let (_dir, db) = scratch_db().await;
    let (transactions_before, _) = db.committed();
    let kept = {
        let db = db.clone();
        tokio::spawn(async move { store::write(&db, |tx| insert(tx, 1)).await })
    };
    let panicked = {
        let db = db.clone();
        tokio::spawn(async move {
            store::write(&db, |tx| {
                insert(tx, 2)?;
                panics()
            })
            .await
        })
    };
    kept.await.unwrap().unwrap();
    assert!(panicked.await.unwrap_err().is_panic());
    store::write(&db, |tx| insert(tx, 3)).await.unwrap();
    assert_eq!(stored(&db), vec![1, 3]);
    assert_eq!(db.committed().0 - transactions_before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_is_told_it_committed_exactly_when_its_change_is_kept() {
    let (_dir, db) = scratch_db().await;
    // Checked only at COMMIT: one member's orphan sinks its whole group. (jitbot's own schema
    // has no deferred constraints, so no member can sink another's work this way.)
    store::write(&db, |tx| {
        tx.execute(
            "CREATE TABLE child (parent INTEGER REFERENCES scratch (n) DEFERRABLE INITIALLY DEFERRED)",
            [],
        )
        .map_err(store::Error::from)
    })
    .await
    .unwrap();
    let start = Arc::new(Barrier::new(30));
    let mut tasks = Vec::new();
    for n in 0..30_i64 {
        let (db, start) = (db.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let written = store::write(&db, |tx| match n {
                0 => tx
                    .execute("INSERT INTO child (parent) VALUES (42)", [])
                    .map(|_| ())
                    .map_err(store::Error::from),
                _ => insert(tx, n),
            })
            .await;
            (n, written.is_ok())
        }));
    }
    let mut told = Vec::new();
    for task in tasks {
        told.push(task.await.unwrap());
    }
    let kept = stored(&db);
    for (n, committed) in told {
        match n {
            0 => assert!(!committed, "the orphan was told it committed"),
            _ => assert_eq!(committed, kept.contains(&n), "member {n}: told {committed}"),
        }
    }
    let children: i64 = db
        .read()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM child", [], |row| row.get(0))
        .unwrap();
    assert_eq!(children, 0);
}

/// Appends chain after the hash the process appended last without reading the head first; a
/// guess made stale by a rolled-back member, or by another database's trail, must fall back to
/// the head: each trail stays one intact chain of exactly the events kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_appends_stay_one_chain_through_rollbacks_and_two_databases() {
    use jitbot::domain::AuditAction;
    use jitbot::store::audit;

    let ((_one, first), (_two, second)) = (scratch_db().await, scratch_db().await);
    let start = Arc::new(Barrier::new(48));
    let mut tasks = Vec::new();
    for n in 0..48_i64 {
        let db = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let written = store::write(&db, |tx| {
                let detail = serde_json::json!({ "n": n });
                let event = audit::NewEvent::by_jitbot(
                    None,
                    AuditAction::Expiring,
                    detail,
                    chrono::Utc::now(),
                );
                audit::append(tx, event)?;
                // Every third is rolled back after its append: the next append's guess is stale.
                match n % 3 {
                    0 => Err(GaveUp::Refused),
                    _ => Ok(()),
                }
            })
            .await;
            assert_eq!(written.is_ok(), n % 3 != 0, "member {n}: {written:?}");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for (db, parity) in [(&first, 0), (&second, 1)] {
        let kept: Vec<i64> = (0..48).filter(|n| n % 2 == parity && n % 3 != 0).collect();
        let reader = db.read().unwrap();
        assert_eq!(
            audit::verify(&reader).unwrap(),
            audit::ChainCheck::Intact { events: kept.len() }
        );
        let mut statement = reader
            .prepare("SELECT json_extract(detail, '$.n') FROM audit_events")
            .unwrap();
        let mut recorded: Vec<i64> = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        recorded.sort();
        assert_eq!(recorded, kept);
    }
}

/// Each member of a group is a savepoint, whose undo copies are kept in memory on the writer:
/// spilled to a temporary file (SQLite's default past 64 KiB), every group paid for writing and
/// creating it.
#[tokio::test]
async fn undo_copies_of_savepoints_and_statements_stay_in_memory() {
    let (_dir, db) = scratch_db().await;
    let temp_store = |conn: &Connection| -> i64 {
        conn.query_row("PRAGMA temp_store", [], |row| row.get(0))
            .unwrap()
    };
    // 2 is MEMORY; readers keep the default (0), and spill large sorts to disk.
    let on_writer = store::write(&db, |tx| Ok::<_, store::Error>(temp_store(tx)))
        .await
        .unwrap();
    assert_eq!(on_writer, 2);
    assert_eq!(temp_store(&db.read().unwrap()), 0);
}

/// `sqlite::memory:`: the migrations, the writer and the readers share one database, and two
/// in-memory databases opened in one process are two databases.
#[tokio::test]
async fn an_in_memory_database_is_one_database_for_its_writer_and_readers() {
    let db = store::connect("sqlite::memory:").await.unwrap();
    let other = store::connect("sqlite::memory:").await.unwrap();
    let count = |db: &store::Db| -> i64 {
        db.read()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM settings", [], |row| row.get(0))
            .unwrap()
    };
    let before = count(&db);
    store::write(&db, |tx| {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('in-memory-test', 'x')",
            [],
        )
        .map_err(store::Error::from)
    })
    .await
    .unwrap();
    assert_eq!(count(&db), before + 1, "a reader sees the writer's commit");
    assert_eq!(count(&other), before, "another in-memory database is apart");
}

/// The scheduler writes from a runtime of its own: once the runtime the database was opened on
/// has ended (a test's, or at shutdown), no committer can start there, and a write's members
/// commit their group themselves instead of waiting for ever.
#[test]
fn writes_still_commit_once_the_runtime_the_database_was_opened_on_has_ended() {
    let (dir, db) = opened_on_a_runtime_that_ended();
    current_thread_runtime().block_on(async {
        for n in [1, 2] {
            tokio::time::timeout(
                Duration::from_secs(5),
                store::write(&db, |tx| insert(tx, n)),
            )
            .await
            .expect("the write does not hang")
            .unwrap();
        }
    });
    assert_eq!(stored(&db), vec![1, 2]);
    drop(dir);
}

/// Another process (the command line) holding SQLite's write lock makes a write wait for it, on
/// the blocking pool: the thread that answers people goes on meanwhile. Waiting inline held it,
/// and every acknowledgement behind it, for up to the 10 s busy timeout.
#[tokio::test(flavor = "current_thread")]
async fn a_write_waiting_for_another_processs_lock_leaves_the_runtime_thread_free() {
    let (dir, db) = scratch_db().await;
    let other = rusqlite::Connection::open(dir.path().join("jitbot.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
        .execute("INSERT INTO scratch (n) VALUES (1)", [])
        .unwrap();
    let write = {
        let db = db.clone();
        tokio::spawn(async move { store::write(&db, |tx| insert(tx, 2)).await })
    };
    let asked = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "the runtime's only thread was held for {waited:?}"
    );
    assert!(
        !write.is_finished(),
        "the write went through another's lock"
    );
    other.execute_batch("COMMIT").unwrap();
    write.await.unwrap().unwrap();
    assert_eq!(stored(&db), vec![1, 2]);
}

/// A write given up while it waits for another process's lock (its caller went away) does not
/// keep the lock once it gets it: the other process can take it again at once.
#[tokio::test(flavor = "current_thread")]
async fn a_write_given_up_while_it_waits_for_anothers_lock_does_not_keep_it() {
    let (dir, db) = scratch_db().await;
    let other = rusqlite::Connection::open(dir.path().join("jitbot.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let write = {
        let db = db.clone();
        tokio::spawn(async move { store::write(&db, |tx| insert(tx, 2)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    write.abort();
    assert!(write.await.unwrap_err().is_cancelled());
    other.execute_batch("COMMIT").unwrap();
    // The abandoned wait now gets the lock (SQLite's busy handler looks again within 100 ms),
    // and lets it go.
    tokio::time::sleep(Duration::from_millis(500)).await;
    other.busy_timeout(Duration::from_millis(500)).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("the lock is free again");
    other.execute_batch("ROLLBACK").unwrap();
    store::write(&db, |tx| insert(tx, 3)).await.unwrap();
    assert_eq!(stored(&db), vec![3]);
}

/// The order in which three writes got the writer: a person's (1) holding it for `hold`, a
/// background write (2) arriving `background_at`, and a person's (3) right after it.
async fn order_of_writes(hold: u64, background_at: u64) -> Vec<i64> {
    let (_dir, db) = scratch_db().await;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let holding = Arc::new(tokio::sync::Notify::new());
    let write = |db: store::Db, n: i64| {
        let (order, holding) = (order.clone(), holding.clone());
        tokio::spawn(async move {
            store::write(&db, |tx| {
                if n == 1 {
                    // Holds the writer while the others wait.
                    holding.notify_one();
                    std::thread::sleep(Duration::from_millis(hold));
                }
                order.lock().unwrap().push(n);
                insert(tx, n)
            })
            .await
        })
    };
    let holder = write(db.clone(), 1);
    // Timed from when the writer is held: on a busy machine the holder's task may start late.
    holding.notified().await;
    tokio::time::sleep(Duration::from_millis(background_at)).await;
    let background = write(db.for_background(), 2);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let person = write(db.clone(), 3);
    for task in [holder, background, person] {
        task.await.unwrap().unwrap();
    }
    assert_eq!(stored(&db), vec![1, 2, 3]);
    order.lock().unwrap().clone()
}

/// Background work takes the writer only when it is free and no person's write waits for it:
/// let go while people's writes wait, it goes to them first, even to those that came after the
/// background write. (Handed to the background write, it would wait for that write's thread,
/// which may run it only much later.)
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn background_writes_let_people_s_writes_waiting_for_the_writer_go_first() {
    // The background write has waited 30 ms when the writer is let go: within its patience.
    assert_eq!(order_of_writes(300, 270).await, vec![1, 3, 2]);
}

/// Past its patience (50 ms) a background write queues for the writer and goes first: people's
/// writes can hold it (revocations) off for that long at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_background_write_past_its_patience_goes_before_people_s() {
    assert_eq!(order_of_writes(400, 50).await, vec![1, 2, 3]);
}

/// A runtime thread that a test holds busy: `hold` runs on it, blocking it, until `let_go`
/// (or 10 s, should the code under test wait for that thread to move on).
struct HeldThread {
    started: Option<tokio::sync::oneshot::Receiver<()>>,
    release: std::sync::mpsc::Sender<()>,
    released: Arc<std::sync::atomic::AtomicBool>,
}

impl HeldThread {
    /// The holder, and what holds the thread it runs on.
    fn new() -> (HeldThread, impl FnOnce() + Send + 'static) {
        let (started, has_started) = tokio::sync::oneshot::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = released.clone();
        let hold = move || {
            let _ = started.send(());
            let _ = wait.recv_timeout(Duration::from_secs(10));
            held.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let holder = HeldThread {
            started: Some(has_started),
            release,
            released,
        };
        (holder, hold)
    }

    /// Waits until the thread is held.
    async fn held(&mut self) {
        self.started.take().expect("once").await.unwrap();
    }

    /// Lets the thread go, having checked that it was still held: what the test did meanwhile
    /// (`doing`) did not wait for it.
    fn let_go(self, doing: &str) {
        assert!(
            !self.released.load(std::sync::atomic::Ordering::SeqCst),
            "{doing} waited for the thread that was held"
        );
        self.release.send(()).unwrap();
    }
}

/// Runs `work` on a thread of its own with a current-thread runtime, as the scheduler runs:
/// every write made there is background work.
fn on_a_scheduler_thread<T: Send + 'static, F: Future<Output = T> + 'static>(
    work: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        store::writes_on_this_thread_are_background();
        current_thread_runtime().block_on(work())
    })
}

/// A scratch database opened on a runtime of one thread, and that thread held (by the holder
/// returned) so that nothing the runtime is asked to run runs until it is let go.
fn opened_on_a_held_runtime() -> (
    tokio::runtime::Runtime,
    tempfile::TempDir,
    store::Db,
    HeldThread,
) {
    let opened_on = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (dir, db) = opened_on.block_on(scratch_db());
    let (holder, hold) = HeldThread::new();
    opened_on.spawn(async move { hold() });
    (opened_on, dir, db, holder)
}

/// A runtime on the calling thread alone, like the scheduler's.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A scratch database whose runtime (the one it was opened on) has ended since.
fn opened_on_a_runtime_that_ended() -> (tempfile::TempDir, store::Db) {
    let opened_on = tokio::runtime::Runtime::new().unwrap();
    let opened = opened_on.block_on(scratch_db());
    drop(opened_on);
    opened
}

/// Waits for `thread` to end, off the runtime's threads.
async fn joined<T: Send + 'static>(thread: std::thread::JoinHandle<T>) -> T {
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap()
}

/// The scheduler commits the groups it opens on its own thread: handed to the runtime the
/// database was opened on, each commit cost two thread switches, and waited for that runtime's
/// turn. Here that runtime's one thread is held while a background write commits.
#[test]
fn background_work_commits_its_groups_without_the_runtime_the_database_was_opened_on() {
    let (opened_on, dir, db, mut holder) = opened_on_a_held_runtime();
    current_thread_runtime().block_on(async {
        holder.held().await;
        store::write(&db.for_background(), |tx| insert(tx, 1))
            .await
            .unwrap();
    });
    holder.let_go("the background write");
    assert_eq!(stored(&db), vec![1]);
    drop(opened_on);
    drop(dir);
}

/// On a thread whose writes are all background work (the scheduler's), a write through any
/// handle is background work: the chat adapters and providers write through handles of their
/// own there. As a person's, this one would commit on the runtime the database was opened on,
/// held here, and never return.
#[test]
fn every_write_on_a_background_thread_is_background_work_whichever_handle_it_goes_through() {
    let (opened_on, dir, db, mut holder) = opened_on_a_held_runtime();
    let people_s_handle = db.clone();
    let written = on_a_scheduler_thread(move || async move {
        holder.held().await;
        let write = store::write(&people_s_handle, |tx| insert(tx, 1));
        let written = tokio::time::timeout(Duration::from_secs(5), write).await;
        holder.let_go("the write on the background thread");
        written
    })
    .join()
    .unwrap();
    assert!(
        written.is_ok_and(|w| w.is_ok()),
        "the write waited for the runtime that answers people"
    );
    assert_eq!(stored(&db), vec![1]);
    drop(opened_on);
    drop(dir);
}

/// A handle for people's writes stays people's on such a thread: the audit trail's move,
/// made there while holding a lock that people's writes wait for, must not queue for the writer
/// as background work. As a person's, this write commits on the runtime the database was opened
/// on, held here, so it waits until that runtime runs again.
#[test]
fn a_handle_for_people_s_writes_stays_people_s_on_a_background_thread() {
    let (opened_on, dir, db, mut holder) = opened_on_a_held_runtime();
    let people_s = db.for_people();
    let (while_held, after) = on_a_scheduler_thread(move || async move {
        holder.held().await;
        let write = store::write(&people_s, |tx| insert(tx, 1));
        tokio::pin!(write);
        let while_held = tokio::time::timeout(Duration::from_millis(500), &mut write).await;
        holder.let_go("the people's write");
        (while_held.is_ok(), write.await)
    })
    .join()
    .unwrap();
    assert!(
        !while_held,
        "committed without the runtime that answers people"
    );
    after.unwrap();
    assert_eq!(stored(&db), vec![1]);
    drop(opened_on);
    drop(dir);
}

/// A person's write that joins a group opened by background work does not wait for the
/// background thread to run that group's committer: the group gets one on the database's
/// runtime as well. Here the background thread is held right after its write has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_s_write_joining_a_background_group_does_not_wait_for_the_background_thread() {
    let (_dir, db) = scratch_db().await;
    let (mut holder, hold) = HeldThread::new();
    let background = db.for_background();
    let scheduler = on_a_scheduler_thread(move || async move {
        // Runs its work and opens the group at its first poll; the group's committer is
        // spawned then, behind the task that holds the thread.
        let write =
            tokio::spawn(async move { store::write(&background, |tx| insert(tx, 1)).await });
        let holding = tokio::spawn(async move { hold() });
        let written = write.await.unwrap();
        holding.await.unwrap();
        written
    });
    holder.held().await;
    store::write(&db, |tx| insert(tx, 2)).await.unwrap();
    holder.let_go("the person's write");
    joined(scheduler).await.unwrap();
    assert_eq!(stored(&db), vec![1, 2]);
}

/// The committer of a group the scheduler opened takes the writer only once it is free, as the
/// scheduler's writes do: queued in the fair lock, it was handed the writer the moment a
/// person's write let it go, and held it, with every later write queued behind it, until the
/// scheduler's thread (busy here) got round to running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_scheduler_thread_holds_no_writer_that_people_wait_for() {
    let (_dir, db) = scratch_db().await;
    let background = db.for_background();
    let (go, may_write) = tokio::sync::oneshot::channel();
    let (holds, first_holds) = std::sync::mpsc::channel();
    let (mut holder, hold) = HeldThread::new();
    let scheduler = on_a_scheduler_thread(move || async move {
        // Opens a group; its committer is spawned behind the task below.
        let write =
            tokio::spawn(async move { store::write(&background, |tx| insert(tx, 1)).await });
        let holding = tokio::spawn(async move {
            go.send(()).unwrap();
            first_holds.recv().unwrap();
            // The committer runs meanwhile, while the person's write holds the writer.
            tokio::time::sleep(Duration::from_millis(20)).await;
            hold();
        });
        let written = write.await.unwrap();
        holding.await.unwrap();
        written
    });
    may_write.await.unwrap();
    let first = store::write(&db, |tx| {
        holds.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        insert(tx, 2)
    });
    first.await.unwrap();
    holder.held().await;
    store::write(&db, |tx| insert(tx, 3)).await.unwrap();
    holder.let_go("the person's write after the scheduler's");
    joined(scheduler).await.unwrap();
    assert_eq!(stored(&db), vec![1, 2, 3]);
}

/// People's writes take the writer when it is free, not in turn. With a fair lock a release
/// handed the writer to the write first in line, which held it, with every later write behind
/// it, until its task came round on its runtime: under a backlog, 10–25 ms. Here that write's
/// thread is held right after it queued, and a later write from another thread goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_first_in_line_on_a_busy_thread_holds_no_writer_that_others_wait_for() {
    let (_dir, db) = scratch_db().await;
    let (holds, first_holds) = tokio::sync::oneshot::channel();
    let first = {
        let db = db.clone();
        tokio::spawn(async move {
            store::write(&db, |tx| {
                holds.send(()).unwrap();
                // Holds the writer while the next write queues for it.
                std::thread::sleep(Duration::from_millis(100));
                insert(tx, 1)
            })
            .await
        })
    };
    first_holds.await.unwrap();
    let (mut holder, hold) = HeldThread::new();
    let queued = db.clone();
    let busy = on_a_scheduler_thread(move || async move {
        // Polled first: queues for the writer; then the thread is held.
        let write = tokio::spawn(async move { store::write(&queued, |tx| insert(tx, 2)).await });
        let holding = tokio::spawn(async move { hold() });
        let written = write.await.unwrap();
        holding.await.unwrap();
        written
    });
    holder.held().await;
    first.await.unwrap().unwrap();
    store::write(&db, |tx| insert(tx, 3)).await.unwrap();
    holder.let_go("the write after the one first in line");
    joined(busy).await.unwrap();
    assert_eq!(stored(&db), vec![1, 2, 3]);
}

/// Commits that wait for the disk (the first after the WAL was all copied, every 100 ms or so)
/// run on the blocking pool of the runtime that commits, not the database's: once that one has
/// ended, the scheduler's writes still commit through every start of the WAL.
#[test]
fn background_writes_commit_through_wal_restarts_once_the_database_s_runtime_has_ended() {
    let (dir, db) = opened_on_a_runtime_that_ended();
    let background = db.for_background();
    current_thread_runtime().block_on(async {
        for n in 1..=4 {
            let write = store::write(&background, |tx| insert(tx, n));
            tokio::time::timeout(Duration::from_secs(5), write)
                .await
                .expect("the write does not hang")
                .unwrap_or_else(|error| panic!("write {n}: {error}"));
            // Time for the WAL to be copied, so that the next commit may start it over.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    assert_eq!(stored(&db), vec![1, 2, 3, 4]);
    drop(dir);
}
