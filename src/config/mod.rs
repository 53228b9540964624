//! The config file: listen address, database, platform URLs and the policy, validated into types.
//! Each section is read by its own module; every mistake is reported with its place.

mod audit;
mod group;
mod lifecycle;
mod place;
mod provider;
mod teams;
mod urls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::identity::Guid;
use crate::domain::{AccessDuration, Policy};
pub use audit::{AuditConfig, MIN_AUDIT_RETENTION};
pub use place::Located;
use place::{Mistake, at, locate};
use urls::{base_url, resolve_database_url};

pub const DEFAULT_CONFIG_PATH: &str = "jitbot.toml";
const DEFAULT_LISTEN: &str = "127.0.0.1:3978";
const DEFAULT_DATABASE_URL: &str = "sqlite://jitbot.db";
const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api/";
const DEFAULT_OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com/";
const DEFAULT_TEAMS_SERVICE_URL: &str = "https://smba.trafficmanager.net/teams/";
const DEFAULT_GRAPH_API_URL: &str = "https://graph.microsoft.com/v1.0/";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Always absolute (or in-memory): relative paths are resolved next to the config file.
    pub database_url: String,
    pub slack: SlackConfig,
    pub teams: TeamsConfig,
    pub graph: GraphConfig,
    pub policy: Policy,
    /// `audit_webhook`: where every audit event is forwarded, signed.
    pub audit_webhook: Option<AuditWebhook>,
    /// `audit_database_url` and `audit_retention`: where the trail lives, how long it is kept.
    pub audit: AuditConfig,
}

/// The audit collector: its URL, and the environment variable holding the signing secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditWebhook {
    pub url: String,
    pub secret_env: String,
}

/// The signing secret of the audit collector, without `audit_webhook_secret_env`.
pub const AUDIT_WEBHOOK_SECRET_ENV: &str = "JITBOT_AUDIT_WEBHOOK_SECRET";

#[derive(Debug, Clone, PartialEq)]
pub struct GraphConfig {
    /// Microsoft Graph, ending in `/`.
    pub api_url: String,
    /// Where app-only tokens come from: `{authority_url}{tenant}/oauth2/v2.0/token`.
    pub authority_url: String,
    /// How often the drift sweep compares Entra groups with jitbot's grants.
    pub sweep_interval: AccessDuration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// Base URL of the Web API, ending in `/`.
    pub api_url: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TeamsConfig {
    /// The Bot Framework's OpenID metadata, which names the keys that sign Teams' requests.
    pub openid_metadata_url: String,
    /// Where the bot gets tokens for the Bot Connector; `None`: the single-tenant endpoint of
    /// `MICROSOFT_APP_TENANT_ID` at login.microsoftonline.com.
    pub token_url: Option<String>,
    /// The Bot Connector to start channel threads on before Teams has told jitbot another.
    pub service_url: String,
    /// `[teams] trial_mode = true`: without a bot registration, accept token-less activities
    /// from this machine only. Off unless asked for; only on a loopback `listen`.
    pub trial_mode: bool,
    /// Tenants besides `MICROSOFT_APP_TENANT_ID` whose activities are accepted.
    pub allowed_tenants: Vec<Guid>,
    /// Hosts the Bot Connector token may be sent to (`*.` for any subdomain).
    pub service_hosts: Vec<String>,
}

impl TeamsConfig {
    pub fn token_url_for(&self, tenant: &str) -> String {
        self.token_url
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT_AUTHORITY_URL}{tenant}/oauth2/v2.0/token"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or keys jitbot does not know, or values of the wrong type.
    #[error("{}", mistakes.iter().map(|m| m.in_file(path)).collect::<Vec<_>>().join("\n"))]
    Syntax {
        path: PathBuf,
        mistakes: Vec<Located>,
    },
    /// Every mistake in the values, each with its line and key.
    #[error("{} has {} mistake(s):\n{}", path.display(), problems.len(), problems.iter().map(|p| format!("  - {}", p.in_file(path))).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Located>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    listen: Option<String>,
    database_url: Option<String>,
    #[serde(default)]
    slack: RawSlack,
    #[serde(default)]
    teams: teams::RawTeams,
    #[serde(default)]
    graph: RawGraph,
    audit_webhook: Option<String>,
    audit_webhook_secret_env: Option<String>,
    audit_database_url: Option<String>,
    audit_retention: Option<String>,
    #[serde(default, rename = "group")]
    groups: Vec<group::RawGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    api_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGraph {
    api_url: Option<String>,
    authority_url: Option<String>,
    sweep_interval: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base_dir).map_err(|error| error.at(path))
    }

