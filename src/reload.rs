//! Reloading the config file (SIGHUP): read it, validate it, and put its policy in force — or
//! keep the old one and say why. Only the policy reloads; what the process was built from
//! (listen address, database, platform and Graph URLs, audit forwarding, credentials) needs a
//! restart, and a file that changes it is applied without it and a warning.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::access;
use crate::app::App;
use crate::config::{Config, ConfigError};
use crate::domain::{Policy, ProviderKind};

/// Why a reload kept the old policy.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read or has mistakes (each named with its place).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file is valid, but its policy needs what this process was not started with.
    #[error("{} cannot be applied without a restart:\n{}", path.display(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    NeedsRestart {
        path: std::path::PathBuf,
        problems: Vec<String>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a reload put in force.
#[derive(Debug)]
pub struct Reloaded {
    pub groups: usize,
    /// The SHA-256 of the file, as audited.
    pub sha256: String,
}

impl App {
    /// Reads `path` and puts its policy in force, audited as `policy_reloaded`. On any problem
    /// the old policy stays; nothing changes. The SIGHUP handler calls this; tests call it too.
    pub async fn reload(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // The very bytes hashed are the ones parsed: an edit in between cannot make the audited
        // hash name a file that was not put in force.
        let text = String::from_utf8(bytes).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let config = Config::parse(&text, base_dir).map_err(|error| error.at(path))?;
        let problems = self.unmet_needs(&config.policy);
        if !problems.is_empty() {
            return Err(ReloadError::NeedsRestart {
                path: path.to_path_buf(),
                problems,
            });
        }
        for setting in self.restart_only_changes(&config) {
            tracing::warn!(
                setting,
                "the config file changes a setting that only a restart applies; it is ignored until then"
            );
        }
        let groups = config.policy.groups.len();
        let now = chrono::Utc::now();
        access::reload::install(&self.core, config.policy, &sha256, now).await?;
        // A group the new policy sweeps starts the drift sweep if none was running.
        access::sweep::schedule(&self.core, now)
            .await
            .map_err(anyhow::Error::from)?;
        tracing::info!(groups, sha256, "the policy was reloaded");
        Ok(Reloaded { groups, sha256 })
    }

    /// What a policy needs that this process lacks: the webhook secrets (read only at start)
    /// and Microsoft Graph's credentials.
    fn unmet_needs(&self, policy: &Policy) -> Vec<String> {
        let mut problems = Vec::new();
        for group in &policy.groups {
            if let ProviderKind::Webhook { secret_env, .. } = &group.provider
                && !self
                    .core
                    .providers
                    .webhook
                    .holds_secret(secret_env.as_deref())
            {
                let variable = secret_env
                    .as_deref()
                    .unwrap_or(crate::secrets::WEBHOOK_SECRET_ENV);
                problems.push(format!(
                    "[[group]] `{}` signs its webhook events with {variable}, which was not set when jitbot started",
                    group.name
                ));
            }
            if access::directory::needs_directory(group) && !self.core.graph.is_configured() {
                problems.push(format!(
                    "[[group]] `{}` uses Microsoft Entra ID, but AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET were not set when jitbot started",
                    group.name
                ));
            }
        }
        problems
    }

    /// The settings outside the policy that differ from what this process runs with.
    fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let old = &self.config;
        [
            ("listen", old.listen != new.listen),
            ("database_url", old.database_url != new.database_url),
            ("slack", old.slack != new.slack),
            ("teams", old.teams != new.teams),
            ("graph", old.graph != new.graph),
            ("audit_webhook", old.audit_webhook != new.audit_webhook),
            (
                "audit_database_url / audit_retention",
                old.audit != new.audit,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}
