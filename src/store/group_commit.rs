//! Group commit: write transactions queued for the one writer connection share one SQLite
//! transaction. Each runs inside a savepoint of it, so each still commits or rolls back on its
//! own, while the group pays for one commit — one pass of WAL writes for the pages they all
//! touched (the same index leaves, the audit chain's tail) instead of one per transaction.
//!
//! A transaction's `commit` returns only once its group is committed, so what a caller sees is
//! unchanged: after `commit` the change is in the database and every reader sees it. A group
//! commits as soon as nobody is queued behind its last member, or once it is `MOST_IN_A_GROUP`
//! members or `LONGEST_GROUP` old, so a busy writer still commits every few milliseconds.
//! Beginning and committing run in tasks of their own, so a caller that gives up half-way (its
//! client hung up) never leaves the writer inside a group that nobody will end.
//!
//! Written here rather than taken from a crate: sqlx has no group commit, and this is the one
//! place that knows which connection is the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, watch};

use super::jobs::QueuedJob;

/// At most this many transactions share one commit…
const MOST_IN_A_GROUP: usize = 64;
/// …and a group takes in new members for at most this long.
const LONGEST_GROUP: Duration = Duration::from_millis(2);
/// A member waiting for its group's commit looks this often whether the group was left open
/// with nobody to close it (the transaction queued behind it was cancelled), and closes it.
const NUDGE: Duration = Duration::from_millis(20);

/// The writer connection's pool (one connection) and the group that is open on it, if any.
#[derive(Debug)]
pub struct Writer {
    pool: SqlitePool,
    group: Arc<Mutex<Group>>,
    /// Transactions waiting for the group's lock: while there are any, a finished member
    /// leaves the group open for them.
    queued: AtomicUsize,
    /// Groups committed so far: with `transactions`, how much grouping saves.
    commits: AtomicU64,
    transactions: AtomicU64,
}

#[derive(Debug, Default)]
struct Group {
    open: Option<OpenGroup>,
    generation: u64,
}

/// What a group's members learn once it ends: committed, or why not.
type Outcome = Option<Result<(), String>>;

#[derive(Debug)]
struct OpenGroup {
    conn: PoolConnection<Sqlite>,
    generation: u64,
    members: usize,
    /// Members that committed their part (the rest rolled theirs back).
    released: u64,
    started: Instant,
    outcome: watch::Sender<Outcome>,
}

impl Writer {
    pub fn new(pool: SqlitePool) -> Arc<Writer> {
        Arc::new(Writer {
            pool,
            group: Arc::new(Mutex::new(Group::default())),
            queued: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
        })
    }

    /// Transactions committed, and the commits (groups) they took.
    pub fn committed(&self) -> (u64, u64) {
        (
            self.transactions.load(Ordering::Relaxed),
            self.commits.load(Ordering::Relaxed),
        )
    }

    /// Starts a transaction in the open group, opening one (`BEGIN IMMEDIATE`) if none is.
    pub async fn begin(
        self: &Arc<Writer>,
        turn: Option<OwnedSemaphorePermit>,
    ) -> sqlx::Result<WriteTx> {
        // In a task of its own: a caller that gives up half-way (a client that hung up) must not
        // leave the writer inside a transaction nobody owns. The transaction it would have had
        // is dropped, which rolls it back.
        let writer = self.clone();
        tokio::spawn(async move { writer.join(turn).await })
            .await
            .map_err(|_| group_failed("starting the transaction failed".into()))?
    }

