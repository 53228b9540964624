//! The `jobs` table: durable side effects waiting to run.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::WriteTx;
use super::{Connection, OptionalExtension, Result, from_ms, to_ms};
use crate::domain::{AccessRequest, Job};

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub request_id: Option<i64>,
    pub payload: String,
    pub attempts: i64,
    /// A revocation the scheduler's pass started, as the pass read it: the job need not read
    /// it again. Boxed: a row is held by each job in flight (a thousand at once), most of them
    /// with nothing started, and inline this made every row ten times as large.
    pub started: Option<Box<StartedRevocation>>,
}

impl JobRow {
    /// A row of `id, request_id, payload, attempts`; nothing started yet.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(JobRow {
            id: row.get("id")?,
            request_id: row.get("request_id")?,
            payload: row.get("payload")?,
            attempts: row.get("attempts")?,
            started: None,
        })
    }
}

/// A revocation started (`active → revoking`), as read once it was.
#[derive(Debug, Clone)]
pub struct StartedRevocation {
    pub request: AccessRequest,
    /// The groups sharing its membership when its holders were read…
    pub sharing: Vec<String>,
    /// …and another active request of the person's for one of them, which keeps it.
    pub still_held_by: Option<i64>,
}

fn enqueue(
    db: &Connection,
    request_id: Option<i64>,
    payload: &str,
    due_at: DateTime<Utc>,
) -> Result<()> {
    db.prepare_cached(ENQUEUE)?
        .execute((request_id, payload, to_ms(due_at)))?;
    Ok(())
}

/// A request's job queued in a write transaction, not yet inserted.
#[derive(Debug)]
pub struct QueuedJob {
    pub(super) request_id: i64,
    payload: String,
    pub(super) due_at: i64,
}

/// Queues a job of a request in the caller's write transaction, due at `due_at`. The jobs a
/// transaction queues are inserted together, in the order queued, once its work is done; a
/// request's jobs run in that order. Nothing in a transaction reads back the jobs it queued.
pub fn queue_job(tx: &mut WriteTx, request_id: i64, job: &Job, due_at: DateTime<Utc>) {
    tx.queue_job(QueuedJob {
        request_id,
        payload: serde_json::to_string(job).expect("jobs always serialize"),
        due_at: to_ms(due_at),
    });
}

/// Queues many jobs, as [`queue_job`] does each: its request, the job, and when it is due.
pub fn queue_jobs(tx: &mut WriteTx, jobs: &[(i64, Job, DateTime<Utc>)]) {
    for (request_id, job, due_at) in jobs {
        queue_job(tx, *request_id, job, *due_at);
    }
}

pub const ENQUEUE: &str = "INSERT INTO jobs (request_id, payload, due_at) VALUES (?, ?, ?)";
pub const ENQUEUE_CLAIMED: &str =
    "INSERT INTO jobs (request_id, payload, due_at, locked_until) VALUES (?, ?, ?, ?)";

/// Inserts a transaction's queued jobs, in the order queued, once its work is done: one cached
/// statement run for each, with the writer held once for all. (One statement over a JSON array
/// of them cost more: SQLite parsed each element again for each column.) A job for which
/// `claimed_until` gives a time goes in claimed until then, and is returned (the follow-ups of
/// the job running, see `follow_ups`).
pub(super) fn insert_queued(
    conn: &Connection,
    jobs: &[QueuedJob],
    claimed_until: impl Fn(&QueuedJob) -> Option<i64>,
) -> Result<Vec<JobRow>> {
    let mut claimed = Vec::new();
    if jobs.is_empty() {
        return Ok(claimed);
    }
    let mut enqueue = conn.prepare_cached(ENQUEUE)?;
    for job in jobs {
        match claimed_until(job) {
            None => {
                enqueue.execute((job.request_id, job.payload.as_str(), job.due_at))?;
            }
            Some(until) => {
                conn.prepare_cached(ENQUEUE_CLAIMED)?.execute((
                    job.request_id,
                    job.payload.as_str(),
                    job.due_at,
                    until,
                ))?;
                claimed.push(JobRow {
                    id: conn.last_insert_rowid(),
                    request_id: Some(job.request_id),
                    payload: job.payload.clone(),
                    attempts: 0,
                    started: None,
                });
            }
        }
    }
    Ok(claimed)
}