    /// Parses config text; relative database paths are taken relative to `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = place::read_all(text).map_err(|mistakes| ConfigError::Syntax {
            path: PathBuf::new(),
            mistakes,
        })?;
        let mut problems = Vec::new();

        let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen.parse().unwrap_or_else(|_| {
            problems.push(at(
                "listen",
                format!("`{listen}` is not an address and port such as 127.0.0.1:3978"),
            ));
            SocketAddr::from(([127, 0, 0, 1], 3978))
        });
        let database_url = resolve_database_url(
            "database_url",
            raw.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL),
            base_dir,
            &mut problems,
        );
        let slack = SlackConfig {
            api_url: base_url(
                "slack.api_url",
                raw.slack
                    .api_url
                    .as_deref()
                    .unwrap_or(DEFAULT_SLACK_API_URL),
                &mut problems,
            ),
        };
        let teams = teams::teams_config(raw.teams, listen, &mut problems);
        let graph = graph_config(raw.graph, &mut problems);
        let groups = group::groups(raw.groups, &mut problems);
        let audit_webhook = audit_webhook(
            raw.audit_webhook,
            raw.audit_webhook_secret_env,
            &mut problems,
        );
        let audit = audit::audit_config(
            raw.audit_database_url.as_deref(),
            raw.audit_retention.as_deref(),
            (&database_url, base_dir),
            &mut problems,
        );

        if problems.is_empty() {
            Ok(Config {
                listen,
                database_url,
                slack,
                teams,
                graph,
                policy: Policy { groups },
                audit_webhook,
                audit,
            })
        } else {
            Err(ConfigError::Invalid {
                path: PathBuf::new(),
                problems: locate(text, problems),
            })
        }
    }
}

impl ConfigError {
    pub(crate) fn at(self, file: &Path) -> Self {
        match self {
            Self::Syntax { mistakes, .. } => Self::Syntax {
                path: file.to_path_buf(),
                mistakes,
            },
            Self::Invalid { problems, .. } => Self::Invalid {
                path: file.to_path_buf(),
                problems,
            },
            read => read,
        }
    }
}

fn graph_config(raw: RawGraph, problems: &mut Vec<Mistake>) -> GraphConfig {
    let hour = AccessDuration::from_minutes(60).expect("an hour is valid");
    GraphConfig {
        api_url: base_url(
            "graph.api_url",
            raw.api_url.as_deref().unwrap_or(DEFAULT_GRAPH_API_URL),
            problems,
        ),
        authority_url: base_url(
            "graph.authority_url",
            raw.authority_url
                .as_deref()
                .unwrap_or(DEFAULT_AUTHORITY_URL),
            problems,
        ),
        sweep_interval: match raw.sweep_interval.as_deref().map(AccessDuration::parse) {
            None => hour,
            Some(Ok(every)) => every,
            Some(Err(e)) => {
                problems.push(at("graph.sweep_interval", e));
                hour
            }
        },
    }
}

