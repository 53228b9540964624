//! Secrets, read only from the environment and never printed.

use std::collections::HashMap;

use crate::client_credentials::{Credential, DEFAULT_MANAGED_IDENTITY_URL};
use std::fmt;
use std::sync::Arc;

/// The variable that signs webhook events of groups that name no `webhook_secret_env`.
pub const WEBHOOK_SECRET_ENV: &str = "JITBOT_WEBHOOK_SECRET";

/// The variable whose value keys the audit trail's hashes (HMAC-SHA256).
pub const AUDIT_KEY_ENV: &str = "JITBOT_AUDIT_KEY";

/// The variable holding Slack's app-level token (`xapp-…`): with it, jitbot uses Socket Mode.
pub const SLACK_APP_TOKEN_ENV: &str = "SLACK_APP_TOKEN";

/// jitbot's own credentials: a webhook group may not borrow one as its signing secret.
pub const CREDENTIAL_ENVS: &[&str] = &[
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    SLACK_APP_TOKEN_ENV,
    "MICROSOFT_APP_PASSWORD",
    "AZURE_CLIENT_SECRET",
    AUDIT_KEY_ENV,
];

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
    /// `SLACK_APP_TOKEN`: the `xapp-` app-level token (scope `connections:write`) that opens
    /// Socket Mode connections; when set, Slack's commands and clicks come in over them.
    pub slack_app_token: Option<Secret>,
    /// `JITBOT_WEBHOOK_SECRET`: signs the events sent by the webhook provider.
    pub webhook_secret: Option<Secret>,
    /// The variables that groups name in `webhook_secret_env`, by name: each signs the events of
    /// the groups that name it. Only the variables the config names are read.
    pub webhook_secrets: HashMap<String, Secret>,
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
    /// `AZURE_FEDERATED_TOKEN_FILE`: workload identity federation (as on AKS) instead of a client
    /// secret, for Graph and the Bot Connector.
    pub azure_federated_token_file: Option<std::path::PathBuf>,
    /// With `AZURE_USE_MANAGED_IDENTITY=true`: the instance metadata endpoint
    /// (`AZURE_MANAGED_IDENTITY_URL`, by default Azure's) that gives tokens for the user-assigned
    /// managed identity whose client id is `AZURE_CLIENT_ID` (Graph) or `MICROSOFT_APP_ID` (bot).
    pub managed_identity_url: Option<String>,
    /// `JITBOT_AUDIT_KEY`: keys the audit trail's hashes, so that whoever can write the database
    /// but lacks the key cannot recompute them.
    pub audit_key: Option<Secret>,
}

fn read(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(Secret::new)
}

impl Secrets {
    /// Reads the variables jitbot knows by name, once, at start.
    pub fn from_env() -> Self {
        Self {
            slack_signing_secret: read("SLACK_SIGNING_SECRET"),
            slack_bot_token: read("SLACK_BOT_TOKEN"),
            slack_app_token: read(SLACK_APP_TOKEN_ENV),
            webhook_secret: read(WEBHOOK_SECRET_ENV),
            webhook_secrets: HashMap::new(),
            microsoft_app_id: read("MICROSOFT_APP_ID").map(|s| s.expose().trim().to_string()),
            microsoft_app_password: read("MICROSOFT_APP_PASSWORD"),
            microsoft_app_tenant_id: read("MICROSOFT_APP_TENANT_ID")
                .map(|s| s.expose().trim().to_string()),
            azure_tenant_id: read("AZURE_TENANT_ID").map(|s| s.expose().trim().to_string()),
            azure_client_id: read("AZURE_CLIENT_ID").map(|s| s.expose().trim().to_string()),
            azure_client_secret: read("AZURE_CLIENT_SECRET"),
            azure_federated_token_file: read("AZURE_FEDERATED_TOKEN_FILE")
                .map(|path| path.expose().trim().into()),
            managed_identity_url: read("AZURE_USE_MANAGED_IDENTITY")
                .filter(|flag| flag.expose().trim().eq_ignore_ascii_case("true"))
                .map(|_| {
                    read("AZURE_MANAGED_IDENTITY_URL").map_or_else(
                        || DEFAULT_MANAGED_IDENTITY_URL.to_string(),
                        |url| url.expose().trim().to_string(),
                    )
                }),
            audit_key: read(AUDIT_KEY_ENV),
        }
    }

    /// How to prove who jitbot is to Entra ID: this client secret when set, else a federated
    /// token file, else a managed identity; `None` when none is configured.
    pub fn credential(&self, secret: Option<&Secret>) -> Option<Credential> {
        secret
            .cloned()
            .map(Credential::Secret)
            .or_else(|| {
                self.azure_federated_token_file
                    .clone()
                    .map(Credential::FederatedTokenFile)
            })
            .or_else(|| {
                self.managed_identity_url
                    .clone()
                    .map(|endpoint| Credential::ManagedIdentity { endpoint })
            })
    }

    /// Also reads the variables the config names in `webhook_secret_env`; unset ones stay out,
    /// and `App::build` names them.
    pub fn with_webhook_secrets_from_env<'a>(
        mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        for name in names {
            if let Some(secret) = read(name) {
                self.webhook_secrets.insert(name.to_string(), secret);
            }
        }
        self
    }

    /// The secret that signs a webhook group's events (`webhook_secret_env`, or
    /// `JITBOT_WEBHOOK_SECRET` without one), with the variable it comes from.
    pub fn webhook_secret_for<'a>(&self, secret_env: Option<&'a str>) -> (&'a str, Option<Secret>) {
        match secret_env {
            Some(name) => (name, self.webhook_secrets.get(name).cloned()),
            None => (WEBHOOK_SECRET_ENV, self.webhook_secret.clone()),
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
        let secrets = Secrets {
            webhook_secrets: HashMap::from([("BILLING".to_string(), Secret::new("s3cr3t"))]),
            ..Default::default()
        };
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
        let secrets = Secrets {
            slack_app_token: Some(Secret::new("xapp-s3cr3t")),
            ..Default::default()
        };
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
        let secrets = Secrets {
            audit_key: Some(Secret::new("s3cr3t")),
            ..Default::default()
        };
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
    }
}
