//! Who owns a group at a given moment: the owners listed in the config, or — with
//! `owners = "entra"` — the Entra group's own owners, read from Microsoft Graph.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Core;
use crate::domain::{AccessRequest, GroupPolicy, Owner, Principal, Refusal};

/// The group with its owners as they are now. For Entra-owned groups Graph is asked, and only
/// enabled accounts count: someone who stopped being an owner, or was disabled, cannot decide.
pub async fn current(core: &Core, group: &GroupPolicy) -> anyhow::Result<GroupPolicy> {
    if !group.owners.from_entra() {
        return Ok(group.clone());
    }
    let owners = core
        .graph
        .owners(&group.target)
        .await?
        .into_iter()
        .filter(|owner| owner.is_enabled())
        .map(|owner| Owner::Directory {
            emails: [owner.mail, owner.user_principal_name]
                .into_iter()
                .flatten()
                .map(|e| e.to_ascii_lowercase())
                .collect(),
            id: owner.id.to_ascii_lowercase(),
        })
        .collect();
    Ok(group.with_entra_owners(owners))
}

/// How long a click may wait for Graph to list an Entra group's owners.
const OWNERS_TIMEOUT: Duration = Duration::from_secs(1);

/// The group with its owners as they are now, for a click: Graph is given a second at most, and
/// a click it cannot answer in time decides nothing.
pub async fn at_click(core: &Core, group: &GroupPolicy) -> Result<GroupPolicy, Refusal> {
    let unavailable = || Refusal::OwnersUnavailable {
        group: group.name.clone(),
    };
    match tokio::time::timeout(OWNERS_TIMEOUT, current(core, group)).await {
        Ok(Ok(group)) => Ok(group),
        Ok(Err(error)) => {
            tracing::warn!(
                group = group.name,
                error = format!("{error:#}"),
                "could not read the owners at a click"
            );
            Err(unavailable())
        }
        Err(_) => {
            tracing::warn!(
                group = group.name,
                "Graph did not list the owners in time at a click"
            );
            Err(unavailable())
        }
    }
}

/// Whether an owner is known by nothing but one chat account where that cannot tell them from
/// the requester under another account on the other platform: such a click decides nothing.
pub fn unverified_elsewhere(
    core: &Core,
    group: &GroupPolicy,
    person: &Principal,
    requester: &Principal,
) -> bool {
    let anonymous = person.emails.is_empty() && person.entra_id.is_none();
    let elsewhere =
        person.account.platform != requester.account.platform || core.platforms_in_use().len() > 1;
    anonymous && elsewhere && group.is_owner(person)
}

/// The configured group of a request, as that request shows it; `None` if it left the config.
pub fn group_of(core: &Core, request: &AccessRequest) -> Option<GroupPolicy> {
    let policy = core.policy();
    let group = policy.group(&request.group).ok()?;
    Some(as_requested(group, request))
}

/// The group as one request shows it: for Entra-owned groups, with the owners it was made with.
pub fn as_requested(group: &GroupPolicy, request: &AccessRequest) -> GroupPolicy {
    match (&request.owner_snapshot, group.owners.from_entra()) {
        (Some(snapshot), true) => group.with_entra_owners(from_json(snapshot)),
        _ => group.clone(),
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    emails: Vec<String>,
}

pub fn to_json(owners: &[Owner]) -> String {
    let stored: Vec<Stored> = owners
        .iter()
        .filter_map(|owner| match owner {
            Owner::Directory { id, emails } => Some(Stored {
                id: id.clone(),
                emails: emails.clone(),
            }),
            _ => None,
        })
        .collect();
    serde_json::to_string(&stored).expect("owners serialize")
}

fn from_json(text: &str) -> Vec<Owner> {
    serde_json::from_str::<Vec<Stored>>(text)
        .unwrap_or_default()
        .into_iter()
        .map(|s| Owner::Directory {
            id: s.id,
            emails: s.emails,
        })
        .collect()
}
