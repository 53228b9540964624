//! Access backends behind one small trait: they add a person to a target and remove them again.

mod local;
mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use local::LocalProvider;
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
    pub expires_at: Option<DateTime<Utc>>,
}

impl Grant<'_> {
    /// How the person is known to backends that key on one string: email when known.
    pub fn member(&self) -> &str {
        self.user_email.unwrap_or(self.user_key)
    }
}

/// Every method must be idempotent: the scheduler may repeat a call after a crash or a timeout.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Whether the person is a member already, before jitbot grants anything.
    async fn is_member(&self, grant: &Grant<'_>) -> anyhow::Result<bool>;
    async fn grant(&self, grant: &Grant<'_>) -> anyhow::Result<()>;
    async fn revoke(&self, grant: &Grant<'_>) -> anyhow::Result<()>;
}

/// One instance of each provider kind; a group's `provider` key picks one.
pub struct Providers {
    pub local: LocalProvider,
    pub webhook: WebhookProvider,
}

impl Providers {
    pub fn for_group(&self, group: &GroupPolicy) -> &dyn Provider {
        match group.provider {
            ProviderKind::Local => &self.local,
            ProviderKind::Webhook { .. } => &self.webhook,
        }
    }
}
