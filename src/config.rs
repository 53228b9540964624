//! The config file: listen address, database, platform URLs and the policy, validated into types.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::identity::is_guid;
use crate::domain::{AccessDuration, GroupPolicy, Owner, Policy, ProviderKind, Sweep};
use crate::secrets::CREDENTIAL_ENVS;

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
}

#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Microsoft Graph, ending in `/`.
    pub api_url: String,
    /// Where app-only tokens come from: `{authority_url}{tenant}/oauth2/v2.0/token`.
    pub authority_url: String,
    /// How often the drift sweep compares Entra groups with jitbot's grants.
    pub sweep_interval: AccessDuration,
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Base URL of the Web API, ending in `/`.
    pub api_url: String,
}

#[derive(Debug, Clone)]
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
    pub allowed_tenants: Vec<String>,
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
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path} has {} mistake(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    database_url: Option<String>,
    #[serde(default)]
    slack: RawSlack,
    #[serde(default)]
    teams: RawTeams,
    #[serde(default)]
    graph: RawGraph,
    #[serde(default, rename = "group")]
    groups: Vec<RawGroup>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeams {
    openid_metadata_url: Option<String>,
    token_url: Option<String>,
    service_url: Option<String>,
    #[serde(default)]
    trial_mode: bool,
    #[serde(default)]
    allowed_tenants: Vec<String>,
    service_hosts: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_provider")]
    provider: String,
    target: Option<String>,
    webhook_url: Option<String>,
    webhook_secret_env: Option<String>,
    #[serde(default)]
    owners: RawOwners,
    default_duration: Option<String>,
    max_duration: Option<String>,
    approvals_required: Option<u32>,
    approval_channel: Option<String>,
    teams_approval_channel: Option<String>,
    #[serde(default)]
    allow_self_approval: bool,
    #[serde(default)]
    eligible: Vec<String>,
    sweep: Option<String>,
    #[serde(default)]
    permanent_members: Vec<String>,
}

/// `owners = ["alice@example.com", …]`, or `owners = "entra"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawOwners {
    Listed(Vec<String>),
    Source(String),
}

impl Default for RawOwners {
    fn default() -> Self {
        RawOwners::Listed(Vec::new())
    }
}

fn default_provider() -> String {
    "local".into()
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let mut problems = Vec::new();

        let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "listen: `{listen}` is not an address and port such as 127.0.0.1:3978"
            ));
            SocketAddr::from(([127, 0, 0, 1], 3978))
        });
        let database_url = resolve_database_url(
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

        let teams = teams_config(raw.teams, listen, &mut problems);

        let graph = GraphConfig {
            api_url: base_url(
                "graph.api_url",
                raw.graph
                    .api_url
                    .as_deref()
                    .unwrap_or(DEFAULT_GRAPH_API_URL),
                &mut problems,
            ),
            authority_url: base_url(
                "graph.authority_url",
                raw.graph
                    .authority_url
                    .as_deref()
                    .unwrap_or(DEFAULT_AUTHORITY_URL),
                &mut problems,
            ),
            sweep_interval: raw
                .graph
                .sweep_interval
                .as_deref()
                .map(|text| {
                    AccessDuration::parse(text).unwrap_or_else(|e| {
                        problems.push(format!("graph.sweep_interval: {e}"));
                        AccessDuration::from_minutes(60).expect("an hour is valid")
                    })
                })
                .unwrap_or(AccessDuration::from_minutes(60).expect("an hour is valid")),
        };

        let mut groups: Vec<GroupPolicy> = Vec::new();
        for (index, raw_group) in raw.groups.into_iter().enumerate() {
            let place = format!("[[group]] #{} `{}`", index + 1, raw_group.name);
            if let Some(group) = validate_group(raw_group, &place, &mut problems) {
                if groups.iter().any(|g| g.name == group.name) {
                    problems.push(format!("{place}: the name is used by another group"));
                }
                groups.push(group);
            }
        }

        if problems.is_empty() {
            Ok(Config {
                listen,
                database_url,
                slack,
                teams,
                graph,
                policy: Policy { groups },
            })
        } else {
            Err(ConfigError::Invalid {
                path: PathBuf::new(),
                problems,
            })
        }
    }
}