/// Enqueues a job of no request (the drift sweep's) inside the caller's transaction.
pub fn enqueue_unattached(db: &Connection, job: &Job, due_at: DateTime<Utc>) -> Result<()> {
    let payload = serde_json::to_string(job).expect("jobs always serialize");
    enqueue(db, None, &payload, due_at)?;
    Ok(())
}

pub const IS_WAITING: &str = "SELECT id FROM jobs WHERE request_id IS NULL AND payload = ? LIMIT 1";

/// Whether a job of no request with exactly this payload is waiting.
pub fn is_waiting(db: &Connection, job: &Job) -> Result<bool> {
    let payload = serde_json::to_string(job).expect("jobs always serialize");
    let found: Option<i64> = db
        .prepare_cached(IS_WAITING)?
        .query_row([payload], |row| row.get(0))
        .optional()?;
    Ok(found.is_some())
}

pub const DISCARD: &str = "DELETE FROM jobs WHERE request_id = ? AND locked_until IS NULL \
         AND json_extract(payload, '$.job') IN (SELECT value FROM json_each(?))";

/// Drops a request's jobs of these kinds that nobody is running: reminders and expiries that no
/// longer apply once the request has moved on.
pub fn discard(db: &Connection, request_id: i64, kinds: &[&str]) -> Result<()> {
    let kinds = serde_json::to_string(kinds).expect("names serialize");
    db.prepare_cached(DISCARD)?.execute((request_id, kinds))?;
    Ok(())
}

/// Due jobs that nobody holds, none of whose request's jobs is running. Held jobs are not in the
/// index it reads (`jobs_unclaimed_by_due`), so a claim does not step over the jobs running.
/// The claims' limits are cast: SQLite plans with the value of a bare `LIMIT ?`, and so compiled
/// each claim again whenever the limit was bound anew, which was every time (about 7 % of the
/// CPU at 1 000 requests a second).
pub const CLAIM_DUE: &str = "UPDATE jobs SET locked_until = ?1 WHERE id IN ( \
             SELECT id FROM jobs INDEXED BY jobs_unclaimed_by_due \
             WHERE locked_until IS NULL AND due_at <= ?2 \
             AND NOT EXISTS (SELECT 1 FROM jobs running WHERE running.request_id = jobs.request_id \
                             AND running.locked_until > ?2) \
             ORDER BY due_at, id LIMIT CAST(?3 AS INTEGER)) \
         RETURNING id, request_id, payload, attempts";

/// Due revocations that nobody holds, none of whose request's earlier jobs is due or running:
/// claimed before anything else (migration `0013_revocations_first`).
pub const CLAIM_REVOCATIONS: &str = "UPDATE jobs SET locked_until = ?1 WHERE id IN ( \
             SELECT id FROM jobs INDEXED BY jobs_revocations_by_due \
             WHERE json_extract(payload, '$.job') = 'revoke' AND locked_until IS NULL \
             AND due_at <= ?2 \
             AND NOT EXISTS (SELECT 1 FROM jobs other WHERE other.request_id = jobs.request_id \
                             AND (other.locked_until > ?2 \
                                  OR (other.id < jobs.id AND other.due_at <= ?2))) \
             ORDER BY due_at, id LIMIT CAST(?3 AS INTEGER)) \
         RETURNING id, request_id, payload, attempts";

/// Due jobs that nobody holds and that the first due revocation of their request waits behind
/// (its notices, say), in the order queued: what `CLAIM_REVOCATIONS` cannot take, since they come
/// first. The revocation itself is claimed once they are done and deleted.
pub const CLAIM_AHEAD_OF_REVOCATIONS: &str = "UPDATE jobs SET locked_until = ?1 WHERE id IN ( \
             SELECT ahead.id FROM jobs INDEXED BY jobs_revocations_by_due \
             JOIN jobs ahead INDEXED BY jobs_by_request ON ahead.request_id = jobs.request_id \
             WHERE json_extract(jobs.payload, '$.job') = 'revoke' AND jobs.locked_until IS NULL \
             AND jobs.due_at <= ?2 \
             AND ahead.id < jobs.id AND ahead.locked_until IS NULL AND ahead.due_at <= ?2 \
             AND NOT EXISTS (SELECT 1 FROM jobs earlier INDEXED BY jobs_by_request \
                             WHERE earlier.request_id = jobs.request_id AND earlier.id < jobs.id \
                             AND json_extract(earlier.payload, '$.job') = 'revoke') \
             AND NOT EXISTS (SELECT 1 FROM jobs running WHERE running.request_id = jobs.request_id \
                             AND running.locked_until > ?2) \
             ORDER BY jobs.due_at, jobs.id, ahead.id LIMIT CAST(?3 AS INTEGER)) \
         RETURNING id, request_id, payload, attempts";

