//! Ends recorded together. Revocations finish at their providers one by one, but what follows —
//! the request marked ended, its audit event, its waiting extensions lapsed, the jobs that tell
//! people — is written for every end that finished meanwhile in one transaction of set-based
//! statements: a handful of round trips to the writer for hundreds of ends, where each end
//! alone took seven. With ten thousand grants ending in the same second, those round trips were
//! two thirds of what kept the last revocations waiting.
//!
//! The first end to arrive records the ends waiting (its own among them) while the ones arriving
//! meanwhile wait for the next turn; each learns whether its request was ended by it. Written
//! here rather than taken from a crate: what is batched is this one transaction.
//!
//! While the scheduler is still starting revocations (a pass claimed as many as it could take,
//! `hold_while_revocations_start`), recording ends waits: a revocation's job passes its row on
//! with its end and frees its worker, and the row is deleted in the transaction that records
//! the end, so a stop in between leaves the job to run again. The core then goes to the calls
//! still to be made, the access still to be removed, and the bookkeeping of those already made
//! follows. No end is held over a second (`waiting`). With ten thousand grants ending together,
//! the last reached its provider about a third sooner (lag p99 1.09–1.37 → 0.67–1.00 s in
//! runs side by side).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::Core;
use crate::domain::{AuditAction, Job};
use crate::store::follow_ups::Claimant;
use crate::store::{self, audit, requests};

mod waiting;

use waiting::{Queue, Taken, Then, Waiting};

/// The most ends left waiting while revocations start: beyond it they are recorded at once.
/// An end waiting is about 400 bytes; 16 384 of them, some 6 MiB.
const MOST_HELD: usize = 16_384;
/// The most ends recorded in one transaction, and by one turn of a task that records for the
/// scheduler: the writer, and an end waiting for its turn, wait no longer than one such
/// transaction (a few milliseconds), however many ends wait.
const MOST_AT_ONCE: usize = 256;
/// How long after a failed recording the jobs whose rows were passed on run again, at the
/// soonest (up to a second later, so that they do not all come back at once).
const RETRY_AFTER: chrono::Duration = chrono::Duration::seconds(2);

/// One request's end, as its revocation found it.
pub struct End {
    pub request_id: i64,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    /// The audit event's detail, as JSON text (`audit::NewEvent::detail`).
    pub detail: String,
    /// What people are told, in order (the refresh of its messages last).
    pub jobs: Vec<Job>,
    /// When the access was due to end, for an end at its time: how late it came is counted.
    pub due_at: Option<DateTime<Utc>>,
}

/// Ends waiting to be recorded, and the turn to record them.
#[derive(Default)]
pub struct Ends {
    queue: Queue,
    turn: tokio::sync::Mutex<()>,
}

/// What became of an end given to [`Ends::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Its request was ended by it.
    Ended,
    /// Something else had ended its request first: nothing was recorded for it.
    AlreadyEnded,
    /// Left waiting, with its job's row, while revocations start.
    Later,
}

/// What became of an end recorded, or why nothing was.
type Outcome = Result<Recorded, String>;

/// Why a lapsed extension lapsed.
const LAPSED: &str = "the access ended before the extension was approved.";

impl Ends {
    /// Records `end` with the others waiting. While revocations start, an end whose job runs on
    /// a scheduler's worker is left waiting instead, and its job's row with it
    /// ([`Claimant::pass_on_running`]).
    pub async fn record(&self, core: &Core, end: End) -> anyhow::Result<Recorded> {
        let end = match self.hold(end) {
            Ok(()) => {
                core.metrics.end_held();
                return Ok(Recorded::Later);
            }
            Err(end) => end,
        };
        let (told, mut outcome) = oneshot::channel();
        self.queue.push(Waiting::new(end, Then::Tell(told)));
        let mut heard = None;
        {
            // With the turn, the ends waiting are recorded oldest first until this one is (or
            // nothing waits: another turn recorded it). Those that came after it are for their
            // own jobs, or for the scheduler, which every recording wakes.
            let _turn = self.turn.lock().await;
            loop {
                match outcome.try_recv() {
                    Ok(recorded) => break heard = Some(recorded),
                    Err(oneshot::error::TryRecvError::Closed) => break,
                    Err(oneshot::error::TryRecvError::Empty) => {}
                }
                if !self.record_some(core).await {
                    break;
                }
            }
        }
        let heard = match heard {
            Some(recorded) => Ok(recorded),
            None => outcome.await,
        };
        match heard {
            Ok(Ok(recorded)) => Ok(recorded),
            Ok(Err(error)) => Err(anyhow::anyhow!(error)),
            // Cannot happen: a batch dropped half-way is put back and recorded by the next
            // turn, which tells this end. Were it to, the job runs again, which is safe.
            Err(_) => Err(anyhow::anyhow!(
                "the ends recorded with this one were given up"
            )),
        }
    }

