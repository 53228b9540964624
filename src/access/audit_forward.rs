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

/// Queues the forwarder at start, unless it is queued already or nothing is forwarded.
pub async fn schedule(core: &Core, now: DateTime<Utc>) -> sqlx::Result<()> {
    if core.audit_sink.is_none()
        || store::jobs::is_waiting(&core.db.read, &Job::ForwardAudit).await?
    {
        return Ok(());
    }
    let mut tx = store::write(&core.db).await?;
    store::jobs::enqueue_unattached(&mut tx, &Job::ForwardAudit, now).await?;
    tx.commit().await?;
    core.wake_scheduler();
    Ok(())
}

/// The `ForwardAudit` job. An event the collector refuses stops the round: the job is retried
/// (with backoff) from that event, and nothing after it is sent before it.
pub async fn run(core: &Core, now: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(sink) = &core.audit_sink else {
        return Ok(());
    };
    let events = {
        let mut conn = core.trail.db().read.acquire().await?;
        audit::not_forwarded(&mut conn, BATCH).await?
    };
    for event in &events {
        sink.send(event).await?;
        audit::forwarded_up_to(&core.trail.db().write, event.id).await?;
    }
    let next = if events.len() as i64 == BATCH {
        now
    } else {
        now + FORWARD_EVERY
    };
    let mut tx = store::write(&core.db).await?;
    store::jobs::enqueue_unattached(&mut tx, &Job::ForwardAudit, next).await?;
    tx.commit().await?;
    Ok(())
}