/// Of these requests, those with a revocation due at `now` that nobody holds.
pub const REVOKING: &str = "SELECT DISTINCT request_id FROM jobs INDEXED BY jobs_by_request \
         WHERE request_id IN (SELECT value FROM json_each(?1)) \
         AND json_extract(payload, '$.job') = 'revoke' AND locked_until IS NULL AND due_at <= ?2";

/// Which of `requests` have a revocation due at `now` that nobody holds: the stand-in takes
/// those over at once, whatever job of theirs the scheduler's thread had claimed.
pub fn revoking(db: &Connection, requests: &[i64], now: DateTime<Utc>) -> Result<HashSet<i64>> {
    if requests.is_empty() {
        return Ok(HashSet::new());
    }
    let ids = serde_json::to_string(requests).expect("ids serialize");
    let mut statement = db.prepare_cached(REVOKING)?;
    let rows = statement.query_map((ids, to_ms(now)), |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Claims whose lease ran out (a job that outlived it): released, to be claimed again.
pub const RELEASE_EXPIRED: &str = "UPDATE jobs INDEXED BY jobs_by_lease SET locked_until = NULL \
     WHERE locked_until IS NOT NULL AND locked_until <= ?";

/// How many jobs a claim may take: the scheduler's free workers. Some may be kept for
/// revocations, so that ten thousand grants ending together get more calls to their providers
/// in flight than the other jobs, which would spend the same workers' memory on a backlog of
/// cards, ever get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Free workers that only a revocation may take.
    pub revocations_only: i64,
    /// Free workers that any job may take.
    pub any: i64,
    /// The most jobs one claim takes, whatever is free.
    pub most: i64,
}

impl Room {
    /// Room for `limit` jobs of any kind.
    pub fn for_any(limit: i64) -> Room {
        Room {
            revocations_only: 0,
            any: limit,
            most: limit,
        }
    }

    /// How many other jobs fit beside `revocations` claimed: those take the workers kept for
    /// them first.
    fn others_beside(&self, revocations: i64) -> i64 {
        let taken_from_any = (revocations - self.revocations_only).max(0);
        (self.any - taken_from_any).min(self.most - revocations)
    }

    /// How many jobs fit in all: as many revocations as there are free workers of both kinds,
    /// at most `most`.
    pub fn total(&self) -> i64 {
        (self.revocations_only + self.any).min(self.most)
    }
}

/// Claims the jobs due at `now` that nobody holds, as many as `room` has, for `lease`, due
/// revocations first: whatever else is due (the notices of the revocations before them, say),
/// access ends on time. Claims whose lease ran out are released first and claimed like the
/// rest. Each claim is one statement, so two claims can never take the same row. A request whose
/// job is still running has nothing else claimed meanwhile: one request's jobs run one at a
/// time, in order. Returned in the order they were queued.
pub fn claim_due(
    db: &Connection,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    room: Room,
) -> Result<Vec<JobRow>> {
    db.prepare_cached(RELEASE_EXPIRED)?.execute([to_ms(now)])?;
    let claim = |sql, limit| claim_with(db, sql, now, lease, limit);
    let mut rows = claim(CLAIM_REVOCATIONS, room.total())?;
    rows.extend(claim(CLAIM_DUE, room.others_beside(rows.len() as i64))?);
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

/// Runs one of the claims above for at most `limit` jobs (none when it is not positive).
fn claim_with(
    db: &Connection,
    sql: &'static str,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<JobRow>> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let mut statement = db.prepare_cached(sql)?;
    let rows = statement.query_map((to_ms(now + lease), to_ms(now), limit), JobRow::from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Claims as `claim_due` does, for at most `free` workers, but only `others` of them for jobs
/// that are not revocations nor ahead of one in their request: the stand-in's claim
/// (`scheduler::stand_in`), which paces the other jobs and never the revocations. The jobs
/// ahead of a revocation are claimed without it: a later claim takes it once they are done.
pub fn claim_revocations_and(
    db: &Connection,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    free: i64,
    others: i64,
) -> Result<Vec<JobRow>> {
    db.prepare_cached(RELEASE_EXPIRED)?.execute([to_ms(now)])?;
    let claim = |sql, limit| claim_with(db, sql, now, lease, limit);
    let mut rows = claim(CLAIM_REVOCATIONS, free)?;
    rows.extend(claim(CLAIM_AHEAD_OF_REVOCATIONS, free - rows.len() as i64)?);
    let others = others.min(free - rows.len() as i64);
    rows.extend(claim(CLAIM_DUE, others)?);
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

/// Extends the claim on jobs still held until `until` (a request's jobs that run long).
pub fn renew(db: &Connection, ids: &[i64], until: DateTime<Utc>) -> Result<()> {
    let ids = serde_json::to_string(ids).expect("ids serialize");
    db.prepare_cached(
        "UPDATE jobs SET locked_until = ? WHERE id IN (SELECT value FROM json_each(?))",
    )?
    .execute((to_ms(until), ids))?;
    Ok(())
}

/// Deletes finished jobs, many in one statement: the scheduler commits completions in batches.
pub fn complete_all(db: &Connection, ids: &[i64]) -> Result<()> {
    let ids = serde_json::to_string(ids).expect("ids serialize");
    db.prepare_cached("DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))")?
        .execute([ids])?;
    Ok(())
}

/// Frees claimed jobs to run again at `due_at` or within a second after (so that many freed
/// together do not all come back at once), without counting an attempt.
pub fn free_to_run_at(
    db: &Connection,
    ids: &[i64],
    due_at: DateTime<Utc>,
    error: &str,
) -> Result<()> {
    let ids = serde_json::to_string(ids).expect("ids serialize");
    db.prepare_cached(
        "UPDATE jobs SET due_at = ?1 + abs(random() % 1000), last_error = ?2, locked_until = NULL \
         WHERE id IN (SELECT value FROM json_each(?3))",
    )?
    .execute((to_ms(due_at), error, ids))?;
    Ok(())
}

pub fn retry_later(
    db: &Connection,
    id: i64,
    attempts: i64,
    due_at: DateTime<Utc>,
    error: &str,
) -> Result<()> {
    db.prepare_cached(
        "UPDATE jobs SET attempts = ?, due_at = ?, last_error = ?, locked_until = NULL WHERE id = ?",
    )?
    .execute((attempts, to_ms(due_at), error, id))?;
    Ok(())
}

pub const NEXT_DUE: &str =
    "SELECT MIN(due_at) FROM jobs INDEXED BY jobs_unclaimed_by_due WHERE locked_until IS NULL";

/// When the next unclaimed job comes due, if any.
pub fn next_due(db: &Connection) -> Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = db
        .prepare_cached(NEXT_DUE)?
        .query_row([], |row| row.get(0))?;
    Ok(ms.map(from_ms))
}

/// Frees jobs claimed by a process that is gone. jitbot runs as one process per database, so at
/// start every claim is stale.
pub fn release_all(db: &Connection) -> Result<u64> {
    let done = db
        .prepare_cached("UPDATE jobs SET locked_until = NULL WHERE locked_until IS NOT NULL")?
        .execute([])?;
    Ok(done as u64)
}

#[derive(Debug, Clone)]
pub struct PendingJob {
    pub id: i64,
    pub request_id: Option<i64>,
    pub payload: String,
    pub due_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl PendingJob {
    /// A row of `id, request_id, payload, due_at, attempts, last_error`.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(PendingJob {
            id: row.get("id")?,
            request_id: row.get("request_id")?,
            payload: row.get("payload")?,
            due_at: row.get("due_at")?,
            attempts: row.get("attempts")?,
            last_error: row.get("last_error")?,
        })
    }
}

pub fn all(db: &Connection) -> Result<Vec<PendingJob>> {
    let mut statement = db.prepare_cached(
        "SELECT id, request_id, payload, due_at, attempts, last_error FROM jobs ORDER BY id",
    )?;
    let rows = statement.query_map([], PendingJob::from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many jobs there are, and when the earliest of those not running yet is due (the index
/// of unclaimed jobs, `NEXT_DUE`).
pub fn queue(db: &Connection) -> Result<(i64, Option<DateTime<Utc>>)> {
    let count: i64 = db
        .prepare_cached("SELECT COUNT(*) FROM jobs")?
        .query_row([], |row| row.get(0))?;
    Ok((count, next_due(db)?))
}
