//! Follow-ups claimed as they are queued. The jobs that a request's running job queues for that
//! request, due already (the approval card its check queues, say), are claimed for the worker
//! running it inside the transaction that queues them, and handed to that worker once the
//! transaction commits. They go in claimed: the worker runs them straight after the job, without
//! a claim of their own (a write) or a read to learn whether there are any, and no pass can take
//! them meanwhile.
//!
//! The worker is known to the writes through a task-local (`Claimant::scope`) rather than an
//! argument: the writes are deep in the use cases, which have no business knowing which worker
//! runs them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::jobs::{self, JobRow, QueuedJob};
use super::{Connection, OptionalExtension, Result, to_ms};

tokio::task_local! {
    static CLAIMANT: Claimant;
}

/// A worker running one of a request's jobs, which it holds.
#[derive(Clone)]
pub struct Claimant {
    request_id: i64,
    /// The job running: follow-ups are claimed only while its claim has not run out.
    running: i64,
    /// Jobs due by then are claimed: the scheduler's pass's time, at which the jobs run.
    due_by: DateTime<Utc>,
    /// The time the claims are judged and their leases counted from.
    now: DateTime<Utc>,
    lease: chrono::Duration,
    /// Follow-ups whose transaction committed, not yet taken by the worker.
    claimed: Arc<Mutex<Vec<JobRow>>>,
    /// Whether the running job is the last of its request's that the worker holds.
    last: bool,
    /// Set when the running job's row was passed on (`pass_on_running`).
    passed_on: Arc<AtomicBool>,
}

impl Claimant {
    pub fn new(
        request_id: i64,
        running: i64,
        due_by: DateTime<Utc>,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Claimant {
        Claimant {
            request_id,
            running,
            due_by,
            now,
            lease,
            claimed: Arc::default(),
            last: false,
            passed_on: Arc::default(),
        }
    }

    /// The same, told whether the running job is the last of its request's the worker holds.
    pub fn last(self, last: bool) -> Claimant {
        Claimant { last, ..self }
    }

    /// The worker running the current task's job, if any.
    pub fn current() -> Option<Claimant> {
        claimant()
    }

    /// Passes the running job's row on to whoever deletes it once the job's work is recorded
    /// (the ends of revocations, `access::ends`); returns its id. The worker then leaves the
    /// row alone: it is not done with when the job returns. None when the worker holds more of
    /// the request's jobs after this one, claimed before it or by it: those must not run before
    /// its work is recorded.
    pub fn pass_on_running(&self) -> Option<i64> {
        let follow_ups = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        if !self.last || !follow_ups.is_empty() {
            return None;
        }
        self.passed_on.store(true, Ordering::Relaxed);
        Some(self.running)
    }

    /// Whether the running job's row was passed on.
    pub fn passed_on(&self) -> bool {
        self.passed_on.load(Ordering::Relaxed)
    }

    /// Runs `job`, whose writes claim its request's follow-ups for this worker.
    pub async fn scope<F: Future>(&self, job: F) -> F::Output {
        CLAIMANT.scope(self.clone(), job).await
    }

    /// The follow-ups claimed so far (their transactions committed), in the order queued.
    pub fn take(&self) -> Vec<JobRow> {
        std::mem::take(&mut *self.claimed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Hands over follow-ups once their transaction committed.
    pub(super) fn give(&self, rows: Vec<JobRow>) {
        let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        claimed.extend(rows);
        claimed.sort_by_key(|row| row.id);
    }
}

/// The worker the current task's writes claim follow-ups for, if any.
pub(super) fn claimant() -> Option<Claimant> {
    CLAIMANT.try_with(Claimant::clone).ok()
}

/// A due revocation that nobody holds: while there is one, follow-ups wait for a pass, which
/// claims revocations first (`jobs::claim_due`).
pub const REVOCATION_WAITING: &str = "SELECT 1 FROM jobs INDEXED BY jobs_revocations_by_due \
     WHERE json_extract(payload, '$.job') = 'revoke' AND locked_until IS NULL AND due_at <= ? \
     LIMIT 1";

/// A job of the request due that nobody holds (or whose claim ran out), queued before:
/// follow-ups claimed now would run before it.
pub const LEFT_BEFORE: &str = "SELECT 1 FROM jobs INDEXED BY jobs_by_request \
     WHERE request_id = ?1 AND (locked_until IS NULL OR locked_until <= ?3) AND due_at <= ?2 \
     LIMIT 1";

/// The running job's claim, renewed with the follow-ups' while it has not run out.
pub const RENEW_RUNNING: &str =
    "UPDATE jobs SET locked_until = ?1 WHERE id = ?2 AND locked_until > ?3";

/// Inserts the jobs a write queued (`jobs::insert_queued`); those of the claimant's request due by
/// its pass's time go in claimed for it, and are returned. Nothing is claimed (all wait for a
/// pass) when the running job's claim ran out (a pass may be taking the request's jobs), while a
/// revocation is due that nobody holds, or when one of the request's jobs due is already waiting
/// unclaimed (one request's jobs run in the order queued).
pub(super) fn insert(
    conn: &Connection,
    claimant: Option<&Claimant>,
    queued: &[QueuedJob],
) -> Result<Vec<JobRow>> {
    let follow_up = |claimant: &Claimant, job: &QueuedJob| {
        job.request_id == claimant.request_id && job.due_at <= to_ms(claimant.due_by)
    };
    let claimant = match claimant {
        Some(claimant) if queued.iter().any(|job| follow_up(claimant, job)) => claimant,
        _ => return jobs::insert_queued(conn, queued, |_| None),
    };
    if !may_claim(conn, claimant)? {
        return jobs::insert_queued(conn, queued, |_| None);
    }
    let until = to_ms(claimant.now + claimant.lease);
    jobs::insert_queued(conn, queued, |job| {
        follow_up(claimant, job).then_some(until)
    })
}

/// Whether a revocation due by `due_by` waits that nobody holds (`REVOCATION_WAITING`).
pub fn revocation_waiting(conn: &Connection, due_by: DateTime<Utc>) -> Result<bool> {
    found(conn, REVOCATION_WAITING, &[&to_ms(due_by)])
}

/// Whether `sql` finds a row.
fn found(conn: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<bool> {
    let row = conn.prepare_cached(sql)?.query_row(params, |_| Ok(()));
    Ok(row.optional()?.is_some())
}

fn may_claim(conn: &Connection, claimant: &Claimant) -> Result<bool> {
    let (due_by, now) = (to_ms(claimant.due_by), to_ms(claimant.now));
    if revocation_waiting(conn, claimant.due_by)? {
        return Ok(false);
    }
    if found(conn, LEFT_BEFORE, &[&claimant.request_id, &due_by, &now])? {
        return Ok(false);
    }
    let until = to_ms(claimant.now + claimant.lease);
    let renewed = conn
        .prepare_cached(RENEW_RUNNING)?
        .execute((until, claimant.running, now))?;
    Ok(renewed == 1)
}
