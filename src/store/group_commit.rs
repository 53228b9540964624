//! Group commit: write transactions that reach the one writer connection while a commit is in
//! progress share the next SQLite transaction. Each runs inside a savepoint of it, so each still
//! commits or rolls back on its own, while the group pays for one commit — one pass of WAL
//! writes for the pages they all touched (the same index leaves, the audit chain's tail) instead
//! of one per transaction.
//!
//! A transaction's work runs on its caller's thread while it holds the writer, without waiting
//! on anything, so the writer is held for microseconds at a time. Its caller then waits for the
//! group's commit: `write` returns only once the change is in the database and every reader
//! sees it. The first member of a group starts a committer task, which yields once (so that the
//! tasks ready now can join), then takes the writer and commits (a commit appends to the WAL;
//! copying the WAL into the database is `checkpoint`'s). Transactions that arrive during a
//! commit wait for the next group. The writer goes to whichever of people's writes runs first
//! once it is free, not to the first in line: handed to a write whose task had not run yet, it
//! stayed held until that task came round (`lock`). Background work (the scheduler's) takes
//! the writer when it is free and no person's write waits for it, and queues for it only after
//! a while (`lock_when_free`).
//!
//! A group that people's writes open commits on the runtime the database was opened on, the
//! one that answers them. A group that background work opens commits on the background's own
//! thread, with no hand-over between threads, and its committer takes the writer once it is
//! free, as background writes do; should a person's write join it, it gets a committer on the
//! answering runtime as well, and the first of the two to run commits it.
//!
//! Written here rather than taken from a crate: no SQLite crate has a group commit, and this is
//! the one place that knows which connection is the writer.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, OwnedSemaphorePermit, watch};

use super::connections::{BUSY_TIMEOUT, Durability};
use super::follow_ups::{self, Claimant};
use super::jobs::{JobRow, QueuedJob};
use super::{Error, Result};

/// How often a member waiting for its group's commit checks that the group still has a
/// committer (see `Writer::wait_for`).
const ORPHAN_CHECK: Duration = Duration::from_millis(200);

/// How long a person's write waits to find the writer free before it queues for it in turn
/// (`Writer::lock`): a bound on how long newcomers that find it free can keep taking it first.
const PEOPLE_PATIENCE: Duration = Duration::from_millis(50);

/// How long background work waits for the writer to be free, with no person's write waiting
/// for it, before it queues for it (`Writer::lock_when_free`): how long people's writes can
/// hold it off, each time. Queued, it goes before every person's write, and may keep them
/// waiting until its thread runs it. Measured at 3 000/s: ack p99 8.1–9.6 ms with 50 or 200.
const BACKGROUND_PATIENCE: Duration = Duration::from_millis(50);

/// The writer connection and the group open on it, if any.
pub struct Writer {
    state: Arc<Mutex<State>>,
    /// Told each time the writer is let go: background writes wait for it to be free.
    released: Arc<Notify>,
    /// Told each time the writer is let go, one at a time: people's writes waiting for it.
    released_to_people: Arc<Notify>,
    /// People's writes (not their committers) waiting for the writer: background work leaves
    /// it to them.
    people_waiting: AtomicUsize,
    /// The runtime the database was opened on, the one that answers people: the committers of
    /// groups with people's writes in them run there, whichever runtime opened the group (the
    /// scheduler has one of its own).
    runtime: tokio::runtime::Handle,
    /// Groups opened so far: each group's number, so that its committers commit it and no other.
    groups_opened: AtomicU64,
    /// Groups committed so far: with `transactions`, how much grouping saves.
    commits: AtomicU64,
    transactions: AtomicU64,
    /// Whether a commit syncs to the disk before it returns (see `commit`).
    commits_wait_for_disk: bool,
    /// Set by the checkpointer after a copy of the WAL: the next commit copies what was
    /// committed during it (`checkpoint`).
    finish_checkpoint: AtomicBool,
    /// Set when the next commit may be the first since the WAL was all copied: the first pages
    /// written to a WAL that starts over sync its header to the disk, even with
    /// `synchronous = NORMAL`, so that commit runs on the blocking pool.
    wal_may_start_over: AtomicBool,
}

