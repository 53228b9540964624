//! The scheduler: claims due jobs, runs them, and retries failures with exponential backoff.
//! Jobs are rows, so everything waiting survives a restart; time is an argument, so tests can
//! run the scheduler at any instant.

mod stand_in;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::access::{self, Core, RequestView};
use crate::background::{self, giving_way};
use crate::domain::{Job, Notice};
use crate::retry::{RetryAfter, retry_after_of};
use crate::store;
use crate::store::follow_ups::Claimant;

pub use crate::domain::job::WARN_OWNERS_AFTER;
/// Grants are given up (the request fails) after this many attempts, about a quarter of an hour;
/// revocations never are.
pub const GRANT_ATTEMPTS: i64 = 10;
/// Messages are given up after this many attempts (about a quarter of an hour of retrying).
pub const MESSAGE_ATTEMPTS: i64 = 10;

const FIRST_RETRY: Duration = Duration::from_secs(2);
const LONGEST_RETRY: Duration = Duration::from_secs(300);
/// Revocations back off no further than this: access that should have ended is the one failure
/// that gets worse with time, so once a provider is back every due revocation lands within ~10 s
/// (the fault run's target), at the price of one attempt per revocation every 8 s while it is down.
const LONGEST_REVOKE_RETRY: Duration = Duration::from_secs(8);
/// How long a claimed job is reserved; a job still running after it may be claimed again.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// How long a request's jobs run before the rows still waiting are claimed anew: well inside the
/// lease, with room for one more job (`JOB_TIMEOUT`).
const LEASE_RENEWAL: Duration = Duration::from_secs(150);
const BATCH: i64 = 64;
/// How many rounds of follow-ups (jobs queued by the request's jobs just run) a request's worker
/// claims before leaving the rest to the next pass: a job that queued another every time must
/// not keep a worker for ever.
const FOLLOW_UPS: usize = 4;
/// How many requests' jobs run at once. Jobs wait on providers and chat far more than on the
/// CPU, so many run side by side; the bound keeps memory and outbound connections in check.
/// With a provider answering in 50 ms, 256 workers and not the CPU kept the last of ten thousand
/// grants ending together waiting (revocation lag p99 3.0 s; 2.2 s with 384). 512 gained
/// another tenth and cost 67 MiB of peak memory with a backlog of cards (53 MiB with 384).
/// Each holds at most one outbound connection: with the inbound ones and the database's files,
/// within the 1 024 files a service may open by default (with the workers kept for revocations
/// they may not be: see `REVOCATION_WORKERS`).
pub const WORKERS: usize = 384;
/// Workers that only revocations may take, beyond `WORKERS`. Each call in flight to a provider
/// holds a worker for its length: with a provider answering in 50 ms, 512 workers make at most
/// 10 240 calls a second, so ten thousand grants ending together could not all be revoked
/// within a second (lag p99 1.3–1.4 s). 512 for every job cost a seventh of the requests
/// answered at saturation, the other jobs taking the core from the acknowledgements; kept for
/// revocations they cost that nothing. Over HTTP/1.1 each call also holds a connection: the
/// webhook provider keeps those to `providers::webhook::HTTP1_CALLS`, and for the other
/// clients `jitbot serve` raises its limit on open files (`crate::open_files`). Over HTTP/2
/// the calls share one, and 1 024 workers in all brought lag p99 to 0.84–0.99 s at a peak RSS
/// of 45–54 MiB (512 over HTTP/1.1: 1.27–1.38 s, 55–60 MiB).
pub const REVOCATION_WORKERS: usize = 640;
/// A job still running after this counts as a failed attempt and is retried. The clients time out
/// each call sooner; this is the backstop, shorter than the lease so a job never outlives its claim.
const JOB_TIMEOUT: Duration = Duration::from_secs(120);
/// Even with nothing due the scheduler looks again this often, in case a clock jumped.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// How often a due job that could not be claimed is looked at again, at the latest.
const BLOCKED_POLL: Duration = Duration::from_secs(1);
/// Passes are at least this far apart unless the last one left due jobs behind: under load every
/// filed request wakes the scheduler, and one claim for the jobs of a few milliseconds costs the
/// writer far less than one claim for each.
const GATHER: Duration = Duration::from_millis(1);
/// How long the jobs that finish after one are gathered before they are deleted together. At
/// 500 requests a second jobs finish about a millisecond apart, and deleting each alone made
/// the completions over a third of all commits (2.4 of 6.5 a request, `perf probe`). A job
/// stays claimed until it is deleted, so this is also how long its request's next job, queued by
/// someone else meanwhile, may wait for it.
const COMPLETION_GATHER: Duration = Duration::from_millis(2);
/// How long one pass that claimed as many revocations as it could take holds the ends of
/// revocations (`hold_ends_while_revocations_start`): passes come milliseconds apart while
/// revocations are due, and a scheduler's thread that loses the core lets the hold lapse soon.
const HOLD_ENDS: Duration = Duration::from_millis(100);
/// The most finished jobs deleted in one transaction.
const COMPLETIONS: usize = 4096;

/// The delay before retry number `attempts` (1-based): doubling from 2 s, at most 5 min, with
/// up to 10 % jitter so that many failures do not retry in lockstep.
pub fn backoff(attempts: i64) -> Duration {
    backoff_up_to(attempts, LONGEST_RETRY)
}

