//! The drift sweep: members of Entra groups that jitbot holds no grant for — access handed out
//! around jitbot — are reported to the group's approval channels and, with `sweep = "remove"`,
//! removed. It runs as jobs: durable, retried, driven by the scheduler like everything else.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Core;
use crate::domain::{AuditAction, GroupPolicy, Job, Platform, Policy, Sweep, wording};
use crate::graph::DirectoryUser;
use crate::store::{self, audit};

/// What one sweep found in one Entra group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub group: String,
    /// Members without a jitbot grant: (object id, shown by mail, UPN or id).
    pub unexpected: Vec<(String, String)>,
    pub remove: bool,
}

/// Whether any group is swept at all.
pub fn enabled(core: &Core) -> bool {
    core.policy()
        .groups
        .iter()
        .any(|g| g.provider.is_entra() && g.sweep != Sweep::Off)
}

/// Queues a sweep now, unless one is already waiting: at start, so that a restart neither skips
/// nor doubles the cycle.
pub async fn schedule(core: &Core, now: DateTime<Utc>) -> store::Result<()> {
    if !enabled(core) || store::jobs::is_waiting(&*core.db.read()?, &Job::Sweep)? {
        return Ok(());
    }
    core.write(|tx| store::jobs::enqueue_unattached(tx, &Job::Sweep, now))
        .await?;
    core.wake_scheduler();
    Ok(())
}

/// The `Sweep` job: reads every swept group's members, records what it found, queues the
/// removals and reports — and the next sweep, `core.sweep_every` from now — in one transaction.
pub async fn run(core: &Core, now: DateTime<Utc>) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut swept = HashSet::new();
    let policy = core.policy();
    for group in &policy.groups {
        if !group.provider.is_entra()
            || group.sweep == Sweep::Off
            || !swept.insert(group.target.clone())
        {
            continue;
        }
        let finding = find(core, &policy, group).await?;
        if !finding.unexpected.is_empty() {
            findings.push(finding);
        }
    }
    core.write(|tx| {
        for finding in &findings {
            record(tx, core, finding, now)?;
        }
        store::jobs::enqueue_unattached(tx, &Job::Sweep, now + core.sweep_every)?;
        Ok::<_, anyhow::Error>(())
    })
    .await?;
    core.wake_scheduler();
    Ok(findings)
}

async fn find(core: &Core, policy: &Policy, group: &GroupPolicy) -> anyhow::Result<Finding> {
    let members = core.graph.members(&group.target).await?;
    let sharing = policy.groups_sharing_target(group);
    // By what each request recorded: a group a reload removed still holds its members here.
    let held: HashSet<String> = store::grant_targets::holding_directory_users(
        &*core.db.read()?,
        &group.grant_target(),
        &sharing,
    )?
    .into_iter()
    .map(|id| id.to_ascii_lowercase())
    .collect();
    let unexpected = members
        .iter()
        .filter(|m| !held.contains(&m.id.to_ascii_lowercase()))
        .filter(|m| !is_permanent(group, m))
        .map(|m| (m.id.clone(), shown(m)))
        .collect();
    Ok(Finding {
        group: group.name.clone(),
        unexpected,
        remove: group.sweep == Sweep::Remove,
    })
}

/// One group's finding: audited when reported, a removal job per member in remove mode (each
/// audited when done), and a report to the group's channels.
fn record(
    tx: &mut crate::store::WriteTx,
    core: &Core,
    finding: &Finding,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let policy = core.policy();
    let group = policy.group(&finding.group)?;
    for (member, shown) in &finding.unexpected {
        if finding.remove {
            let job = Job::SweepRemove {
                group: group.name.clone(),
                member: member.clone(),
            };
            store::jobs::enqueue_unattached(tx, &job, now)?;
        } else {
            let detail = json!({ "group": group.name, "target": group.target, "member": member, "shown": shown });
            audit::append(
                tx,
                audit::NewEvent::by_jitbot(None, AuditAction::SweepFound, detail, now),
            )?;
        }
    }
    let members: Vec<String> = finding.unexpected.iter().map(|(_, s)| s.clone()).collect();
    let mut reported = false;
    for (platform, channel) in &group.approval_channels {
        let report = Job::SweepReport {
            platform: *platform,
            channel: channel.clone(),
            group: group.name.clone(),
            members: members.clone(),
            removed: finding.remove,
        };
        store::jobs::enqueue_unattached(tx, &report, now)?;
        reported = true;
    }
    if !reported {
        tracing::warn!(
            group = group.name,
            ?members,
            "drift found; the group has no approval channel to report it to"
        );
    }
    Ok(())
}

/// The `SweepRemove` job: the member is removed (idempotently) and the removal audited.
pub async fn remove(
    core: &Core,
    group: &str,
    member: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let policy = core.policy();
    let group = policy.group(group)?;
    let removed = core.graph.remove_member(&group.target, member).await?;
    let detail = json!({ "group": group.name, "target": group.target, "member": member, "removed": removed });
    core.write(|tx| {
        audit::append(
            tx,
            audit::NewEvent::by_jitbot(None, AuditAction::SweepRemoved, detail, now),
        )
    })
    .await?;
    Ok(())
}

/// The `SweepReport` job: the finding, posted to one of the group's approval channels.
pub async fn report(
    core: &Core,
    (platform, channel): (Platform, &str),
    group: &str,
    members: &[String],
    removed: bool,
) -> anyhow::Result<()> {
    let text = wording::drift(group, members, removed);
    core.chat(platform)?.post_to_channel(channel, &text).await
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