struct State {
    conn: Connection,
    group: Option<Group>,
}

/// What a group's members learn once it ends: committed, or why not.
type Outcome = Option<std::result::Result<(), String>>;

struct Group {
    /// Its number: its committers commit it, not a group opened after it.
    number: u64,
    /// Members that kept their part (the others rolled theirs back).
    kept: u64,
    /// The follow-ups its members claimed, handed to their workers once it commits.
    follow_ups: Vec<(Claimant, Vec<JobRow>)>,
    outcome: watch::Sender<Outcome>,
    /// Its committers: finished while the group is still open only when their runtimes shut
    /// down before they could commit (the members then commit it themselves, see `wait_for`).
    /// The first runs where the group was opened; a second runs on the database's runtime once
    /// someone's write joins a group that background work opened (`answer_people`).
    committers: Vec<tokio::task::JoinHandle<()>>,
    /// Whether one of them runs on the database's runtime.
    answers_people: bool,
}

impl Writer {
    pub fn new(conn: Connection, durability: Durability) -> Arc<Writer> {
        Arc::new(Writer {
            state: Arc::new(Mutex::new(State { conn, group: None })),
            released: Arc::new(Notify::new()),
            released_to_people: Arc::new(Notify::new()),
            people_waiting: AtomicUsize::new(0),
            runtime: tokio::runtime::Handle::current(),
            groups_opened: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            commits_wait_for_disk: matches!(durability, Durability::Full),
            finish_checkpoint: AtomicBool::new(false),
            wal_may_start_over: AtomicBool::new(false),
        })
    }

    /// Asks the next commit to copy into the database what was committed during the
    /// checkpointer's copy, so that the WAL can start over (see `checkpoint`).
    pub(super) fn finish_checkpoint_after_next_commit(&self) {
        self.wal_may_start_over.store(true, Ordering::Relaxed);
        self.finish_checkpoint.store(true, Ordering::Relaxed);
    }

    /// The writer, for people's writes: taken at once when it is free, else when the one
    /// holding it lets it go and this write's task runs. Not first come, first served: with a
    /// fair lock each release handed the writer to the next write in line, which then held it
    /// until its task came round on the runtime, behind every request ready before it; under a
    /// backlog the writes queued behind such a hand-over waited 10–25 ms. Here the writer goes
    /// to whichever write runs first once it is free, and the waiters are told one at a time
    /// (one waiter told that finds it taken again waits for the next release). One that has
    /// not found it free within [`PEOPLE_PATIENCE`] queues in turn, and goes first.
    async fn lock(&self) -> Held {
        self.lock_when_told(&self.released_to_people, PEOPLE_PATIENCE, || true)
            .await
    }

    /// The writer, first come, first served: only for writes that waited too long for it to be
    /// free (`lock`, `lock_when_free`). While such a write waits in line, the writer goes to it
    /// when let go, and no other write can take it first.
    async fn lock_in_turn(&self) -> Held {
        // Handed the writer and dropped before it ran, this write gives it back to the lock
        // without a `Held` to tell anyone: people's writes waiting for it are told here.
        let mut tell_if_dropped = TellIfDropped(Some(self.released_to_people.clone()));
        let guard = self.state.clone().lock_owned().await;
        tell_if_dropped.0 = None;
        self.held(guard)
    }