    /// Leaves `end` waiting, with its job's row, if ends are held and its job runs on a
    /// scheduler's worker that may pass the row on; gives it back otherwise.
    fn hold(&self, end: End) -> Result<(), End> {
        let Some(worker) = Claimant::current() else {
            return Err(end);
        };
        self.queue
            .push_if_held(end, MOST_HELD, |end| match worker.pass_on_running() {
                Some(job_id) => Ok(Waiting::new(end, Then::DeleteJob(job_id))),
                None => Err(end),
            })
    }

    /// Leaves the ends of revocations waiting for up to `hold` from now: the scheduler's pass
    /// claimed as many revocations as it could take, and more may be due. Renewed by each such
    /// pass; should the passes stop, or an end wait a second, the hold lapses
    /// ([`Ends::hold_lapses_at`]).
    pub fn hold_while_revocations_start(&self, hold: Duration) {
        self.queue.hold_until(Instant::now() + hold);
    }

    /// Ends the hold: no revocation is left to start.
    pub fn release(&self) {
        self.queue.release();
    }

    /// When the hold on the ends waiting lapses, if ends wait under one: the scheduler records
    /// them then, whether or not a pass comes.
    pub fn hold_lapses_at(&self) -> Option<Instant> {
        self.queue.hold_lapses_at()
    }

    /// Whether ends wait that are not held: [`Ends::record_unless_held`] would record them.
    pub fn any_to_record(&self) -> bool {
        self.queue.any_unheld()
    }

    /// Records the ends waiting, unless they are held or another task is recording them. The
    /// turn is taken for each transaction, so that a job waiting to hear of its own end never
    /// waits behind more than one, even when this runs on a thread that gets little CPU.
    pub async fn record_unless_held(&self, core: &Core) {
        while self.any_to_record() {
            // Whoever holds the turn records at least as far as its own end, and every
            // recording wakes the scheduler, whose next pass looks here again for the rest.
            let Ok(_turn) = self.turn.try_lock() else {
                return;
            };
            if !self.record_some(core).await {
                return;
            }
        }
    }

    /// Records up to `MOST_AT_ONCE` of the ends waiting, oldest first, in one transaction; false
    /// when none waited. The caller holds the turn.
    async fn record_some(&self, core: &Core) -> bool {
        let taken = Taken::new(&self.queue, self.queue.take(MOST_AT_ONCE));
        if taken.batch().is_empty() {
            return false;
        }
        // Boxed: only the end holding the turn writes, and inline the write made the future of
        // every end waiting (a thousand at once) as large as its own.
        let recorded = Box::pin(record_all(core, taken.batch())).await;
        let batch = taken.done();
        match recorded {
            // One end the transaction refuses must not hold back the others: each alone.
            Err(_) if batch.len() > 1 => {
                for waiting in batch {
                    let alone = std::slice::from_ref(&waiting);
                    let recorded = Box::pin(record_all(core, alone)).await;
                    after_recording(core, vec![waiting], recorded).await;
                }
            }
            recorded => after_recording(core, batch, recorded).await,
        }
        true
    }
}

