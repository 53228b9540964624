//! The `entra-pim-group` provider: membership through PIM for Groups with an expiration, so that
//! Entra itself ends it even if jitbot is down. jitbot still revokes at expiry (`adminRemove`)
//! and reports when Entra and jitbot disagree.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Change, Grant, Provider};
use crate::graph::Graph;

pub struct EntraPimProvider {
    graph: Arc<Graph>,
}

impl EntraPimProvider {
    pub fn new(graph: Arc<Graph>) -> Self {
        Self { graph }
    }
}

/// An assignment schedule request that starts at the grant and ends as `expiration` says.
fn scheduled(grant: &Grant<'_>, action: &str, expiration: Value) -> anyhow::Result<Value> {
    let start = grant
        .granted_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(json!({
        "accessId": "member",
        "principalId": grant.directory_id()?,
        "groupId": grant.group.target,
        "action": action,
        "scheduleInfo": { "startDateTime": start, "expiration": expiration },
        "justification": justification(grant),
    }))
}

fn justification(grant: &Grant<'_>) -> String {
    let text: String = grant.justification.chars().take(400).collect();
    format!("jitbot request #{}: {text}", grant.request_id)
}

#[async_trait]
impl Provider for EntraPimProvider {
    async fn is_member(&self, grant: &Grant<'_>) -> anyhow::Result<bool> {
        self.graph
            .is_direct_member(&grant.group.target, grant.directory_id()?)
            .await
    }

    async fn grant(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let expires_at = grant.expires_at.context("a PIM assignment needs an end")?;
        let minutes = (expires_at - grant.granted_at).num_minutes().max(1);
        let expiration = json!({ "type": "afterDuration", "duration": format!("PT{minutes}M") });
        let body = scheduled(grant, "adminAssign", expiration)?;
        self.graph.pim_request(&body).await?;
        Ok(Change::Made)
    }

    /// Moves the end of the assignment, so that Entra does not end it at the old time.
    async fn extend(&self, grant: &Grant<'_>) -> anyhow::Result<()> {
        let expires_at = grant.expires_at.context("a PIM extension needs an end")?;
        let end = expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let expiration = json!({ "type": "afterDateTime", "endDateTime": end });
        let body = scheduled(grant, "adminExtend", expiration)?;
        self.graph.pim_request(&body).await?;
        Ok(())
    }

    /// Ends the assignment. When PIM refuses because it has already ended it, that is success —
    /// but only once Graph confirms the person is no longer a member.
    async fn revoke(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let body = json!({
            "accessId": "member",
            "principalId": grant.directory_id()?,
            "groupId": grant.group.target,
            "action": "adminRemove",
            "justification": justification(grant),
        });
        match self.graph.pim_request(&body).await {
            Ok(_) => Ok(Change::Made),
            Err(error) if crate::retry::is_retry_after(&error) => Err(error),
            Err(error) => {
                if self
                    .graph
                    .is_direct_member(&grant.group.target, grant.directory_id()?)
                    .await?
                {
                    Err(error.context(
                        "PIM refused to end the assignment and the person is still a member",
                    ))
                } else {
                    Ok(Change::AlreadySo)
                }
            }
        }
    }
}