    /// The writer, once it is free and no person's write waits for it, for background work.
    /// Taken in turn, a background task first in line would hold it from the moment it was let
    /// go, though its thread (the scheduler's) runs it only after the tasks ahead of it there,
    /// and the acknowledgements waiting would wait for all of those. So background work takes
    /// the writer when it is free, at a moment its own thread runs, and otherwise waits to be
    /// told it was let go, for at most [`BACKGROUND_PATIENCE`]: then it queues in turn, so that
    /// a steady stream of people's writes cannot hold it (revocations) off for longer, nor a
    /// release nobody was told of (the lock passed to a queued write that was dropped before it
    /// ran) leave it waiting.
    async fn lock_when_free(&self) -> Held {
        let no_person_waits = || self.people_waiting.load(Ordering::Relaxed) == 0;
        self.lock_when_told(&self.released, BACKGROUND_PATIENCE, no_person_waits)
            .await
    }

    /// The writer, taken when it is free and `may_take` allows, tried again each time
    /// `released` tells of a release; after `patience`, in turn (`lock_in_turn`).
    async fn lock_when_told(
        &self,
        released: &Notify,
        patience: Duration,
        may_take: impl Fn() -> bool,
    ) -> Held {
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            let told = released.notified();
            tokio::pin!(told);
            // Registered before the attempt, so a release in between is not missed.
            told.as_mut().enable();
            if may_take()
                && let Ok(guard) = self.state.clone().try_lock_owned()
            {
                return self.held(guard);
            }
            if tokio::time::timeout_at(give_up, told).await.is_err() {
                return self.lock_in_turn().await;
            }
        }
    }

    fn held(&self, guard: OwnedMutexGuard<State>) -> Held {
        Held {
            guard: Some(guard),
            released: self.released.clone(),
            released_to_people: self.released_to_people.clone(),
        }
    }

    /// Transactions committed, and the commits (groups) they took.
    pub fn committed(&self) -> (u64, u64) {
        (
            self.transactions.load(Ordering::Relaxed),
            self.commits.load(Ordering::Relaxed),
        )
    }

    /// Runs `work` as a member of the open group (opening one if none is), then waits for the
    /// group's commit. `turn` (background work's) is held only until `work` has run.
    pub async fn run<T, E: From<Error>>(
        self: &Arc<Writer>,
        turn: Option<OwnedSemaphorePermit>,
        work: impl FnOnce(&mut WriteTx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut state = match turn {
            Some(_) => self.lock_when_free().await,
            None => {
                let _waiting = Waiting::counted_in(&self.people_waiting);
                self.lock().await
            }
        };
        let background = turn.is_some();
        if state.group.is_none() {
            state = self.open_group(state, background).await?;
        } else if !background {
            self.answer_people(&mut state);
        }
        let ran = run_member(&mut state, work);
        let outcome = match &mut state.group {
            Some(group) => {
                if ran.is_ok() {
                    group.kept += 1;
                }
                group.outcome.subscribe()
            }
            // The member could not be undone on its own, and the group was rolled back.
            None => return ran,
        };
        drop(state);
        drop(turn);
        let done = ran?;
        self.wait_for(outcome).await?;
        Ok(done)
    }

    /// `BEGIN IMMEDIATE` takes SQLite's write lock up front, so a transaction that reads first
    /// and writes later never meets another process's lock half-way. Only another process (the
    /// command line) can hold it: the lock is tried without waiting, and only when it is held is
    /// it waited for (up to the busy timeout), on the blocking pool. Waiting here would hold the
    /// caller's runtime thread, and every acknowledgement queued on it, for that long.
    async fn open_group(self: &Arc<Writer>, mut state: Held, background: bool) -> Result<Held> {
        if !state.conn.is_autocommit() {
            // A group whose commit was dropped unstarted (its runtime shut down), or whose
            // `BEGIN` below was given up: its members were told it did not commit, so it is undone.
            state.conn.execute_batch("ROLLBACK")?;
        }
        state.conn.busy_timeout(Duration::ZERO)?;
        let began = control(&state.conn, "BEGIN IMMEDIATE");
        state.conn.busy_timeout(BUSY_TIMEOUT)?;
        match began {
            Ok(()) => {}
            Err(error) if is_busy(&error) => {
                // The blocking pool of the runtime this write runs on: the database's may have
                // ended (see `wait_for`).
                let (mut waited, began) = tokio::task::spawn_blocking(move || {
                    let began = control(&state.conn, "BEGIN IMMEDIATE");
                    (Begun(Some(state)), began)
                })
                .await
                .map_err(|e| Error::Interrupted(format!("the wait for the write lock: {e}")))?;
                state = waited.0.take().expect("taken once");
                began?;
            }
            Err(error) => return Err(error.into()),
        }
        // Background work commits the groups it opens on its own thread (the scheduler's):
        // handing each of those commits to the database's runtime and its outcome back cost two
        // thread switches a commit, a tenth of the core in a burst of revocations.
        let number = self.groups_opened.fetch_add(1, Ordering::Relaxed);
        let committer = match background {
            true => tokio::spawn(self.clone().commit_soon(number, true)),
            false => self.runtime.spawn(self.clone().commit_soon(number, false)),
        };
        state.group = Some(Group {
            number,
            kept: 0,
            follow_ups: Vec::new(),
            outcome: watch::Sender::new(None),
            committers: vec![committer],
            answers_people: !background,
        });
        Ok(state)
    }

    /// Someone's write joins a group that background work opened: a committer on the
    /// database's runtime too, so that their answer does not wait until the background thread
    /// gets round to the commit. Whichever committer takes the writer first commits the group;
    /// the other finds none, or commits the next one early, which is as safe: every member of
    /// a group has run by the time anyone else holds the writer.
    fn answer_people(self: &Arc<Writer>, state: &mut Held) {
        let Some(group) = state.group.as_mut() else {
            return;
        };
        if !group.answers_people {
            group.answers_people = true;
            let committer = self
                .runtime
                .spawn(self.clone().commit_soon(group.number, false));
            group.committers.push(committer);
        }
    }

    /// A committer of group `number`: commits it unless another committer did first (a group
    /// opened since has committers of its own). Background work's takes the writer as its
    /// writes do, once it is free (`lock_when_free`): queued in the fair lock, it would be
    /// handed the writer the moment it was let go, and hold it, with people's writes queued
    /// behind, until the background thread got round to running it.
    async fn commit_soon(self: Arc<Writer>, number: u64, background: bool) {
        tokio::task::yield_now().await;
        let state = match background {
            true => self.lock_when_free().await,
            false => self.lock().await,
        };
        if state
            .group
            .as_ref()
            .is_some_and(|open| open.number == number)
        {
            self.commit(state).await;
        }
    }

    /// Commits the open group, if any, and tells its members. A commit that only appends to
    /// the WAL (about 13 pages a group at 1 000 requests a second, ~80 µs) runs right here: on
    /// one core, handing it to another thread only added two thread switches and a wait for
    /// that thread's turn. One that waits for the disk (`Durability::Full`, the audit database
    /// kept apart; or the first after the WAL was all copied, which may start it over) runs on
    /// the blocking pool, so that this thread answers people meanwhile. The pool is the one of
    /// the runtime this runs on (the database's may have ended), and the writer and the group
    /// go there whole: the members are told and the writer let go on that thread, not when
    /// this task next runs (the scheduler's thread may be busy), nor never (its runtime may end
    /// meanwhile).
    async fn commit(self: &Arc<Writer>, mut state: Held) {
        let Some(group) = state.group.take() else {
            return;
        };
        let may_sync = self.wal_may_start_over.swap(false, Ordering::Relaxed);
        if self.commits_wait_for_disk || may_sync {
            let writer = self.clone();
            let _ = tokio::task::spawn_blocking(move || writer.commit_here(state, group)).await;
            return;
        }
        self.tell(group, commit_or_undo(&state.conn));
        if self.finish_checkpoint.load(Ordering::Relaxed) {
            let writer = self.clone();
            let _ = tokio::task::spawn_blocking(move || writer.finish_checkpoint(state)).await;
        }
    }

    /// Commits `group` on this thread, tells its members, and finishes a checkpoint if one
    /// asked; the writer is let go when `state` drops, here.
    fn commit_here(&self, state: Held, group: Group) {
        self.tell(group, commit_or_undo(&state.conn));
        if self.finish_checkpoint.load(Ordering::Relaxed) {
            self.finish_checkpoint(state);
        }
    }

    /// Copies into the database, with the writer still held (so that nothing is committed
    /// meanwhile), the pages committed since the checkpointer's copy (a few, or one large
    /// transaction's): the next commit may start the WAL over.
    fn finish_checkpoint(&self, state: Held) {
        if !self.finish_checkpoint.swap(false, Ordering::Relaxed) {
            return;
        }
        self.wal_may_start_over.store(true, Ordering::Relaxed);
        match super::checkpoint::copy(&state.conn) {
            Ok(progress) if progress.copied < progress.in_wal => tracing::debug!(
                in_wal = progress.in_wal,
                copied = progress.copied,
                "a reader still needs part of the WAL: it does not start over yet"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "could not finish copying the WAL into the database")
            }
        }
    }

    /// Tells the group's members how it ended; the follow-ups they claimed go to their workers
    /// first, here rather than in the members, so that a member given up while it waited cannot
    /// leave rows claimed that no worker knows of.
    fn tell(&self, group: Group, ended: std::result::Result<(), String>) {
        if ended.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.transactions.fetch_add(group.kept, Ordering::Relaxed);
            for (claimant, rows) in group.follow_ups {
                claimant.give(rows);
            }
        }
        group.outcome.send_replace(Some(ended));
    }

    /// Waits for the group's outcome. Should its committer be gone with the group still open
    /// (the database's runtime shut down while this one runs on), this member commits the
    /// group itself, on its own thread, rather than wait for ever.
    async fn wait_for(&self, mut outcome: watch::Receiver<Outcome>) -> Result<()> {
        loop {
            let waited = tokio::time::timeout(ORPHAN_CHECK, outcome.wait_for(Option::is_some))
                .await
                .map(|ended| ended.map(|ended| ended.clone()));
            match waited {
                Ok(Ok(ended)) => {
                    return match ended.expect("waited for it") {
                        Ok(()) => Ok(()),
                        Err(why) => Err(Error::NotCommitted(why)),
                    };
                }
                Ok(Err(_)) => return Err(Error::NotCommitted("the group ended unheard".into())),
                Err(_) => {
                    let mut state = self.lock().await;
                    let orphaned = state.group.as_ref().is_some_and(|group| {
                        group.committers.iter().all(|c| c.is_finished())
                            && outcome.same_channel(&group.outcome.subscribe())
                    });
                    if orphaned {
                        let group = state.group.take().expect("checked above");
                        let ended = commit_or_undo(&state.conn);
                        self.tell(group, ended);
                    }
                }
            }
        }
    }

    /// Commits the group still open, if any (when the database closes).
    pub async fn flush(self: &Arc<Writer>) {
        let state = self.lock().await;
        self.commit(state).await;
    }
}

