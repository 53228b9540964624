//! The drift sweep: members of Entra groups that jitbot holds no grant for — access handed out
//! around jitbot — are reported to the group's approval channels and, with `sweep = "remove"`,
//! removed. Every finding and removal is audited.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Core;
use super::SCHEDULER;
use crate::domain::{GroupPolicy, Platform, Sweep};
use crate::graph::DirectoryUser;
use crate::store::{self, audit, requests};

/// What one sweep found in one Entra group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub group: String,
    pub target: String,
    /// Members without a jitbot grant, shown by UPN (or id).
    pub unexpected: Vec<String>,
    pub removed: bool,
}

/// Sweeps every Entra group once, at `now`.
pub async fn run(core: &Core, now: DateTime<Utc>) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut swept = HashSet::new();
    for group in &core.policy().groups {
        if !group.provider.is_entra()
            || group.sweep == Sweep::Off
            || !swept.insert(group.target.clone())
        {
            continue;
        }
        let finding = sweep_group(core, group, now).await?;
        if !finding.unexpected.is_empty() {
            report(core, group, &finding).await;
            findings.push(finding);
        }
    }
    Ok(findings)
}

async fn sweep_group(
    core: &Core,
    group: &GroupPolicy,
    now: DateTime<Utc>,
) -> anyhow::Result<Finding> {
    let members = core.graph.members(&group.target).await?;
    let sharing = core.policy().groups_sharing_target(group);
    let held: HashSet<String> = requests::holding_directory_users(&core.db, &sharing)
        .await?
        .into_iter()
        .map(|id| id.to_ascii_lowercase())
        .collect();
    let unexpected: Vec<&DirectoryUser> = members
        .iter()
        .filter(|m| !held.contains(&m.id.to_ascii_lowercase()))
        .filter(|m| !is_permanent(group, m))
        .collect();
    let remove = group.sweep == Sweep::Remove;
    for member in &unexpected {
        let mut removed = false;
        if remove {
            removed = core.graph.remove_member(&group.target, &member.id).await?;
        }
        let mut tx = store::write(&core.db).await?;
        audit::append(
            &mut tx,
            audit::NewEvent {
                at: now,
                request_id: None,
                actor: SCHEDULER,
                action: if remove {
                    "sweep_removed"
                } else {
                    "sweep_found"
                },
                platform: None,
                channel: None,
                detail: json!({
                    "group": group.name,
                    "target": group.target,
                    "member": member.id,
                    "user_principal_name": member.user_principal_name,
                    "removed": removed,
                }),
            },
        )
        .await?;
        tx.commit().await?;
    }
    Ok(Finding {
        group: group.name.clone(),
        target: group.target.clone(),
        unexpected: unexpected.iter().map(|m| shown(m)).collect(),
        removed: remove,
    })
}

fn is_permanent(group: &GroupPolicy, member: &DirectoryUser) -> bool {
    group
        .permanent_members
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&member.id) || member.has_email(p))
}

fn shown(member: &DirectoryUser) -> String {
    member
        .mail
        .clone()
        .or_else(|| member.user_principal_name.clone())
        .unwrap_or_else(|| member.id.clone())
}

/// Posts the finding to the group's approval channels; best effort — the next sweep reports again.
async fn report(core: &Core, group: &GroupPolicy, finding: &Finding) {
    let verb = if finding.removed {
        "were removed"
    } else {
        "are reported"
    };
    let text = format!(
        "⚠️ Drift in `{}`: {} member(s) of the Entra group hold access without a jitbot grant and {verb}: {}",
        group.name,
        finding.unexpected.len(),
        finding.unexpected.join(", ")
    );
    let mut delivered = false;
    let channels = [
        (Platform::Slack, &group.approval_channel),
        (Platform::Teams, &group.teams_approval_channel),
    ];
    for (platform, channel) in channels {
        let Some(channel) = channel else { continue };
        let posted = match core.chat(platform) {
            Ok(chat) => chat.post_to_channel(channel, &text).await,
            Err(error) => Err(error),
        };
        match posted {
            Ok(()) => delivered = true,
            Err(error) => tracing::warn!(
                %platform,
                error = format!("{error:#}"),
                "could not report drift"
            ),
        }
    }
    if !delivered {
        tracing::warn!(group = group.name, members = ?finding.unexpected, "drift found; the group has no approval channel to report it to");
    }
}

/// Sweeps every `interval` until `shutdown`.
pub async fn run_every(core: Core, interval: std::time::Duration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = run(&core, Utc::now()).await {
            tracing::error!(error = format!("{error:#}"), "the drift sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}
