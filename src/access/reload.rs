//! Reload: a new policy, already read and validated, is put in force for every use case that
//! starts from now on; the change is audited with the hash of the file it came from.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Core;
use crate::domain::{AuditAction, Policy};
use crate::store::audit;

/// Audits `policy_reloaded` (the file's SHA-256, the groups added and removed), then swaps
/// the policy. What is in flight keeps the provider and target it snapshotted at submit.
pub async fn install(
    core: &Core,
    policy: Policy,
    file_sha256: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let before = core.policy();
    let names = |p: &Policy| p.groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
    let (old, new) = (names(&before), names(&policy));
    let added: Vec<&String> = new.iter().filter(|n| !old.contains(n)).collect();
    let removed: Vec<&String> = old.iter().filter(|n| !new.contains(n)).collect();
    let detail = json!({
        "sha256": file_sha256,
        "groups": new,
        "added": added,
        "removed": removed,
    });
    core.write(|tx| {
        audit::append(
            tx,
            audit::NewEvent::by_jitbot(None, AuditAction::PolicyReloaded, detail, now),
        )
    })
    .await?;
    core.install_policy(policy);
    Ok(())
}
