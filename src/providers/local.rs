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
        let members = store::local_memberships::members(&*self.db.read()?, &grant.group.target)?;
        Ok(members.iter().any(|m| m == grant.member()))
    }

    async fn grant(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let (group, member) = (&grant.group.target, grant.member());
        let added = store::write(&self.db, |tx| {
            store::local_memberships::add(tx, group, member, Utc::now())
        })
        .await?;
        Ok(Change::from_made(added))
    }

    async fn revoke(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        let (group, member) = (&grant.group.target, grant.member());
        let removed = store::write(&self.db, |tx| {
            store::local_memberships::remove(tx, group, member)
        })
        .await?;
        Ok(Change::from_made(removed))
    }
}
