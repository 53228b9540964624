//! The `entra-group` provider: direct membership of an Entra ID group, through Microsoft Graph.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Change, Grant, Provider};
use crate::graph::Graph;

pub struct EntraGroupProvider {
    graph: Arc<Graph>,
}

impl EntraGroupProvider {
    pub fn new(graph: Arc<Graph>) -> Self {
        Self { graph }
    }
}

#[async_trait]
impl Provider for EntraGroupProvider {
    async fn is_member(&self, grant: &Grant<'_>) -> anyhow::Result<bool> {
        self.graph
            .is_direct_member(&grant.group.target, grant.directory_id()?)
            .await
    }

    /// "Already exists" is success: the person is a member, as asked.
    async fn grant(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let added = self
            .graph
            .add_member(&grant.group.target, grant.directory_id()?)
            .await?;
        Ok(Change::from_made(added))
    }

    /// "Not found" on an existing group is success: the person is no longer a member.
    async fn revoke(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let removed = self
            .graph
            .remove_member(&grant.group.target, grant.directory_id()?)
            .await?;
        Ok(Change::from_made(removed))
    }
}