/// The delay before retry number `attempts` of `job`: revocations are capped sooner.
fn backoff_of(job: &Job, attempts: i64) -> Duration {
    match job {
        Job::Revoke => backoff_up_to(attempts, LONGEST_REVOKE_RETRY),
        _ => backoff(attempts),
    }
}

fn backoff_up_to(attempts: i64, longest: Duration) -> Duration {
    let doublings = attempts.clamp(1, 20) as u32 - 1;
    let base = FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(longest);
    base + base.mul_f64(rand::random::<f64>() * 0.1)
}

/// Runs every job due at `now`; jobs of one request run in order, requests in parallel, and the
/// finished ones are deleted in one transaction. Returns how many jobs ran.
pub async fn run_due(core: &Core, now: DateTime<Utc>) -> anyhow::Result<usize> {
    // Audit events whose move failed after their commit wait in the outbox: every pass retries.
    core.trail.flush_after_commit().await;
    let claimed = claim(core, now, store::jobs::Room::for_any(BATCH)).await?;
    let count = claimed.len();
    let mut tasks = JoinSet::new();
    let mut groups = by_request(claimed);
    start_revocations(core, &mut groups, now).await;
    for rows in groups {
        let core = core.clone();
        tasks.spawn(async move {
            let mut done = Vec::new();
            run_request(&core, rows, now, |id| done.push(id)).await;
            done
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(ids) => done.extend(ids),
            Err(error) => tracing::error!(%error, "a job task panicked"),
        }
    }
    complete(core, &done).await;
    Ok(count)
}

/// Claimed jobs grouped by request, each group in claim order (unattached jobs each alone).
fn by_request(claimed: Vec<store::jobs::JobRow>) -> Vec<Vec<store::jobs::JobRow>> {
    let mut groups: BTreeMap<i64, Vec<store::jobs::JobRow>> = BTreeMap::new();
    let mut alone = Vec::new();
    for row in claimed {
        match row.request_id {
            Some(id) => groups.entry(id).or_default().push(row),
            None => alone.push(vec![row]),
        }
    }
    groups.into_values().chain(alone).collect()
}

/// Starts together the revocations that come first in their request's claimed jobs (the
/// others start when their turn comes): one transaction for a pass, where each alone would take
/// one of its own. A failure here only logs: each `Revoke` job starts its own revocation anyway.
async fn start_revocations(
    core: &Core,
    groups: &mut [Vec<store::jobs::JobRow>],
    now: DateTime<Utc>,
) {
    let mut started = started_together(core, &first_revocations(groups), now).await;
    for first in groups.iter_mut().filter_map(|rows| rows.first_mut()) {
        first.started = first.request_id.and_then(|id| started.remove(&id));
    }
}

/// The requests whose claimed jobs start with a revocation.
fn first_revocations(groups: &[Vec<store::jobs::JobRow>]) -> Vec<i64> {
    groups
        .iter()
        .filter_map(|rows| rows.first())
        .filter(|row| is_revocation(row))
        .filter_map(|row| row.request_id)
        .collect()
}

/// Starts the revocations of `due` in one transaction; each as the start left it, by request,
/// so that its job need not read it again. Empty when that failed.
async fn started_together(
    core: &Core,
    due: &[i64],
    now: DateTime<Utc>,
) -> HashMap<i64, Box<store::jobs::StartedRevocation>> {
    if due.is_empty() {
        return HashMap::new();
    }
    match access::expire::start_all(core, due, now).await {
        Ok(started) => started
            .into_iter()
            .map(|started| (started.request.id, Box::new(started)))
            .collect(),
        Err(error) => {
            tracing::error!(
                revocations = due.len(),
                error = format!("{error:#}"),
                "could not start due revocations together; each starts alone"
            );
            HashMap::new()
        }
    }
}

/// Runs one request's claimed jobs in order (new posts side by side: `next_turn`), handing each
/// one that is done with to `done` (so its row goes while the rest run), then the jobs they
/// queued for it that are due already: an approval card follows the check that queued it at
/// once, not a pass and a completion later.
/// Those are claimed for this worker in the transaction that queues them (`store::follow_ups`),
/// so no pass can take them and run them beside these. A request's jobs together may outlive
/// the lease they were claimed with; before that can happen the rows still waiting are claimed
/// anew, or a later pass would take them (and run them beside this one).
async fn run_request(
    core: &Core,
    rows: Vec<store::jobs::JobRow>,
    now: DateTime<Utc>,
    mut done: impl FnMut(i64),
) {
    let request_id = rows.first().and_then(|row| row.request_id);
    // Each row with the round of follow-ups it came in (0: claimed by the pass).
    let mut rows: VecDeque<_> = rows.into_iter().map(|row| (row, 0)).collect();
    let started = tokio::time::Instant::now();
    let mut renewed = Duration::ZERO;
    while let Some(first) = rows.pop_front() {
        let turn = next_turn(first, &mut rows);
        let elapsed = started.elapsed();
        // Leases from the pass's time moved on by how long its jobs have run.
        let at = now + chrono::Duration::from_std(elapsed).unwrap_or_default();
        if elapsed - renewed > LEASE_RENEWAL {
            let waiting: Vec<i64> = turn
                .iter()
                .chain(rows.iter())
                .map(|(row, _)| row.id)
                .collect();
            let renewal = store::write(&core.db, |tx| store::jobs::renew(tx, &waiting, at + LEASE));
            if let Err(error) = renewal.await {
                tracing::error!(%error, "could not renew the claim on a request's jobs");
            }
            renewed = elapsed;
        }
        let last = rows.is_empty();
        let in_turn = turn.len();
        let jobs = turn.into_iter().enumerate().map(|(i, (row, round))| {
            let last = last && i + 1 == in_turn;
            run_in_turn(core, row, round, request_id, now, at, last)
        });
        for (id, finished, follow_ups) in futures_util::future::join_all(jobs).await {
            rows.extend(follow_ups);
            if finished {
                done(id);
            }
        }
        rows.make_contiguous().sort_by_key(|(row, _)| row.id);
    }
}

/// The jobs of a request that run next, together: the first waiting, and with a post of a new
/// message the posts right behind it. One request's jobs run in the order queued, each seeing
/// what the one before did; but the thread and the cards a check leaves to post are new messages
/// each, none of which reads another (a card does not point at the thread, and each post is
/// recorded on its own), so they go out side by side. Posted one after the other, the card
/// waited for the thread's answer: a third of a card's wait at 500 requests a second.
fn next_turn(
    first: (store::jobs::JobRow, usize),
    waiting: &mut VecDeque<(store::jobs::JobRow, usize)>,
) -> Vec<(store::jobs::JobRow, usize)> {
    // Read only when something waits behind it: most requests' turn is one job (a revocation),
    // whose payload is read again when it runs.
    let posts = !waiting.is_empty() && is_new_post(&first.0);
    let mut turn = vec![first];
    // The same post twice (a card to one place) stays in order: the second finds the first's.
    let joins = |turn: &[(store::jobs::JobRow, usize)], row: &store::jobs::JobRow| {
        is_new_post(row) && turn.iter().all(|(other, _)| other.payload != row.payload)
    };
    while posts && waiting.front().is_some_and(|(row, _)| joins(&turn, row)) {
        turn.extend(waiting.pop_front());
    }
    turn
}

/// Whether a claimed job posts a new message: the request's thread, or an approval card.
fn is_new_post(row: &store::jobs::JobRow) -> bool {
    serde_json::from_str::<Job>(&row.payload)
        .is_ok_and(|job| matches!(job, Job::Announce | Job::PostCard { .. }))
}

/// Runs one of a request's jobs on its worker: its id, whether it is done with, and the
/// follow-ups its writes claimed for the worker (each with its round). `last` says whether
/// the worker holds none of the request's jobs after it.
async fn run_in_turn(
    core: &Core,
    mut row: store::jobs::JobRow,
    round: usize,
    request_id: Option<i64>,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    last: bool,
) -> (i64, bool, Vec<(store::jobs::JobRow, usize)>) {
    // Boxed, like each kind of job (`execute`) and the failure paths (`failed`): inline,
    // a request's task held all of them, 20 KiB copied whole into every task spawned and
    // held while it ran; now 2.4 KiB (measured with `size_of_val`).
    // Handed on by itself: the row is copied for the failure paths, what was started is not.
    let started = row.started.take();
    let job = Box::pin(run_caught(core, &row, started, now));
    match request_id {
        // What is due is judged at the pass's time, at which the jobs run (a revocation run
        // "before" its due time would take the access as extended).
        Some(request_id) if round < FOLLOW_UPS => {
            let claimant = Claimant::new(request_id, row.id, now, at, LEASE).last(last);
            // A job that passed its row on is done with here, but its row is not this
            // worker's to delete (`access::ends`).
            let finished = claimant.scope(job).await && !claimant.passed_on();
            let follow_ups = claimant.take().into_iter().map(|row| (row, round + 1));
            (row.id, finished, follow_ups.collect())
        }
        _ => (row.id, job.await, Vec::new()),
    }
}

/// Runs a job; true when it is done with. A job that panics counts as a failed attempt (and is
/// given up in time) instead of coming back with every lease. Caught here rather than by a task
/// of its own for each job: a task cost a second allocation and hand-over for every job.
async fn run_caught(
    core: &Core,
    row: &store::jobs::JobRow,
    started: Option<Box<store::jobs::StartedRevocation>>,
    now: DateTime<Utc>,
) -> bool {
    let ran = AssertUnwindSafe(timed_out_or_run(core, row.clone(), started, now))
        .catch_unwind()
        .await;
    match ran {
        Ok(finished) => finished,
        Err(_) => Box::pin(panicked(core, row, now)).await,
    }
}

/// Runs a job, counting one that outlives `JOB_TIMEOUT` as a failed attempt. True when the job
/// is done with (ran, or was given up) and its row can go.
async fn timed_out_or_run(
    core: &Core,
    row: store::jobs::JobRow,
    started: Option<Box<store::jobs::StartedRevocation>>,
    now: DateTime<Utc>,
) -> bool {
    match tokio::time::timeout(JOB_TIMEOUT, run_one(core, row.clone(), started, now)).await {
        Ok(finished) => finished,
        Err(_) => {
            // Boxed, as the failure below: rare, and inline it made every job's future larger.
            Box::pin(settle_dropped_writes(core)).await;
            let error = anyhow::anyhow!("the job took longer than {JOB_TIMEOUT:?}");
            match serde_json::from_str::<Job>(&row.payload) {
                Ok(job) => recorded(
                    row.id,
                    Box::pin(failed(core, &row, row.request_id, &job, error, now)).await,
                ),
                Err(_) => true,
            }
        }
    }
}

/// Waits until a write the timed-out job left waiting for its group's commit has committed (or
/// not): an empty write joins that group or the next, and returns after it. A write that was
/// dropped still commits with its group, and the follow-ups it claimed for this worker are handed
/// over then (`store::follow_ups`); without the wait, a job given up after its timeout could
/// finish before that, and the rows would stay claimed, with nobody to run them, until their
/// lease ran out, keeping the request's other jobs (a revocation) waiting as long.
async fn settle_dropped_writes(core: &Core) {
    let settled = store::write(&core.db, |_| Ok::<_, store::Error>(()));
    if let Err(error) = settled.await {
        tracing::warn!(%error, "could not wait for the writes of a job that timed out");
    }
}

/// Deletes finished jobs in one transaction. On failure they stay claimed and run again after a
/// restart, as after a crash: every job is safe to repeat.
async fn complete(core: &Core, ids: &[i64]) {
    if ids.is_empty() {
        return;
    }
    let deleted = store::write(&core.db, |tx| store::jobs::complete_all(tx, ids));
    if let Err(error) = deleted.await {
        tracing::error!(jobs = ids.len(), %error, "could not record that jobs finished; they will run again");
    }
}

/// Claims as many due jobs as `room` has (`store::jobs::claim_due`).
async fn claim(
    core: &Core,
    now: DateTime<Utc>,
    room: store::jobs::Room,
) -> store::Result<Vec<store::jobs::JobRow>> {
    store::write(&core.db, |tx| store::jobs::claim_due(tx, now, LEASE, room)).await
}

/// Whether a job's outcome was recorded; logs when it could not be.
fn recorded(job_id: i64, outcome: store::Result<bool>) -> bool {
    outcome.unwrap_or_else(|error| {
        tracing::error!(job_id, %error, "could not record a job's outcome; it will run again");
        false
    })
}

/// Runs one job. True when it is done with: it ran, it cannot be read, or it was given up.
async fn run_one(
    core: &Core,
    row: store::jobs::JobRow,
    started: Option<Box<store::jobs::StartedRevocation>>,
    now: DateTime<Utc>,
) -> bool {
    let job: Job = match serde_json::from_str(&row.payload) {
        Ok(job) => job,
        Err(error) => {
            tracing::error!(job_id = row.id, %error, payload = row.payload, "dropping a job that cannot be read");
            return true;
        }
    };
    let span =
        tracing::info_span!("job", job_id = row.id, request_id = row.request_id, kind = ?job);
    let result = match row.request_id {
        None => execute_unattached(core, &job, now).instrument(span).await,
        Some(request_id) => {
            execute(core, request_id, started, &job, row.attempts, now)
                .instrument(span)
                .await
        }
    };
    match result {
        Ok(()) => true,
        Err(error) => recorded(
            row.id,
            Box::pin(failed(core, &row, row.request_id, &job, error, now)).await,
        ),
    }
}

async fn panicked(core: &Core, row: &store::jobs::JobRow, now: DateTime<Utc>) -> bool {
    tracing::error!(job_id = row.id, "a job panicked");
    match serde_json::from_str::<Job>(&row.payload) {
        Ok(job) => {
            let error = anyhow::anyhow!("the job panicked");
            recorded(
                row.id,
                Box::pin(failed(core, row, row.request_id, &job, error, now)).await,
            )
        }
        Err(_) => true,
    }
}

/// Records a failed attempt: retried later with backoff (false), or given up past its limit
/// (true: the job is done with). Its callers await it boxed: it is rare, and inline in each of
/// them it made every job's future larger.
async fn failed(
    core: &Core,
    row: &store::jobs::JobRow,
    request_id: Option<i64>,
    job: &Job,
    error: anyhow::Error,
    now: DateTime<Utc>,
) -> store::Result<bool> {
    let attempts = row.attempts + 1;
    let message = format!("{error:#}");
    tracing::warn!(
        job_id = row.id,
        request_id,
        attempts,
        error = message,
        "job failed"
    );
    if job
        .attempt_limit(GRANT_ATTEMPTS, MESSAGE_ATTEMPTS)
        .is_some_and(|limit| attempts >= limit)
    {
        core.metrics.job_given_up(job.name());
        tracing::error!(
            job_id = row.id,
            request_id,
            attempts,
            error = message,
            "giving up on a job"
        );
        let given_up = match (job, request_id) {
            (Job::Grant, Some(id)) => access::grant::give_up(core, id, &message, now).await,
            (Job::CheckRequester, Some(id)) => access::check::give_up(core, id, now).await,
            _ => Ok(()),
        };
        if let Err(error) = given_up {
            tracing::error!(
                request_id,
                error = format!("{error:#}"),
                "could not record that a job was given up"
            );
        }
        return Ok(true);
    }
    core.metrics.job_retry(job.name());
    let wait = error_retry_after(&error).unwrap_or_else(|| backoff_of(job, attempts));
    let retry_at = now + chrono::Duration::from_std(wait).unwrap_or_default();
    let mut tell_owners = None;
    if let (Job::Grant | Job::Revoke, Some(request_id)) = (job, request_id)
        && attempts == WARN_OWNERS_AFTER
    {
        // Chat hears an error id; the chain (with URLs and ids) stays in the log.
        let error_id = crate::error_id::new();
        tracing::warn!(
            request_id,
            error_id,
            error = message,
            "owners told a job keeps failing"
        );
        let notice = Notice::StillFailing {
            action: if *job == Job::Grant {
                "grant"
            } else {
                "revocation"
            }
            .to_string(),
            attempts: attempts as u32,
            error_id,
        };
        tell_owners = Some((request_id, Job::NotifyOwners { notice }));
    }
    store::write(&core.db, |tx| {
        store::jobs::retry_later(tx, row.id, attempts, retry_at, &message)?;
        if let Some((request_id, notify)) = &tell_owners {
            store::jobs::queue_job(tx, *request_id, notify, now);
        }
        Ok::<_, store::Error>(())
    })
    .await?;
    core.wake_scheduler();
    Ok(false)
}

/// The wait a failure asked for, capped so that a bogus header cannot park a revocation.
fn error_retry_after(error: &anyhow::Error) -> Option<Duration> {
    retry_after_of(error).map(|RetryAfter(wait)| wait.min(LONGEST_RETRY))
}

/// A job of no request: the drift sweep's.
async fn execute_unattached(core: &Core, job: &Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job {
        Job::Sweep => access::sweep::run(core, now).await.map(|_| ()),
        Job::ForwardAudit => access::audit_forward::run(core, now).await,
        Job::PurgeAudit => access::audit_retention::run(core, now).await,
        Job::SweepRemove { group, member } => access::sweep::remove(core, group, member, now).await,
        Job::SweepReport {
            platform,
            channel,
            group,
            members,
            removed,
        } => access::sweep::report(core, (*platform, channel), group, members, *removed).await,
        other => {
            tracing::error!(job = ?other, "dropping a request's job that names no request");
            Ok(())
        }
    }
}

/// A job of a request. Each kind's future is boxed on its own: one inline future for all of
/// them is as large as the largest (a few KiB), and it was allocated, moved and held for every
/// job in flight, hundreds at once.
fn execute<'a>(
    core: &'a Core,
    request_id: i64,
    started: Option<Box<store::jobs::StartedRevocation>>,
    job: &'a Job,
    earlier_failures: i64,
    now: DateTime<Utc>,
) -> BoxFuture<'a, anyhow::Result<()>> {
    match job {
        Job::Grant => Box::pin(access::grant::run(core, request_id, now)),
        Job::Revoke => Box::pin(access::expire::run(
            core,
            request_id,
            started,
            earlier_failures,
            now,
        )),
        Job::CheckRequester
        | Job::WarnEnding { .. }
        | Job::RemindPending
        | Job::ExpirePending
        | Job::RemindAcknowledge
        | Job::AnnounceBreakGlass => Box::pin(async move {
            let Some(request) = store::requests::get(&*core.db.read()?, request_id)? else {
                return Ok(());
            };
            lifecycle(core, request, job, now).await
        }),
        message => Box::pin(deliver(core, request_id, message, now)),
    }
}

