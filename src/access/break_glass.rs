//! Break-glass: access taken at once in an emergency, announced to the owners and to the
//! security channel, and left open for review until an owner acknowledges it — reminded daily.

use chrono::{DateTime, Utc};

use super::Core;
use super::effects::{Tx, tell_owners};
use crate::domain::lifecycle::ACKNOWLEDGE_REMINDER_EVERY;
use crate::domain::{AccessRequest, Job, Notice, wording};
use crate::store;

/// After a break-glass use is approved: the announcement and the first reminder.
pub fn queue_review(tx: &mut Tx, request_id: i64, now: DateTime<Utc>) {
    store::jobs::queue_job(tx, request_id, &Job::AnnounceBreakGlass, now);
    let next = now + ACKNOWLEDGE_REMINDER_EVERY;
    store::jobs::queue_job(tx, request_id, &Job::RemindAcknowledge, next);
}

/// The `AnnounceBreakGlass` job: every security channel of the group hears of it.
pub async fn announce(core: &Core, request: &AccessRequest) -> anyhow::Result<()> {
    let Some(break_glass) = core
        .policy()
        .group(&request.group)
        .ok()
        .and_then(|group| group.lifecycle.break_glass.clone())
    else {
        return Ok(());
    };
    let text = wording::break_glass_alarm(request);
    for (platform, channel) in &break_glass.security_channels {
        if let Ok(chat) = core.chat(*platform)
            && chat.reaches_owners()
        {
            chat.post_to_channel(channel, &text).await?;
        }
    }
    Ok(())
}

/// The `RemindAcknowledge` job: until an owner reviews the use, they hear of it every day.
pub async fn remind(
    core: &Core,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if request.acknowledged.is_some() {
        return Ok(());
    }
    core.write(|tx| {
        tell_owners(tx, request.id, Notice::AcknowledgeReminder, now);
        let next = now + ACKNOWLEDGE_REMINDER_EVERY;
        store::jobs::queue_job(tx, request.id, &Job::RemindAcknowledge, next);
        Ok::<_, store::Error>(())
    })
    .await?;
    core.wake_scheduler();
    Ok(())
}