impl ConfigError {
    fn at(self, file: &Path) -> Self {
        match self {
            Self::Syntax { message, .. } => Self::Syntax {
                path: file.to_path_buf(),
                message,
            },
            Self::Invalid { problems, .. } => Self::Invalid {
                path: file.to_path_buf(),
                problems,
            },
            read => read,
        }
    }
}

fn teams_config(raw: RawTeams, listen: SocketAddr, problems: &mut Vec<String>) -> TeamsConfig {
    let metadata = raw
        .openid_metadata_url
        .as_deref()
        .unwrap_or(DEFAULT_OPENID_METADATA_URL);
    let service_url = base_url(
        "teams.service_url",
        raw.service_url
            .as_deref()
            .unwrap_or(DEFAULT_TEAMS_SERVICE_URL),
        problems,
    );
    let service_hosts = raw.service_hosts.unwrap_or_else(|| {
        crate::teams::service_hosts::DEFAULT
            .iter()
            .map(|h| h.to_string())
            .collect()
    });
    if !crate::teams::service_hosts::ServiceHosts::new(service_hosts.clone()).permits(&service_url)
    {
        problems.push(format!(
            "teams.service_url: `{service_url}` is not on teams.service_hosts, so jitbot would never call it"
        ));
    }
    if raw.trial_mode && !listen.ip().is_loopback() {
        problems.push(format!(
            "teams.trial_mode: local trial mode accepts activities without a token, so it needs `listen` on a loopback address such as 127.0.0.1:3978, not {listen}"
        ));
    }
    for tenant in &raw.allowed_tenants {
        if !is_guid(tenant) {
            problems.push(format!(
                "teams.allowed_tenants: `{tenant}` is not a tenant id (a GUID)"
            ));
        }
    }
    TeamsConfig {
        openid_metadata_url: base_url("teams.openid_metadata_url", metadata, problems)
            .trim_end_matches('/')
            .to_string(),
        token_url: raw.token_url.map(|url| {
            base_url("teams.token_url", &url, problems)
                .trim_end_matches('/')
                .to_string()
        }),
        service_url,
        trial_mode: raw.trial_mode,
        allowed_tenants: raw
            .allowed_tenants
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect(),
        service_hosts,
    }
}