/// Runs one member inside a savepoint, inserts the jobs it queued, and claims those that are
/// follow-ups of the job it runs for (`follow_ups`). On failure (or a panic) its savepoint is
/// rolled back; should even that fail, the whole group is, and its members are told so.
fn run_member<T, E: From<Error>>(
    state: &mut State,
    work: impl FnOnce(&mut WriteTx) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let conn = &state.conn;
    savepoint(conn, "SAVEPOINT member")?;
    let mut tx = WriteTx {
        conn,
        jobs: Vec::new(),
    };
    let claimant = follow_ups::claimant();
    let mut claimed = Vec::new();
    let ran = catch_unwind(AssertUnwindSafe(|| {
        let done = work(&mut tx)?;
        claimed = follow_ups::insert(conn, claimant.as_ref(), &tx.jobs)?;
        Ok::<T, E>(done)
    }));
    let kept = matches!(ran, Ok(Ok(_)));
    let ended = match kept {
        true => savepoint(conn, "RELEASE member"),
        false => {
            savepoint(conn, "ROLLBACK TO member").and_then(|()| savepoint(conn, "RELEASE member"))
        }
    };
    if let Err(error) = ended {
        let _ = conn.execute_batch("ROLLBACK");
        let group = state.group.take().expect("a member runs in an open group");
        group
            .outcome
            .send_replace(Some(Err(format!("a member could not be ended: {error}"))));
        if let Err(panic) = ran {
            resume_unwind(panic);
        }
        return Err(error.into());
    }
    if kept
        && !claimed.is_empty()
        && let Some(claimant) = claimant
    {
        let group = state
            .group
            .as_mut()
            .expect("a member runs in an open group");
        group.follow_ups.push((claimant, claimed));
    }
    match ran {
        Ok(done) => done,
        Err(panic) => resume_unwind(panic),
    }
}