    async fn join(self: Arc<Writer>, turn: Option<OwnedSemaphorePermit>) -> sqlx::Result<WriteTx> {
        let mut group = {
            let _queued = Queued::enter(&self.queued);
            self.group.clone().lock_owned().await
        };
        if group.open.is_none() {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            group.generation += 1;
            group.open = Some(OpenGroup {
                conn,
                generation: group.generation,
                members: 0,
                released: 0,
                started: Instant::now(),
                outcome: watch::Sender::new(None),
            });
        }
        let open = group.open.as_mut().expect("opened above");
        // The first member needs no savepoint: nothing came before it, so undoing it is
        // rolling the whole group back (nobody joins while it holds the lock).
        let savepoint_taken = open.released > 0;
        if savepoint_taken && let Err(error) = savepoint(&mut open.conn, "SAVEPOINT member").await {
            // The members in it hear why through the group's outcome.
            let _ = end(&self, &mut group, false).await;
            return Err(error);
        }
        open.members += 1;
        Ok(WriteTx {
            writer: self,
            group: Some(group),
            savepoint_taken,
            _turn: turn,
            jobs: Vec::new(),
        })
    }
}

/// A write transaction (see [`super::write`]): derefs to the connection, like sqlx's own.
/// Dropped without `commit`, it is rolled back.
pub struct WriteTx {
    writer: Arc<Writer>,
    /// The group's lock, held from `begin` to `commit` or drop.
    group: Option<OwnedMutexGuard<Group>>,
    /// Whether its own changes are inside a savepoint (it is not the group's first member).
    savepoint_taken: bool,
    /// Background work's turn at the writer, held until the transaction ends.
    _turn: Option<OwnedSemaphorePermit>,
    /// Jobs queued in this transaction: inserted together when it commits.
    jobs: Vec<QueuedJob>,
}

impl WriteTx {
    /// Queues a job to be inserted when this transaction commits, after those queued before it
    /// (see [`super::jobs::queue_job`]).
    pub(super) fn queue_job(&mut self, job: QueuedJob) {
        self.jobs.push(job);
    }

    /// Commits this transaction; returns once its group is committed.
    pub async fn commit(mut self) -> sqlx::Result<()> {
        // A failure here drops `self`, which rolls the transaction back.
        let jobs = std::mem::take(&mut self.jobs);
        super::jobs::insert_queued(&mut self, &jobs).await?;
        let mut group = self.group.take().expect("a transaction ends once");
        let (writer, savepoint_taken) = (self.writer.clone(), self.savepoint_taken);
        self._turn = None;
        // In a task of its own, like `begin`: once released, the group's end must not depend
        // on this caller still waiting for it.
        let settled = tokio::spawn(async move {
            if savepoint_taken
                && let Err(error) = savepoint(&mut open(&mut group).conn, "RELEASE member").await
            {
                let _ = end(&writer, &mut group, false).await;
                return Err(error);
            }
            open(&mut group).released += 1;
            settle(&writer, group).await
        });
        settled
            .await
            .map_err(|_| group_failed("committing the transaction failed".into()))?
    }

    fn conn(&self) -> &SqliteConnection {
        let group = self.group.as_ref().expect("a transaction in progress");
        &group.open.as_ref().expect("its group is open").conn
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn()
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        let group = self.group.as_mut().expect("a transaction in progress");
        &mut open(group).conn
    }
}

impl Drop for WriteTx {
    /// Rolls the member back to its savepoint, then hands the group on, or ends it as a member's
    /// commit would (the earlier members wait for it). Drop cannot wait, so a task does it,
    /// holding the group's lock until it is done.
    fn drop(&mut self) {
        let Some(mut group) = self.group.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let writer = self.writer.clone();
                let savepoint_taken = self.savepoint_taken;
                runtime.spawn(async move {
                    let conn = &mut open(&mut group).conn;
                    // Without a savepoint it was the first member: `end` rolls the group back.
                    let undone = match savepoint_taken {
                        false => Ok(()),
                        true => match savepoint(conn, "ROLLBACK TO member").await {
                            Ok(()) => savepoint(conn, "RELEASE member").await,
                            Err(error) => Err(error),
                        },
                    };
                    match undone {
                        // Undone cleanly: the group goes on as after a commit. The earlier
                        // members' own waits close it if nobody else does.
                        Ok(()) if savepoint_taken && !closes_now(&writer, open(&mut group)) => {}
                        // The earlier members hear how their group ended through its outcome.
                        _ => {
                            let _ = end(&writer, &mut group, undone.is_ok()).await;
                        }
                    }
                });
            }
            // No runtime: the process is ending, and returning the connection would need one.
            // It must not go back to the pool half done: it is left to the process's exit, and
            // SQLite rolls back what was never committed.
            Err(_) => {
                if let Some(open) = group.open.take() {
                    std::mem::forget(open.conn);
                }
            }
        }
    }
}