fn validate_group(raw: RawGroup, place: &str, problems: &mut Vec<String>) -> Option<GroupPolicy> {
    let before = problems.len();
    let mut problem =
        |key: &str, message: String| problems.push(format!("{place}, {key}: {message}"));

    let name = raw.name.trim().to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
    {
        problem(
            "name",
            "use lower-case letters, digits, `-`, `_` or `.`".into(),
        );
    }
    let mut duration = |key: &str, value: Option<&str>, default: &str| {
        let text = value.unwrap_or(default);
        AccessDuration::parse(text).unwrap_or_else(|e| {
            problem(key, e.to_string());
            AccessDuration::from_minutes(60).expect("one hour is a valid duration")
        })
    };
    let default_duration = duration("default_duration", raw.default_duration.as_deref(), "1h");
    let max_duration = duration("max_duration", raw.max_duration.as_deref(), "8h");
    let mut problem =
        |key: &str, message: String| problems.push(format!("{place}, {key}: {message}"));
    if default_duration > max_duration {
        problem(
            "default_duration",
            format!("{default_duration} is longer than max_duration ({max_duration})"),
        );
    }

    let provider = provider_kind(
        &raw.provider,
        raw.webhook_url,
        raw.webhook_secret_env,
        &mut problem,
    );
    if provider.is_entra() && !raw.target.as_deref().is_some_and(is_guid) {
        problem(
            "target",
            "an Entra group's target is its object id, a GUID such as 9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0".into(),
        );
    }
    for id in &raw.eligible {
        if !is_guid(id) {
            problem(
                "eligible",
                format!("`{id}` is not an Entra group id (a GUID)"),
            );
        }
    }
    let sweep = match (raw.sweep.as_deref(), provider.is_entra()) {
        (None, true) | (Some("report"), true) => Sweep::Report,
        (Some("remove"), true) => Sweep::Remove,
        (None, false) | (Some("off"), _) => Sweep::Off,
        (Some("report" | "remove"), false) => {
            problem(
                "sweep",
                "only Entra groups (entra-group, entra-pim-group) are swept".into(),
            );
            Sweep::Off
        }
        (Some(other), _) => {
            problem(
                "sweep",
                format!("`{other}` is not a sweep mode; use off, report or remove"),
            );
            Sweep::Off
        }
    };
    for member in &raw.permanent_members {
        if !(is_guid(member) || member.contains('@')) {
            problem(
                "permanent_members",
                format!("`{member}` is neither an email nor an Entra object id"),
            );
        }
    }

    let mut owners = Vec::new();
    let owners_from_entra = matches!(&raw.owners, RawOwners::Source(source) if source == "entra");
    match &raw.owners {
        RawOwners::Listed(listed) => {
            for owner in listed {
                match Owner::parse(owner) {
                    Ok(owner) => owners.push(owner),
                    Err(message) => problem("owners", message),
                }
            }
            if listed.is_empty() {
                problem(
                    "owners",
                    "list at least one owner (an email, slack:U… or teams:…), or say \"entra\""
                        .into(),
                );
            }
        }
        RawOwners::Source(source) if source == "entra" => {
            if !provider.is_entra() {
                problem("owners", "\"entra\" takes the owners of the Entra group, so it needs provider entra-group or entra-pim-group".into());
            }
        }
        RawOwners::Source(other) => problem(
            "owners",
            format!("`{other}` is not a list of owners, nor \"entra\""),
        ),
    }
    let approvals_required = raw.approvals_required.unwrap_or(1);
    // With owners from Entra their number is only known per request; it is checked then.
    let most = if owners_from_entra {
        u32::MAX as usize
    } else {
        owners.len().max(1)
    };
    if approvals_required == 0 || approvals_required as usize > most {
        problem(
            "approvals_required",
            format!(
                "must be between 1 and the number of owners ({}), not {approvals_required}",
                owners.len()
            ),
        );
    }
    let approval_channel = raw.approval_channel.map(|c| c.trim().to_string());
    if approval_channel.as_deref() == Some("") {
        problem("approval_channel", "leave it out rather than empty".into());
    }
    let teams_approval_channel = raw.teams_approval_channel.map(|c| c.trim().to_string());
    if let Some(channel) = &teams_approval_channel
        && !(channel.starts_with("19:") && channel.contains('@'))
    {
        problem(
            "teams_approval_channel",
            format!("`{channel}` is not a Teams channel id such as 19:…@thread.tacv2"),
        );
    }

    (problems.len() == before).then(|| GroupPolicy {
        target: raw.target.unwrap_or_else(|| name.clone()),
        name,
        description: raw.description,
        provider,
        owners,
        default_duration,
        max_duration,
        approvals_required,
        approval_channel,
        teams_approval_channel,
        allow_self_approval: raw.allow_self_approval,
        owners_from_entra,
        eligible: raw
            .eligible
            .iter()
            .map(|id| id.to_ascii_lowercase())
            .collect(),
        sweep,
        permanent_members: raw
            .permanent_members
            .iter()
            .map(|m| m.to_ascii_lowercase())
            .collect(),
    })
}

/// `provider`, `webhook_url` and `webhook_secret_env`: how the group's access is granted.
fn provider_kind(
    provider: &str,
    webhook_url: Option<String>,
    secret_env: Option<String>,
    problem: &mut impl FnMut(&str, String),
) -> ProviderKind {
    if secret_env.is_some() && provider != "webhook" {
        problem(
            "webhook_secret_env",
            format!("only the webhook provider takes a webhook_secret_env, not {provider}"),
        );
    }
    if let Some(Err(message)) = secret_env.as_deref().map(check_secret_env) {
        problem("webhook_secret_env", message);
    }
    match (provider, webhook_url) {
        ("local", None) => ProviderKind::Local,
        ("webhook", Some(url)) => match check_webhook_url(&url) {
            Ok(()) => ProviderKind::Webhook { url, secret_env },
            Err(message) => {
                problem("webhook_url", message);
                ProviderKind::Local
            }
        },
        ("webhook", None) => {
            problem(
                "webhook_url",
                "the webhook provider needs a webhook_url".into(),
            );
            ProviderKind::Local
        }
        ("local", Some(_)) => {
            problem(
                "webhook_url",
                "only the webhook provider takes a webhook_url".into(),
            );
            ProviderKind::Local
        }
        ("entra-group", None) => ProviderKind::EntraGroup,
        ("entra-pim-group", None) => ProviderKind::EntraPimGroup,
        (kind @ ("entra-group" | "entra-pim-group"), Some(_)) => {
            problem(
                "webhook_url",
                format!("the {kind} provider takes no webhook_url"),
            );
            ProviderKind::Local
        }
        (other, _) => {
            problem(
                "provider",
                format!(
                    "`{other}` is not a provider; use local, webhook, entra-group or entra-pim-group"
                ),
            );
            ProviderKind::Local
        }
    }
}