/// `audit_webhook` (https, or http to this machine) and the variable holding its secret.
fn audit_webhook(
    url: Option<String>,
    secret_env: Option<String>,
    problems: &mut Vec<Mistake>,
) -> Option<AuditWebhook> {
    let Some(url) = url else {
        if secret_env.is_some() {
            problems.push(at("audit_webhook_secret_env", "set audit_webhook too"));
        }
        return None;
    };
    if let Err(message) = provider::check_webhook_url(&url) {
        problems.push(at("audit_webhook", message));
    }
    let secret_env = secret_env.unwrap_or_else(|| AUDIT_WEBHOOK_SECRET_ENV.to_string());
    if let Err(message) = provider::check_secret_env(&secret_env) {
        problems.push(at("audit_webhook_secret_env", message));
    }
    Some(AuditWebhook { url, secret_env })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [[group]]
        name = "prod-db"
        owners = ["bob@example.com"]
    "#;

    #[test]
    fn fills_in_defaults() {
        let config = Config::parse(MINIMAL, Path::new("/etc/jitbot")).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database_url, "sqlite:///etc/jitbot/jitbot.db");
        assert_eq!(config.slack.api_url, DEFAULT_SLACK_API_URL);
        let group = &config.policy.groups[0];
        assert_eq!(group.target, "prod-db");
        assert_eq!(group.default_duration.to_string(), "1h");
        assert_eq!(group.max_duration.to_string(), "8h");
        assert_eq!(group.approvals_required, 1);
    }

    #[test]
    fn rejects_unknown_keys_with_their_location() {
        let text = "[[group]]\nname = \"x\"\nowners = [\"a@b.co\"]\nmax_duraton = \"2h\"\n";
        let error = Config::parse(text, Path::new(".")).unwrap_err().to_string();
        assert!(error.contains("max_duraton"), "{error}");
        assert!(error.contains("line 4"), "{error}");
    }

    #[test]
    fn lists_every_mistake() {
        let text = r#"
            listen = "nowhere"
            [[group]]
            name = "prod-db"
            provider = "webhook"
            owners = ["bob"]
            default_duration = "9h"
            max_duration = "2 weeks"
        "#;
        let error = Config::parse(text, Path::new(".")).unwrap_err().to_string();
        for expected in ["listen", "webhook_url", "owners", "max_duration"] {
            assert!(error.contains(expected), "missing {expected} in {error}");
        }
    }

    #[test]
    fn reads_the_lifecycle_keys() {
        let text = r#"
            [[group]]
            name = "prod-db"
            owners = ["bob@example.com"]
            approvals_required = 0
            warn_before = "off"
            max_total = "1d"
            auto_extend = true
            pending_timeout = "2h"
            delegates = ["slack:U0HELPDESK"]
            break_glass = true
            security_channel = "C0SECURITY"
            auto_approve_for = ["1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e"]
        "#;
        let config = Config::parse(text, Path::new(".")).unwrap();
        let group = &config.policy.groups[0];
        let rules = &group.lifecycle;
        assert_eq!(group.approvals_required, 0);
        assert_eq!(rules.warn_before, None);
        assert_eq!(group.max_total().to_string(), "1d");
        assert!(rules.auto_extend);
        assert_eq!(rules.pending_timeout.to_string(), "2h");
        assert_eq!(rules.delegates.len(), 1);
        let break_glass = rules.break_glass.as_ref().unwrap();
        assert_eq!(break_glass.max.to_string(), "1h");
        assert_eq!(break_glass.security_channels.len(), 1);
        assert_eq!(rules.auto_approve_for.len(), 1);
    }

    #[test]
    fn names_every_lifecycle_mistake() {
        let text = r#"
            [[group]]
            name = "prod-db"
            owners = ["bob@example.com"]
            warn_before = "soon"
            max_total = "1h"
            pending_timeout = "0m"
            delegates = ["helpdesk"]
            break_glass_max = "1h"
            auto_approve_for = ["finance"]
        "#;
        let error = Config::parse(text, Path::new(".")).unwrap_err().to_string();
        for expected in [
            "warn_before",
            "max_total: 1h is shorter than max_duration",
            "pending_timeout",
            "delegates",
            "break_glass",
            "auto_approve_for",
        ] {
            assert!(error.contains(expected), "missing {expected} in {error}");
        }
    }
}
