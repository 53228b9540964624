//! The `local` provider: memberships kept in jitbot's own database, for trying jitbot out.

use async_trait::async_trait;
use chrono::Utc;

use super::{Change, Grant, Provider};
use crate::store::{self, Db};

pub struct LocalProvider {
    db: Db,
}

impl LocalProvider {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    async fn is_member(&self, grant: &Grant<'_>) -> anyhow::Result<bool> {
        let members = store::local_memberships::members(&self.db.read, &grant.group.target).await?;
        Ok(members.iter().any(|m| m == grant.member()))
    }

    async fn grant(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let (group, member) = (&grant.group.target, grant.member());
        let added = store::write_alone(&self.db, async |conn| {
            store::local_memberships::add(conn, group, member, Utc::now()).await
        })
        .await?;
        Ok(Change::from_made(added))
    }

    async fn revoke(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let (group, member) = (&grant.group.target, grant.member());
        let removed = store::write_alone(&self.db, async |conn| {
            store::local_memberships::remove(conn, group, member).await
        })
        .await?;
        Ok(Change::from_made(removed))
    }
}