/// The lifecycle's own jobs, on the request as it is now.
async fn lifecycle(
    core: &Core,
    request: crate::domain::AccessRequest,
    job: &Job,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match job {
        Job::CheckRequester => access::check::run(core, &request, now).await,
        Job::WarnEnding { expires_at } => access::warn::run(core, request, *expires_at, now).await,
        Job::RemindPending => access::timeout::remind(core, &request, now).await,
        Job::ExpirePending => access::timeout::expire(core, &request, now).await,
        Job::RemindAcknowledge => access::break_glass::remind(core, &request, now).await,
        Job::AnnounceBreakGlass => access::break_glass::announce(core, &request).await,
        _ => Ok(()),
    }
}

/// A message job: the request is loaded and viewed once, and handed to the chat platforms — the
/// requester's for the thread, every platform for cards and owners.
async fn deliver(
    core: &Core,
    request_id: i64,
    job: &Job,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(request) = store::requests::get(&*core.db.read()?, request_id)? else {
        return Ok(());
    };
    let view = RequestView::load(core, request).await?;
    let requester_chat = core.chat(view.request.requester.account.platform)?;
    match job {
        Job::Announce => requester_chat.announce(&view, now).await,
        Job::PostCard {
            platform,
            destination,
        } if view.wants_card(destination) => {
            core.chat(*platform)?
                .post_card(&view, destination, now)
                .await
        }
        Job::RefreshMessages => {
            for chat in core.chats() {
                chat.refresh(&view, now).await?;
            }
            Ok(())
        }
        Job::NotifyRequester { notice } => requester_chat.tell_requester(&view, notice).await,
        Job::NotifyPerson { person, notice } => {
            core.chat(person.platform)?
                .tell_person(person, &view, notice)
                .await
        }
        Job::NotifyOwners { notice } => {
            for chat in core.chats() {
                chat.tell_owners(&view, notice).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Runs the scheduler (`run`) on a thread of its own, with a runtime of its own, until
/// `shutdown`; the returned handle finishes when it has. Queries run on the thread that asks
/// (`store`), so background work on the runtime that answers people would queue every
/// acknowledgement behind the jobs ready before it. On a thread of its own at `SCHED_IDLE`
/// (`priority`), it runs whenever no request is being answered, and gives way the moment one
/// arrives. Should it get no CPU at all, the calling runtime runs the due jobs
/// (`stand_in`).
pub fn run_apart(
    core: Core,
    shutdown: CancellationToken,
) -> std::io::Result<impl Future<Output = Result<(), tokio::sync::oneshot::error::RecvError>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("jitbot-scheduler")
        .on_thread_unpark(background::turn_begins)
        .build()?;
    // The scheduler also stops when the runtime that started it ends (a test's, say) without
    // cancelling `shutdown`: that runtime's tasks are dropped, and with them this guard.
    let stop = shutdown.child_token();
    let guard = stop.clone().drop_guard();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let _guard = guard;
        stopped.cancelled().await;
    });
    let stand_in = stand_in::StandIn::new();
    let standing_in = tokio::spawn(stand_in.clone().run(core.clone(), stop.clone()));
    let (finished, done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("jitbot-scheduler".into())
        .spawn(move || {
            if background::lower_this_thread() {
                background::give_way_on_this_thread(core.metrics.core_offers());
            }
            store::writes_on_this_thread_are_background();
            runtime.spawn(stand_in.heartbeat.clone().keep_beating());
            let metrics = core.metrics.clone();
            let ran = stops_loudly(&metrics, || {
                runtime.block_on(giving_way(run(core, &stand_in, stop)));
            });
            // Dropped unsent when `run` panicked: the caller learns that too.
            if ran {
                let _ = finished.send(());
            }
        })?;
    // Finished when both have finished the jobs in hand.
    Ok(async move {
        let stopped = done.await;
        if let Err(error) = standing_in.await {
            tracing::error!(%error, "the scheduler's stand-in panicked");
        }
        stopped
    })
}

/// Runs the work of the scheduler's thread; false when it panicked. A panic there, outside
/// any job (each job's is caught on its own), ends the thread for good, and with it its
/// heartbeat: the stand-in then runs the due jobs, revocations at once and the rest paced,
/// which keeps access ending on time but leaves cards slow. So it is said at once, rather than
/// when jitbot stops: in the log, in the `scheduler_stopped` gauge, and by `/healthz` (503),
/// which a liveness probe restarts jitbot on. Every job waits in the database meanwhile.
fn stops_loudly(metrics: &crate::metrics::Metrics, work: impl FnOnce()) -> bool {
    // The panic's own message was printed by the panic hook already.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(work));
    if ran.is_err() {
        metrics.scheduler_stopped();
        tracing::error!(
            "the scheduler's thread stopped on a panic: the threads that answer people run the due jobs in its stead, the rest paced, until jitbot is restarted"
        );
    }
    ran.is_ok()
}

/// Runs jobs as they come due until `shutdown`. Each request's jobs run as soon as a worker is
/// free, independently of the others: a slow provider holds one worker, not every revocation
/// behind it. Finished jobs are deleted in batches by one task. On shutdown the jobs in hand
/// are finished first. The requests it claimed wait in `stand_in` until a worker here starts
/// them: should this thread get no CPU for them, the stand-in takes them over.
async fn run(core: Core, stand_in: &stand_in::StandIn, shutdown: CancellationToken) {
    let core = core.in_background();
    // The stand-in frees the claims of the last run before either of them claims anything.
    let mut released = stand_in.released.subscribe();
    tokio::select! {
        _ = released.wait_for(|released| *released) => {}
        _ = shutdown.cancelled() => return,
    }
    let workers = Workers {
        any: Arc::new(Semaphore::new(WORKERS)),
        revocations_only: Arc::new(Semaphore::new(REVOCATION_WORKERS)),
    };
    let (finished, to_complete) = mpsc::unbounded_channel();
    let completer = tokio::spawn(giving_way(complete_in_batches(core.clone(), to_complete)));
    let mut running = JoinSet::new();
    loop {
        let pass = tokio::time::Instant::now();
        // Audit events whose move failed after their commit wait in the outbox: every pass retries.
        core.trail.flush_after_commit().await;
        let now = Utc::now();
        let room = workers.room();
        // With only the revocations' workers free, a claim (a write) is worth it only when a
        // revocation is due: the workers any job may take are busy whenever a backlog builds.
        let free = match room.any > 0 || revocation_waiting(&core, now) {
            true => room.total(),
            false => 0,
        };
        let claimed = if free > 0 {
            claim(&core, now, room).await
        } else {
            Ok(Vec::new())
        };
        let more_due = match claimed {
            Ok(claimed) => {
                let full = free > 0 && claimed.len() as i64 == free;
                let claimed_jobs = claimed.len();
                let groups = by_request(claimed);
                let revocations = first_revocations(&groups);
                let hold = ends_hold(free, claimed_jobs, revocations.len());
                hold_ends_while_revocations_start(&core, hold, &mut running);
                // Handed to the stand-in's reach at once: should this thread lose the core
                // from here on, they do not wait for it.
                let mut tickets = Vec::with_capacity(groups.len());
                for rows in groups {
                    let Some(permit) = workers.take(rows.first().is_some_and(is_revocation)) else {
                        break; // cannot happen: one permit per request claimed, within `room`
                    };
                    tickets.push(stand_in.unstarted.put(rows, now, permit));
                }
                let started = started_together(&core, &revocations, now).await;
                stand_in.unstarted.hand_over(started);
                for ticket in tickets {
                    let (core, finished, unstarted) =
                        (core.clone(), finished.clone(), stand_in.unstarted.clone());
                    running.spawn(giving_way(async move {
                        // Gone when the stand-in took it over: this thread had no CPU for it.
                        let Some(claimed) = unstarted.take(ticket) else {
                            return;
                        };
                        run_request(&core, claimed.rows, claimed.now, |id| {
                            let _ = finished.send(id);
                        })
                        .await;
                        drop(claimed.permit);
                        unstarted.freed.notify_one();
                    }));
                }
                full
            }
            Err(error) => {
                tracing::error!(%error, "the scheduler could not claim due jobs");
                false
            }
        };
        while running.try_join_next().is_some() {}
        let wait = if more_due {
            Duration::ZERO
        } else {
            next_wait(&core, now).await
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = core.scheduler_woken() => {}
            _ = stand_in.unstarted.freed.notified() => {}
            _ = hold_lapses(&core) => {}
            _ = shutdown.cancelled() => break,
        }
        if !more_due {
            tokio::select! {
                _ = tokio::time::sleep_until(pass + GATHER) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }
    while running.join_next().await.is_some() {}
    core.ends.release();
    core.ends.record_unless_held(&core).await;
    drop(finished);
    let _ = completer.await;
    tracing::info!("the scheduler stopped");
}

/// What a pass does with the hold on revocations' ends (`access::ends`).
#[derive(Debug, PartialEq, Eq)]
enum EndsHold {
    /// It claimed as many revocations as it could take: more are likely due, and the core goes
    /// to making them while the ends of those made wait.
    Renew,
    /// It claimed fewer, or other jobs: no revocation is left waiting for a worker.
    Release,
    /// It had no room to claim: the hold lapses by itself unless a later pass renews it.
    Keep,
}

/// What a pass that had room for `free` jobs and claimed `claimed` of them does with the hold,
/// `revocations` of the requests claimed starting with a revocation: as many as jobs claimed
/// when every job claimed is a revocation of a request of its own.
fn ends_hold(free: i64, claimed: usize, revocations: usize) -> EndsHold {
    match free {
        0 => EndsHold::Keep,
        free if claimed as i64 == free && revocations == claimed => EndsHold::Renew,
        _ => EndsHold::Release,
    }
}

/// Applies the pass's `hold` (`ends_hold`); then ends waiting that are not held are recorded,
/// by a task at a time.
fn hold_ends_while_revocations_start(core: &Core, hold: EndsHold, running: &mut JoinSet<()>) {
    match hold {
        EndsHold::Renew => return core.ends.hold_while_revocations_start(HOLD_ENDS),
        EndsHold::Release => core.ends.release(),
        EndsHold::Keep => {}
    }
    if core.ends.any_to_record() {
        let core = core.clone();
        running.spawn(giving_way(async move {
            core.ends.record_unless_held(&core).await
        }));
    }
}

/// Until the hold on the ends waiting lapses (`hold_ends_while_revocations_start`), or for ever
/// when none wait under one.
async fn hold_lapses(core: &Core) {
    match core.ends.hold_lapses_at() {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The workers free to run claimed jobs: those any job may take, and those kept for revocations.
struct Workers {
    any: Arc<Semaphore>,
    revocations_only: Arc<Semaphore>,
}

impl Workers {
    /// What the next claim may take.
    fn room(&self) -> store::jobs::Room {
        store::jobs::Room {
            revocations_only: self.revocations_only.available_permits() as i64,
            any: self.any.available_permits() as i64,
            most: BATCH,
        }
    }

    /// A worker for a request's claimed jobs: one kept for revocations first when they start
    /// with one, so that those any job may take stay free for the others the claim counted on.
    /// Failing that, any worker free: a claim takes no more jobs than there are, so every
    /// request claimed gets one, however its first job was told apart.
    fn take(&self, revocation: bool) -> Option<OwnedSemaphorePermit> {
        let (first, second) = match revocation {
            true => (&self.revocations_only, &self.any),
            false => (&self.any, &self.revocations_only),
        };
        (first.clone().try_acquire_owned().ok()).or_else(|| second.clone().try_acquire_owned().ok())
    }
}

/// Whether a revocation is due that nobody holds; true when that cannot be read (a claim then
/// finds out).
fn revocation_waiting(core: &Core, now: DateTime<Utc>) -> bool {
    let waiting = core
        .db
        .read()
        .and_then(|db| store::follow_ups::revocation_waiting(&db, now));
    waiting.unwrap_or(true)
}

/// Whether a claimed job is a revocation.
fn is_revocation(row: &store::jobs::JobRow) -> bool {
    serde_json::from_str::<Job>(&row.payload).is_ok_and(|job| job == Job::Revoke)
}

/// How long to sleep before looking for due jobs again. A job that is due but not claimable
/// (its request has a job running, or every worker is busy) is looked at again when a worker
/// frees up, or after a second at the latest.
async fn next_wait(core: &Core, claimed_at: DateTime<Utc>) -> Duration {
    let next_due = core.db.read().and_then(|db| store::jobs::next_due(&db));
    match next_due {
        // Due when the claim ran, yet not claimed: blocked.
        Ok(Some(due)) if due <= claimed_at => BLOCKED_POLL,
        Ok(Some(due)) => (due - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(IDLE_POLL),
        Ok(None) => IDLE_POLL,
        Err(error) => {
            tracing::error!(%error, "the scheduler could not read the next due job");
            FIRST_RETRY
        }
    }
}

/// Deletes finished jobs, as many in one transaction as finish within `COMPLETION_GATHER` of
/// the first, and wakes the scheduler: the next job of their requests may run now.
async fn complete_in_batches(core: Core, mut finished: mpsc::UnboundedReceiver<i64>) {
    let mut ids = Vec::new();
    while next_completions(&mut finished, &mut ids).await {
        complete(&core, &ids).await;
        ids.clear();
        core.wake_scheduler();
    }
}

/// Waits for a finished job, then gathers into `ids` those finishing within
/// `COMPLETION_GATHER` of it. False once every worker's sender is gone and nothing is left.
async fn next_completions(finished: &mut mpsc::UnboundedReceiver<i64>, ids: &mut Vec<i64>) -> bool {
    if finished.recv_many(ids, COMPLETIONS).await == 0 {
        return false;
    }
    tokio::time::sleep(COMPLETION_GATHER).await;
    while ids.len() < COMPLETIONS
        && let Ok(id) = finished.try_recv()
    {
        ids.push(id);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, job: &Job) -> (store::jobs::JobRow, usize) {
        let payload = serde_json::to_string(job).unwrap();
        let row = store::jobs::JobRow {
            id,
            request_id: Some(7),
            payload,
            attempts: 0,
            started: None,
        };
        (row, 0)
    }

    fn card_to(owner: &str) -> Job {
        Job::PostCard {
            platform: crate::domain::Platform::Slack,
            destination: crate::domain::CardDestination::Owner {
                owner: owner.into(),
            },
        }
    }

    fn ids(rows: &[(store::jobs::JobRow, usize)]) -> Vec<i64> {
        rows.iter().map(|(row, _)| row.id).collect()
    }

    #[test]
    fn the_thread_and_the_cards_go_out_together_and_everything_else_in_order() {
        let notice = Job::RefreshMessages;
        let mut waiting: VecDeque<_> = [
            row(2, &card_to("alice@example.com")),
            row(3, &card_to("bob@example.com")),
            row(4, &notice),
            row(5, &card_to("carol@example.com")),
        ]
        .into();
        let turn = next_turn(row(1, &Job::Announce), &mut waiting);
        assert_eq!(
            ids(&turn),
            [1, 2, 3],
            "the posts up to the first job of another kind"
        );
        assert_eq!(ids(&Vec::from(waiting.clone())), [4, 5]);

        let first = waiting.pop_front().unwrap();
        assert_eq!(
            ids(&next_turn(first, &mut waiting)),
            [4],
            "a refresh runs alone"
        );

        let mut behind: VecDeque<_> = [row(2, &Job::Announce)].into();
        let turn = next_turn(row(1, &Job::CheckRequester), &mut behind);
        assert_eq!(ids(&turn), [1], "the check comes before what it decides");

        let mut same: VecDeque<_> = [row(2, &card_to("alice@example.com"))].into();
        let turn = next_turn(row(1, &card_to("alice@example.com")), &mut same);
        assert_eq!(ids(&turn), [1], "the same card twice stays in order");
    }

    #[test]
    fn a_panic_on_the_schedulers_thread_is_told_at_once() {
        let metrics = crate::metrics::Metrics::new();
        assert!(stops_loudly(&metrics, || ()));
        assert!(!metrics.is_scheduler_stopped(), "it ran to its end");

        assert!(!stops_loudly(&metrics, || panic!("a bug outside any job")));
        assert!(metrics.is_scheduler_stopped());
        let exposition = metrics.render(crate::metrics::Gauges {
            active_grants: 0,
            jobs_queued: 0,
            oldest_due_job_seconds: 0,
        });
        assert!(
            exposition.contains("\njitbot_scheduler_stopped 1\n"),
            "{exposition}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let secs = |n| backoff(n).as_secs_f64();
        assert!((2.0..2.3).contains(&secs(1)));
        assert!((4.0..4.5).contains(&secs(2)));
        assert!((8.0..8.9).contains(&secs(3)));
        assert!((300.0..330.1).contains(&secs(12)));
        assert!((300.0..330.1).contains(&secs(1000)));
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_finishing_within_the_gather_are_completed_together() {
        let (finished, mut to_complete) = mpsc::unbounded_channel();
        finished.send(1).unwrap();
        let workers = tokio::spawn(async move {
            tokio::time::sleep(COMPLETION_GATHER / 2).await;
            finished.send(2).unwrap();
            tokio::time::sleep(COMPLETION_GATHER).await;
            finished.send(3).unwrap();
        });
        let mut ids = Vec::new();
        assert!(next_completions(&mut to_complete, &mut ids).await);
        assert_eq!(ids, [1, 2], "the second finished within the gather");
        ids.clear();
        assert!(next_completions(&mut to_complete, &mut ids).await);
        assert_eq!(ids, [3]);
        workers.await.unwrap();
        ids.clear();
        assert!(!next_completions(&mut to_complete, &mut ids).await);
    }

    #[test]
    fn ends_are_held_only_while_passes_claim_all_the_revocations_they_can_take() {
        assert_eq!(
            ends_hold(64, 64, 64),
            EndsHold::Renew,
            "a full pass of revocations"
        );
        assert_eq!(
            ends_hold(3, 3, 3),
            EndsHold::Renew,
            "full with the workers left"
        );
        assert_eq!(ends_hold(64, 40, 40), EndsHold::Release, "fewer were due");
        assert_eq!(
            ends_hold(64, 64, 60),
            EndsHold::Release,
            "other jobs came in"
        );
        assert_eq!(ends_hold(64, 0, 0), EndsHold::Release, "nothing due");
        assert_eq!(ends_hold(0, 0, 0), EndsHold::Keep, "no room to claim");
    }

    #[test]
    fn revocations_retry_at_least_every_eight_seconds() {
        let revoke = |n| backoff_of(&Job::Revoke, n).as_secs_f64();
        assert!((2.0..2.3).contains(&revoke(1)));
        assert!((8.0..8.9).contains(&revoke(3)));
        assert!((8.0..8.9).contains(&revoke(50)));
        assert!(backoff_of(&Job::Grant, 50).as_secs_f64() >= 300.0);
    }
}
