//! Submit: a person asks for a group; the request is stored pending and the owners are asked.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{AccessError, directory, owners};
use crate::app::App;
use crate::domain::{
    AccessDuration, GroupPolicy, Notice, Person, Platform, Refusal, RequestCommand,
};
use crate::jobs::{self, CardDestination, Job};
use crate::store::{self, audit, requests};

pub struct Submission {
    pub requester: Person,
    /// The channel or conversation where the person asked.
    pub origin_channel: String,
    pub command: RequestCommand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub id: i64,
    pub group: String,
    pub duration: AccessDuration,
}

pub async fn submit(
    app: &App,
    submission: Submission,
    now: DateTime<Utc>,
) -> Result<Submitted, AccessError> {
    let group = app.policy().group(&submission.command.group)?;
    let duration = group.duration_for(submission.command.duration)?;
    let requester = &submission.requester;
    // Checked with what is known now; `confirm_requester` checks again once the platform has
    // told us the requester's email.
    // Owners from Entra are only known once Graph is asked, in `confirm_requester`.
    if !group.owners_from_entra {
        group.check_approvable(requester)?;
    }

    let mut tx = store::write(&app.db).await?;
    if let Some(open) = requests::open_for(&mut *tx, requester, &group.name).await? {
        return Err(Refusal::AlreadyOpen {
            id: open.id,
            group: group.name.clone(),
            status: open.status,
        }
        .into());
    }
    let id = requests::insert(
        &mut *tx,
        requests::NewRequest {
            group: &group.name,
            requester,
            justification: &submission.command.justification,
            duration,
            origin_channel: &submission.origin_channel,
            requested_at: now,
        },
    )
    .await?;
    audit::append(
        &mut tx,
        audit::NewEvent {
            at: now,
            request_id: Some(id),
            actor: &requester.key(),
            action: "requested",
            platform: Some(requester.platform.as_str()),
            channel: Some(&submission.origin_channel),
            detail: json!({
                "group": group.name,
                "duration": duration.to_string(),
                "justification": submission.command.justification,
            }),
        },
    )
    .await?;
    jobs::enqueue(&mut tx, id, &Job::Announce, now).await?;
    for job in card_jobs(group, requester, &app.platforms_in_use()) {
        jobs::enqueue(&mut tx, id, &job, now).await?;
    }
    tx.commit().await?;
    app.wake_scheduler();
    tracing::info!(request_id = id, group = group.name, "request submitted");
    Ok(Submitted {
        id,
        group: group.name.clone(),
        duration,
    })
}

/// Checks a pending request again once the platform has told us who the requester is: an owner
/// listed by email may turn out to be the requester, and Entra-backed groups need an enabled,
/// eligible Entra account. A request that cannot go on is cancelled, with the reason in its
/// thread, before any owner is asked.
pub async fn confirm_requester(
    app: &App,
    request_id: i64,
    requester: &Person,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(request) = requests::get(&app.db, request_id).await? else {
        return Ok(());
    };
    // Directory look-ups happen before the write transaction, which must not wait on Graph.
    let group = match app.policy().group(&request.group) {
        Ok(group) => Some(owners::current(app, group).await?),
        Err(_) => None,
    };
    let group = group.as_ref();
    let mut verdict = match group {
        Some(group) => group.check_approvable(requester).map(|()| None),
        None => Ok(None),
    };
    if let (Ok(None), Some(group)) = (&verdict, group)
        && directory::needs_directory(group)
    {
        verdict = directory::check_requester(app, group, requester)
            .await?
            .map(Some);
    }

    let mut tx = store::write(&app.db).await?;
    if let Some(email) = &requester.email {
        requests::set_requester_email(&mut *tx, request_id, email).await?;
    }
    if let Some(group) = group.filter(|g| g.owners_from_entra) {
        requests::set_owner_snapshot(&mut *tx, request_id, &owners::to_json(&group.owners)).await?;
    }
    match verdict {
        Ok(directory_id) => {
            if let Some(id) = directory_id {
                requests::set_directory_user(&mut *tx, request_id, &id).await?;
            }
            // Entra's owners get their DMs now that they are known.
            if let Some(group) = group.filter(|g| g.owners_from_entra) {
                let channels =
                    group.approval_channel.is_some() || group.teams_approval_channel.is_some();
                if !channels {
                    for job in card_jobs(group, requester, &app.platforms_in_use()) {
                        jobs::enqueue(&mut tx, request_id, &job, now).await?;
                    }
                }
            }
        }
        Err(refusal) => cancel(&mut tx, request_id, &refusal.to_string(), now).await?,
    }
    tx.commit().await?;
    app.wake_scheduler();
    Ok(())
}

async fn cancel(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    request_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if !requests::mark_cancelled(&mut **tx, request_id, now, reason).await? {
        return Ok(());
    }
    audit::append(
        tx,
        audit::NewEvent {
            at: now,
            request_id: Some(request_id),
            actor: super::SCHEDULER,
            action: "cancelled",
            platform: None,
            channel: None,
            detail: json!({ "reason": reason }),
        },
    )
    .await?;
    let notice = Notice::Cancelled {
        reason: reason.to_string(),
    };
    jobs::enqueue(tx, request_id, &Job::NotifyRequester { notice }, now).await?;
    jobs::enqueue(tx, request_id, &Job::RefreshMessages, now).await?;
    tracing::info!(
        request_id,
        reason,
        "request cancelled before any owner was asked"
    );
    Ok(())
}

/// The group's approval channels (Slack, Teams or both, so that owners on either platform can
/// decide), or else a DM to every owner who may decide, on every platform jitbot can reach.
fn card_jobs(group: &GroupPolicy, requester: &Person, platforms: &[Platform]) -> Vec<Job> {
    let channels = [
        (Platform::Slack, &group.approval_channel),
        (Platform::Teams, &group.teams_approval_channel),
    ];
    let to_channels: Vec<Job> = channels
        .into_iter()
        .filter_map(|(platform, channel)| {
            let channel = channel.clone()?;
            Some(Job::PostCard {
                platform,
                destination: CardDestination::Channel { channel },
            })
        })
        .collect();
    if !to_channels.is_empty() {
        return to_channels;
    }
    let deciders: Vec<_> = group
        .owners
        .iter()
        .filter(|owner| group.may_decide(owner, requester))
        .collect();
    platforms
        .iter()
        .flat_map(|platform| {
            deciders.iter().map(|owner| Job::PostCard {
                platform: *platform,
                destination: CardDestination::Owner {
                    owner: owner.to_string(),
                },
            })
        })
        .collect()
}