/// After a member's release: the group commits now when nobody is queued behind it (or it is
/// full or old); otherwise the lock passes on and this member waits for the group's outcome —
/// and closes the group itself if it is still open after `NUDGE` (those queued behind it gave
/// up before their turn).
async fn settle(writer: &Writer, mut group: OwnedMutexGuard<Group>) -> sqlx::Result<()> {
    let open = open(&mut group);
    if closes_now(writer, open) {
        return end(writer, &mut group, true).await;
    }
    let (mut outcome, generation) = (open.outcome.subscribe(), open.generation);
    drop(group);
    loop {
        let ended = tokio::time::timeout(NUDGE, outcome.wait_for(Option::is_some))
            .await
            .map(|ended| ended.map(|outcome| outcome.clone()));
        match ended {
            Ok(Ok(outcome)) => return outcome.unwrap_or(Ok(())).map_err(group_failed),
            Ok(Err(_)) => return Err(group_failed("the group ended unheard".into())),
            Err(_) => {
                let mut group = writer.group.clone().lock_owned().await;
                let still_open = group
                    .open
                    .as_ref()
                    .is_some_and(|open| open.generation == generation);
                if still_open {
                    return end(writer, &mut group, true).await;
                }
            }
        }
    }
}

/// Whether the group ends at its current member: nobody is queued behind it, or it is full or
/// old enough.
fn closes_now(writer: &Writer, open: &OpenGroup) -> bool {
    open.members >= MOST_IN_A_GROUP
        || open.started.elapsed() >= LONGEST_GROUP
        || writer.queued.load(Ordering::Acquire) == 0
}

/// Ends the open group: commits it when `commit` (rolls it back otherwise, or when the commit
/// fails, or when no member kept its part) and tells every member. The connection goes back to
/// the pool outside a transaction; when even the rollback fails it is closed instead.
async fn end(writer: &Writer, group: &mut Group, commit: bool) -> sqlx::Result<()> {
    let Some(mut open) = group.open.take() else {
        return Ok(());
    };
    let ended = match (commit, open.released) {
        (false, _) => Err(sqlx::Error::Protocol(
            "a transaction of the group could not be ended on its own".into(),
        )),
        (true, 0) => Ok(false),
        (true, _) => savepoint(&mut open.conn, "COMMIT").await.map(|()| true),
    };
    let committed = matches!(ended, Ok(true));
    if !committed && savepoint(&mut open.conn, "ROLLBACK").await.is_err() {
        open.conn.close_on_drop();
    }
    if committed {
        writer.commits.fetch_add(1, Ordering::Relaxed);
        writer
            .transactions
            .fetch_add(open.released, Ordering::Relaxed);
    }
    let told = ended.as_ref().map(|_| ()).map_err(|e| e.to_string());
    open.outcome.send_replace(Some(told));
    ended.map(|_| ())
}

fn open(group: &mut Group) -> &mut OpenGroup {
    group
        .open
        .as_mut()
        .expect("the group is open while a member holds it")
}

/// Runs one of the transaction-control statements (prepared once and cached by sqlx).
async fn savepoint(conn: &mut SqliteConnection, statement: &'static str) -> sqlx::Result<()> {
    sqlx::query(statement).execute(conn).await.map(|_| ())
}

fn group_failed(why: String) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the write was not committed: {why}"))
}

/// Counts a transaction as queued for the group's lock until it has it (or is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(queued: &'a AtomicUsize) -> Queued<'a> {
        queued.fetch_add(1, Ordering::AcqRel);
        Queued(queued)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
