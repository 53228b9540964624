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

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::Core;
use crate::domain::{AuditAction, Job};
use crate::store::{self, audit, requests};

/// One request's end, as its revocation found it.
pub struct End {
    pub request_id: i64,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    pub detail: serde_json::Value,
    /// What people are told, in order (the refresh of its messages last).
    pub jobs: Vec<Job>,
}

/// Ends waiting to be recorded, and the turn to record them.
#[derive(Default)]
pub struct Ends {
    waiting: Mutex<Vec<(End, oneshot::Sender<Outcome>)>>,
    turn: tokio::sync::Mutex<()>,
}

/// Whether the request was ended by this end (false: something else ended it first), or why
/// nothing was recorded.
type Outcome = Result<bool, String>;

/// Why a lapsed extension lapsed.
const LAPSED: &str = "the access ended before the extension was approved.";

impl Ends {
    /// Records `end` with the others waiting; true when its request was ended by it.
    pub async fn record(&self, core: &Core, end: End) -> anyhow::Result<bool> {
        let (told, outcome) = oneshot::channel();
        self.lock_waiting().push((end, told));
        {
            let _turn = self.turn.lock().await;
            let batch = std::mem::take(&mut *self.lock_waiting());
            if !batch.is_empty() {
                let (ends, told): (Vec<End>, Vec<_>) = batch.into_iter().unzip();
                // Boxed: only the end holding the turn writes, and inline the write made the
                // future of every end waiting (a thousand at once) as large as its own.
                let mut recorded = Box::pin(record_all(core, &ends)).await;
                for (end, told) in ends.iter().zip(told) {
                    // A request ended twice in one batch (two runs of its job) was ended by the
                    // first of them.
                    let outcome = match &mut recorded {
                        Ok(ended) => Ok(ended.remove(&end.request_id)),
                        Err(error) => Err(format!("{error:#}")),
                    };
                    let _ = told.send(outcome);
                }
            }
        }
        match outcome.await {
            Ok(Ok(ended)) => Ok(ended),
            Ok(Err(error)) => Err(anyhow::anyhow!(error)),
            // The end that held the turn was dropped half-way (its job timed out): whether this
            // end was committed is unknown (a batch whose work ran commits with its group), so
            // its job runs again; the `revoking → ended` compare-and-swap makes that safe.
            Err(_) => Err(anyhow::anyhow!(
                "the ends recorded with this one were given up"
            )),
        }
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<(End, oneshot::Sender<Outcome>)>> {
        // A panic while holding it leaves a whole vector: pushes and takes are single moves.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Records `ends` in one transaction; returns the requests it ended (a request ended meanwhile
/// by something else is left as it is, and nothing is recorded for it). A request given twice
/// is recorded once, as its first end.
async fn record_all(core: &Core, ends: &[End]) -> anyhow::Result<HashSet<i64>> {
    let at: Vec<(i64, DateTime<Utc>)> = ends.iter().map(|end| (end.request_id, end.at)).collect();
    let ended = core
        .write(|tx| {
            let ended: HashSet<i64> = requests::mark_ended(tx, &at)?.into_iter().collect();
            let mut first = HashSet::new();
            let ends: Vec<&End> = ends
                .iter()
                .filter(|end| ended.contains(&end.request_id) && first.insert(end.request_id))
                .collect();
            let events: Vec<audit::NewEvent> = ends
                .iter()
                .map(|end| {
                    audit::NewEvent::by_jitbot(
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
            Ok::<_, store::Error>(ended)
        })
        .await?;
    Ok(ended)
}
