//! Ending soon: `warn_before` the end, the requester hears it in the thread, with Extend and
//! I'm done.

use chrono::{DateTime, Utc};

use super::{Core, RequestView};
use crate::domain::duration::describe_remaining;
use crate::domain::{AccessRequest, Notice, RequestStatus};

/// The `WarnEnding` job: only while the access is active and still ends at `expires_at` — an
/// extension queued a warning of its own.
pub async fn run(
    core: &Core,
    request: AccessRequest,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    // Stored times keep milliseconds; an extension moves the end by a minute at least.
    let same_end = request
        .expires_at
        .is_some_and(|at| (at - expires_at).num_seconds().abs() < 1);
    if request.status != RequestStatus::Active || !same_end {
        return Ok(());
    }
    let view = RequestView::load(core, request).await?;
    let chat = core.chat(view.request.requester.account.platform)?;
    let left = describe_remaining(expires_at - now);
    chat.tell_requester(&view, &Notice::EndingSoon { expires_at, left })
        .await
}