/// Tells each end's job how it went, counts and logs the ends made, and wakes the scheduler for
/// the jobs they queued. When nothing was recorded, the jobs whose rows were passed on are freed
/// to run again soon (not counted as a failed attempt: the provider did its part); their
/// revocations run again, which is safe.
async fn after_recording(core: &Core, batch: Vec<Waiting>, recorded: anyhow::Result<HashSet<i64>>) {
    let mut freed = Vec::new();
    let error = recorded.as_ref().err().map(|error| format!("{error:#}"));
    let mut ended = recorded.unwrap_or_default();
    for Waiting { end, then, .. } in batch {
        // A request ended twice in one batch (two runs of its job) was ended by the first.
        let by_this = ended.remove(&end.request_id);
        if by_this {
            if let Some(due) = end.due_at {
                core.metrics.revoked(end.at - due);
            }
            let (request_id, action) = (end.request_id, end.action.as_str());
            tracing::info!(request_id, action, "access ended");
        }
        match (then, &error) {
            (Then::Tell(told), None) => {
                let recorded = match by_this {
                    true => Recorded::Ended,
                    false => Recorded::AlreadyEnded,
                };
                let _ = told.send(Ok(recorded));
            }
            (Then::Tell(told), Some(error)) => {
                let _ = told.send(Err(error.clone()));
            }
            (Then::DeleteJob(_), None) => {}
            (Then::DeleteJob(job_id), Some(_)) => freed.push(job_id),
        }
    }
    if let Some(error) = &error
        && !freed.is_empty()
    {
        tracing::error!(
            jobs = freed.len(),
            error,
            "could not record revocations' ends; they run again"
        );
        let retry_at = Utc::now() + RETRY_AFTER;
        let retry = store::write(&core.db, |tx| {
            store::jobs::free_to_run_at(tx, &freed, retry_at, error)
        });
        if let Err(error) = retry.await {
            tracing::error!(%error, "could not free their jobs; they run again when their claims run out");
        }
    }
    core.wake_scheduler();
}

/// Records the ends of `batch` in one transaction, and deletes the jobs passed on with them;
/// returns the requests it ended (a request ended meanwhile by something else is left as it
/// is, and nothing is recorded for it). A request given twice is recorded once, as its first end.
async fn record_all(core: &Core, batch: &[Waiting]) -> anyhow::Result<HashSet<i64>> {
    let at: Vec<(i64, DateTime<Utc>)> = batch
        .iter()
        .map(|waiting| (waiting.end.request_id, waiting.end.at))
        .collect();
    let passed_on: Vec<i64> = batch
        .iter()
        .filter_map(|waiting| match waiting.then {
            Then::DeleteJob(job_id) => Some(job_id),
            Then::Tell(_) => None,
        })
        .collect();
    let ended = core
        .write(|tx| {
            let ended: HashSet<i64> = requests::mark_ended(tx, &at)?.into_iter().collect();
            let mut first = HashSet::new();
            let ends: Vec<&End> = batch
                .iter()
                .map(|waiting| &waiting.end)
                .filter(|end| ended.contains(&end.request_id) && first.insert(end.request_id))
                .collect();
            let events: Vec<audit::NewEvent> = ends
                .iter()
                .map(|end| {
                    audit::NewEvent::by_jitbot_as_text(
                        Some(end.request_id),
                        end.action,
                        end.detail.clone(),
                        end.at,
                    )
                })
                .collect();
            audit::append_all(tx, &events)?;
            let ids: Vec<i64> = ends.iter().map(|end| end.request_id).collect();
            for extension in requests::waiting_extensions(tx, &ids)? {
                let extended = extension.thread_id();
                let Some(end) = ends.iter().find(|end| end.request_id == extended) else {
                    continue;
                };
                super::extend::lapse_in(tx, &extension, LAPSED, end.at)?;
            }
            let jobs: Vec<(i64, Job, DateTime<Utc>)> = ends
                .iter()
                .flat_map(|end| {
                    end.jobs
                        .iter()
                        .map(|job| (end.request_id, job.clone(), end.at))
                })
                .collect();
            store::jobs::queue_jobs(tx, &jobs);
            if !passed_on.is_empty() {
                store::jobs::complete_all(tx, &passed_on)?;
            }
            Ok::<_, store::Error>(ended)
        })
        .await?;
    Ok(ended)
}
