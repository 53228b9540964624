//! The Microsoft Teams adapter: verifies Bot Framework activities, turns them into domain
//! commands, and renders requests as Adaptive Cards sent through the Bot Connector.

pub mod activity;
pub mod auth;
pub mod cards;
pub mod chat;
pub mod connector;
pub mod form;
pub mod identity;
pub mod messages;
pub mod package;
pub mod person;
pub mod reply;
pub mod service_hosts;
pub mod template;
pub mod text;

/// `Action.Execute` verbs on jitbot's cards: `jit.` and a button's name (`jit.approve`,
/// `jit.done` …), or the refresh.
pub const VERB_PREFIX: &str = "jit.";
pub const REFRESH_VERB: &str = "jit.refresh";

/// The verb of a button.
pub fn verb(button: crate::domain::buttons::Button) -> String {
    format!("{VERB_PREFIX}{}", button.name())
}

/// The button a verb names, if it is one of jitbot's.
pub fn button_of(verb: &str) -> Option<crate::domain::buttons::Button> {
    verb.strip_prefix(VERB_PREFIX)
        .and_then(crate::domain::buttons::Button::from_name)
}

use anyhow::bail;

use crate::config::TeamsConfig;
use crate::secrets::Secrets;
use crate::store::Db;
pub use chat::TeamsChat;

impl TeamsChat {
    pub fn new(config: &TeamsConfig, secrets: &Secrets, db: Db) -> anyhow::Result<TeamsChat> {
        let credentials = match &secrets.microsoft_app_id {
            None => None,
            Some(app_id) => {
                let password = secrets.microsoft_app_password.as_ref();
                let Some(credential) = secrets.credential(password) else {
                    bail!(
                        "MICROSOFT_APP_ID is set, so set MICROSOFT_APP_PASSWORD too (or \
                         AZURE_FEDERATED_TOKEN_FILE, or AZURE_USE_MANAGED_IDENTITY=true for a \
                         user-assigned managed identity bot)"
                    );
                };
                let Some(tenant) = &secrets.microsoft_app_tenant_id else {
                    bail!(
                        "MICROSOFT_APP_ID is set, so MICROSOFT_APP_TENANT_ID must be too (new bots are single-tenant)"
                    );
                };
                Some(connector::Credentials {
                    app_id: app_id.clone(),
                    credential,
                    token_url: config.token_url_for(tenant),
                })
            }
        };
        if config.trial_mode && secrets.microsoft_app_id.is_some() {
            tracing::warn!(
                "teams.trial_mode is ignored: MICROSOFT_APP_ID is set, so every activity needs a token"
            );
        }
        let tenants = secrets
            .microsoft_app_tenant_id
            .iter()
            .cloned()
            .chain(config.allowed_tenants.iter().map(|t| t.to_string()))
            .collect();
        let auth = auth::BotAuthenticator::new(auth::AuthSettings {
            app_id: secrets.microsoft_app_id.clone(),
            trial_mode: config.trial_mode,
            tenants,
            service_hosts: service_hosts::ServiceHosts::new(config.service_hosts.clone()),
            metadata_url: config.openid_metadata_url.clone(),
        })?;
        let connector = connector::Connector::new(credentials, auth.service_hosts().clone())?;
        Ok(TeamsChat {
            auth,
            connector,
            tenant_id: secrets.microsoft_app_tenant_id.clone(),
            registered: secrets.microsoft_app_id.is_some(),
            service_url: config.service_url.clone(),
            db,
        })
    }
}
