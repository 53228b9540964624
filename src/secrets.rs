//! Secrets, read only from the environment and never printed.

use std::fmt;
use std::sync::Arc;

/// A secret value whose `Debug` output is redacted, so that it cannot leak through logs.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `SLACK_SIGNING_SECRET`: verifies requests from Slack.
    pub slack_signing_secret: Option<Secret>,
    /// `SLACK_BOT_TOKEN`: the `xoxb-` token for Slack's Web API.
    pub slack_bot_token: Option<Secret>,
    /// `JITBOT_WEBHOOK_SECRET`: signs the events sent by the webhook provider.
    pub webhook_secret: Option<Secret>,
    /// `MICROSOFT_APP_ID`: the bot's app id (not secret, but it decides how Teams is verified).
    pub microsoft_app_id: Option<String>,
    /// `MICROSOFT_APP_PASSWORD`: the bot's client secret, for tokens to the Bot Connector.
    pub microsoft_app_password: Option<Secret>,
    /// `MICROSOFT_APP_TENANT_ID`: the tenant of the single-tenant bot registration.
    pub microsoft_app_tenant_id: Option<String>,
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`: the app registration jitbot
    /// uses for Microsoft Graph.
    pub azure_tenant_id: Option<String>,
    pub azure_client_id: Option<String>,
    pub azure_client_secret: Option<Secret>,
}

impl Secrets {
    pub fn from_env() -> Self {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
        };
        Self {
            slack_signing_secret: read("SLACK_SIGNING_SECRET"),
            slack_bot_token: read("SLACK_BOT_TOKEN"),
            webhook_secret: read("JITBOT_WEBHOOK_SECRET"),
            microsoft_app_id: read("MICROSOFT_APP_ID").map(|s| s.expose().trim().to_string()),
            microsoft_app_password: read("MICROSOFT_APP_PASSWORD"),
            microsoft_app_tenant_id: read("MICROSOFT_APP_TENANT_ID")
                .map(|s| s.expose().trim().to_string()),
            azure_tenant_id: read("AZURE_TENANT_ID").map(|s| s.expose().trim().to_string()),
            azure_client_id: read("AZURE_CLIENT_ID").map(|s| s.expose().trim().to_string()),
            azure_client_secret: read("AZURE_CLIENT_SECRET"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let secrets = Secrets {
            slack_signing_secret: Some(Secret::new("s3cr3t")),
            ..Default::default()
        };
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
    }
}
