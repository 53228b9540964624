//! Forwarding the audit trail to a collector (`audit_webhook`): every event, in order, at least
//! once, each with its id for deduplication. The trail itself is the queue and a cursor says how
//! far the collector got, so a collector that is down for an hour loses nothing.

use chrono::{DateTime, Utc};

use super::Core;
use crate::domain::Job;
use crate::store::{self, audit};

/// How often the forwarder looks for new events when it has caught up.
pub const FORWARD_EVERY: chrono::Duration = chrono::Duration::seconds(5);
/// Events sent per round; a full round is followed by the next at once.
const BATCH: i64 = 200;
/// No event is sent after a round has run this long: with the collector's 10 s per call, the
/// round and its cursor's write end well within the scheduler's 2 minutes for a job.
const ROUND_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// Queues the forwarder at start, unless it is queued already or nothing is forwarded.
pub async fn schedule(core: &Core, now: DateTime<Utc>) -> store::Result<()> {
    if core.audit_sink.is_none() || store::jobs::is_waiting(&*core.db.read()?, &Job::ForwardAudit)?
    {
        return Ok(());
    }
    store::write(&core.db, |tx| {
        store::jobs::enqueue_unattached(tx, &Job::ForwardAudit, now)
    })
    .await?;
    core.wake_scheduler();
    Ok(())
}

/// The `ForwardAudit` job. An event the collector refuses stops the round: the job is retried
/// (with backoff) from that event, and nothing after it is sent before it.
pub async fn run(core: &Core, now: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(sink) = &core.audit_sink else {
        return Ok(());
    };
    let events = audit::not_forwarded(&*core.trail.db().read()?, BATCH)?;
    // The cursor moves once per round, past the events the collector took: a write for each
    // event cost the writer thousands of transactions a second under load. A crash in between
    // sends the round's events again, which the collector drops by id. A round also ends after
    // `ROUND_TIME`, so that a slow collector's progress is kept well before the job's timeout.
    let started = std::time::Instant::now();
    let (mut taken, mut refused, mut cut_short) = (None, None, false);
    for event in &events {
        if started.elapsed() > ROUND_TIME {
            cut_short = true;
            break;
        }
        match sink.send(event).await {
            Ok(()) => taken = Some(event.id),
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    if let Some(last) = taken {
        let moved = store::write(core.trail.db(), |tx| audit::forwarded_up_to(tx, last)).await;
        if let (Err(_), Some(refusal)) = (&moved, &refused) {
            tracing::warn!(error = %format!("{refusal:#}"), "the audit collector refused an event");
        }
        moved?;
    }
    if let Some(error) = refused {
        return Err(error);
    }
    let next = if events.len() as i64 == BATCH || cut_short {
        now
    } else {
        now + FORWARD_EVERY
    };
    store::write(&core.db, |tx| {
        store::jobs::enqueue_unattached(tx, &Job::ForwardAudit, next)
    })
    .await?;
    Ok(())
}
