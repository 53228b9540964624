//! Submit: a person asks for a group; the request is stored pending and the owners are asked.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::AccessError;
use crate::app::App;
use crate::domain::{AccessDuration, GroupPolicy, Person, Refusal, RequestCommand};
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
    if !group.allow_self_approval && group.owners.iter().all(|owner| owner.matches(requester)) {
        return Err(Refusal::NoOtherOwner {
            group: group.name.clone(),
        }
        .into());
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
    for destination in card_destinations(group, requester) {
        let job = Job::PostCard {
            platform: requester.platform,
            destination,
        };
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

/// The group's approval channel, or else a DM to every owner who may decide on this request.
fn card_destinations(group: &GroupPolicy, requester: &Person) -> Vec<CardDestination> {
    if let Some(channel) = &group.approval_channel {
        return vec![CardDestination::Channel {
            channel: channel.clone(),
        }];
    }
    group
        .owners
        .iter()
        .filter(|owner| group.allow_self_approval || !owner.matches(requester))
        .map(|owner| CardDestination::Owner {
            owner: owner.to_string(),
        })
        .collect()
}