/// Events say who gets access: they go over https, or over plain http to this machine only.
fn check_webhook_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "`{text}` would send events unencrypted over the network: use https:// \
             (http:// is only for 127.0.0.1, [::1] and localhost)"
        )),
        _ => Err(format!("`{text}` is not an https URL")),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The name of an environment variable of the webhook's own, not one of jitbot's credentials.
fn check_secret_env(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not an environment variable name such as BILLING_WEBHOOK_SECRET"
        ));
    }
    if CREDENTIAL_ENVS.contains(&name) {
        return Err(format!(
            "{name} is one of jitbot's own credentials: give the webhook a secret of its own"
        ));
    }
    Ok(())
}

fn resolve_database_url(url: &str, base_dir: &Path, problems: &mut Vec<String>) -> String {
    let Some(path) = url.strip_prefix("sqlite://") else {
        if url == "sqlite::memory:" {
            return url.to_string();
        }
        problems.push(format!(
            "database_url: `{url}` is not a sqlite:// URL such as sqlite://jitbot.db"
        ));
        return url.to_string();
    };
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let path = Path::new(path);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("sqlite://{}{query}", path.display())
}

fn base_url(key: &str, url: &str, problems: &mut Vec<String>) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push(format!("{key}: `{url}` is not an http(s) URL"));
    }
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
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

    fn webhook_group(url: &str, extra: &str) -> String {
        format!(
            "[[group]]\nname = \"billing\"\nprovider = \"webhook\"\nwebhook_url = \"{url}\"\n\
             owners = [\"bob@example.com\"]\n{extra}"
        )
    }

    #[test]
    fn webhook_urls_are_https_or_loopback() {
        for url in [
            "https://automation.example.com/jitbot",
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/hook",
            "http://[::1]:9000/hook",
            "http://localhost:9000/hook",
            "http://LOCALHOST/hook",
        ] {
            let config = Config::parse(&webhook_group(url, ""), Path::new("."));
            assert!(config.is_ok(), "{url}: {:?}", config.err());
        }
        for url in [
            "http://example.com/hook",
            "http://10.0.0.1/hook",
            "http://127.0.0.1.example.com/hook",
            "http://localhost.example.com/hook",
            "http://[::2]/hook",
        ] {
            let error = Config::parse(&webhook_group(url, ""), Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("webhook_url") && error.contains("use https://"),
                "{url}: {error}"
            );
        }
        for url in ["ftp://example.com/hook", "example.com/hook", "https://"] {
            let error = Config::parse(&webhook_group(url, ""), Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(error.contains("webhook_url"), "{url}: {error}");
        }
    }

    #[test]
    fn webhook_secret_env_names_a_variable_of_the_webhooks_own() {
        let text = webhook_group(
            "https://a.example.com/",
            "webhook_secret_env = \"BILLING_WEBHOOK_SECRET\"\n",
        );
        let config = Config::parse(&text, Path::new(".")).unwrap();
        assert_eq!(
            config.policy.groups[0].provider,
            ProviderKind::Webhook {
                url: "https://a.example.com/".into(),
                secret_env: Some("BILLING_WEBHOOK_SECRET".into()),
            }
        );
        for (name, expected) in [
            ("SLACK_BOT_TOKEN", "one of jitbot's own credentials"),
            ("BILLING SECRET", "not an environment variable name"),
            ("", "not an environment variable name"),
        ] {
            let text = webhook_group(
                "https://a.example.com/",
                &format!("webhook_secret_env = \"{name}\"\n"),
            );
            let error = Config::parse(&text, Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{name}: {error}");
        }
    }
}
