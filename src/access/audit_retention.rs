//! Retention (`audit_retention`): once a day a durable job purges the audit events older than
//! the retention, never one the collector has not had yet. Without the setting nothing is purged:
//! history is kept after requests end.

use chrono::{DateTime, Utc};

use super::Core;
use crate::domain::Job;
use crate::store::{self, audit, audit_purge};

/// How often the purge comes round.
pub const PURGE_EVERY: chrono::Duration = chrono::Duration::days(1);

/// Queues the purge at start, unless it is queued already or nothing is ever purged.
pub async fn schedule(core: &Core, now: DateTime<Utc>) -> store::Result<()> {
    if core.trail.retention().is_none()
        || store::jobs::is_waiting(&*core.db.read()?, &Job::PurgeAudit)?
    {
        return Ok(());
    }
    store::write(&core.db, |tx| {
        store::jobs::enqueue_unattached(tx, &Job::PurgeAudit, now)
    })
    .await?;
    core.wake_scheduler();
    Ok(())
}

/// Events removed per transaction (`audit_purge::purge`): a few MiB of pages.
const PURGE_AT_ONCE: i64 = 10_000;

/// The `PurgeAudit` job: transactions on the trail's database remove the old events, up to
/// `PURGE_AT_ONCE` each, and each chains an `audit_purged` event that lets the rest verify;
/// then the next purge is queued.
pub async fn run(core: &Core, now: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(keep) = core.trail.retention() else {
        return Ok(());
    };
    loop {
        let purged = store::write(core.trail.db(), |tx| {
            // An event the collector has not had yet is kept until it has.
            let at_most = match core.audit_sink {
                Some(_) => Some(audit::forwarded(tx)?),
                None => None,
            };
            audit_purge::purge(tx, now - keep, at_most, PURGE_AT_ONCE, now)
        })
        .await?;
        let Some(purged) = purged else {
            break;
        };
        tracing::info!(
            events = purged.events,
            up_to = purged.up_to,
            "purged audit events older than audit_retention"
        );
        if purged.events < PURGE_AT_ONCE {
            break;
        }
    }
    store::write(&core.db, |tx| {
        store::jobs::enqueue_unattached(tx, &Job::PurgeAudit, now + PURGE_EVERY)
    })
    .await?;
    Ok(())
}