/// Commits the open transaction; when that fails, undoes it, so that the connection is out of
/// it either way (or, should even the rollback fail, the next group's start undoes it).
fn commit_or_undo(conn: &Connection) -> std::result::Result<(), String> {
    let committed = control(conn, "COMMIT");
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    committed.map_err(|e| e.to_string())
}

/// Runs a savepoint's statement (`control`).
fn savepoint(conn: &Connection, statement: &'static str) -> Result<()> {
    Ok(control(conn, statement)?)
}

/// Runs one of the transaction-control statements, prepared once and cached by the connection
/// (`execute_batch` compiled it at every group).
fn control(conn: &Connection, statement: &'static str) -> rusqlite::Result<()> {
    conn.prepare_cached(statement)?.execute([])?;
    Ok(())
}

/// A write transaction (see [`super::write`]): derefs to the writer connection, inside the
/// transaction's savepoint.
pub struct WriteTx<'c> {
    conn: &'c Connection,
    /// Jobs queued in this transaction: inserted together when its work is done.
    jobs: Vec<QueuedJob>,
}

impl WriteTx<'_> {
    /// Queues a job to be inserted when this transaction's work is done, after those queued
    /// before it (see [`super::jobs::queue_job`]).
    pub(super) fn queue_job(&mut self, job: QueuedJob) {
        self.jobs.push(job);
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// The writer just past a `BEGIN` that waited on the blocking pool. Dropped untaken (the write
/// that waited was given up meanwhile), it rolls back: the write lock goes back to the other
/// process at once, instead of when the next group starts.
struct Begun(Option<Held>);

impl Drop for Begun {
    fn drop(&mut self) {
        if let Some(state) = &self.0
            && state.group.is_none()
            && !state.conn.is_autocommit()
        {
            let _ = state.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The writer's lock, held. Letting it go tells the writes waiting for it.
struct Held {
    /// Taken only when let go, to be let go before the waiters are told.
    guard: Option<OwnedMutexGuard<State>>,
    released: Arc<Notify>,
    released_to_people: Arc<Notify>,
}

impl std::ops::Deref for Held {
    type Target = State;

    fn deref(&self) -> &State {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.released.notify_waiters();
        self.released_to_people.notify_one();
    }
}

/// Tells one of people's writes waiting for the writer that it may be free, when dropped.
struct TellIfDropped(Option<Arc<Notify>>);

impl Drop for TellIfDropped {
    fn drop(&mut self) {
        if let Some(waiting) = self.0.take() {
            waiting.notify_one();
        }
    }
}

/// A person's write counted among those waiting for the writer while it waits (also when its
/// caller gives up).
struct Waiting<'a>(&'a AtomicUsize);

impl Waiting<'_> {
    fn counted_in(waiting: &AtomicUsize) -> Waiting<'_> {
        waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether SQLite refused because another connection holds the lock.
fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}
