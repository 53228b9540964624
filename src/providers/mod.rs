//! Access backends behind one small trait: they add a person to a target and remove them again.

mod entra;
mod local;
mod pim;
mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use entra::EntraGroupProvider;
pub use local::LocalProvider;
pub use pim::EntraPimProvider;
pub use webhook::{WebhookProvider, sign as sign_webhook};

use crate::domain::{GroupPolicy, ProviderKind};

/// What a provider needs to know to grant or revoke one request's access.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub request_id: i64,
    pub group: &'a GroupPolicy,
    /// `slack:U…`: the person as the chat platform knows them.
    pub user_key: &'a str,
    pub user_email: Option<&'a str>,
    /// The person's Entra object id, for Entra-backed groups.
    pub directory_id: Option<&'a str>,
    pub justification: &'a str,
    pub granted_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Grant<'_> {
    /// How the person is known to backends that key on one string: email when known.
    pub fn member(&self) -> &str {
        self.user_email.unwrap_or(self.user_key)
    }

    /// The Entra object id, which Entra-backed providers cannot do without.
    pub fn directory_id(&self) -> anyhow::Result<&str> {
        self.directory_id.ok_or_else(|| {
            anyhow::anyhow!(
                "no Entra account is known for {} (request #{})",
                self.member(),
                self.request_id
            )
        })
    }
}

/// What a grant or revocation did: the backend changed, or it was already so (a member already,
/// or no longer one) — both are success, and the audit trail says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Made,
    AlreadySo,
}

impl Change {
    pub fn from_made(made: bool) -> Self {
        if made {
            Change::Made
        } else {
            Change::AlreadySo
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Made => "made",
            Change::AlreadySo => "already so",
        }
    }
}

/// Every method must be idempotent: the scheduler may repeat a call after a crash or a timeout.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Whether the person is a member already, before jitbot grants anything.
    async fn is_member(&self, grant: &Grant<'_>) -> anyhow::Result<bool>;
    async fn grant(&self, grant: &Grant<'_>) -> anyhow::Result<Change>;
    async fn revoke(&self, grant: &Grant<'_>) -> anyhow::Result<Change>;
    /// The access now ends at `grant.expires_at`, later than before. Backends that end access
    /// themselves must hear it; for the rest jitbot's own revocation moves, and nothing is done.
    async fn extend(&self, _grant: &Grant<'_>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// One instance of each provider kind; a group's `provider` key picks one.
pub struct Providers {
    pub local: LocalProvider,
    pub webhook: WebhookProvider,
    pub entra: EntraGroupProvider,
    pub pim: EntraPimProvider,
}

impl Providers {
    pub fn for_group(&self, group: &GroupPolicy) -> &dyn Provider {
        match group.provider {
            ProviderKind::Local => &self.local,
            ProviderKind::Webhook { .. } => &self.webhook,
            ProviderKind::EntraGroup => &self.entra,
            ProviderKind::EntraPimGroup => &self.pim,
        }
    }
}
