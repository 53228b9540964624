//! One `[[group]]` table → a `GroupPolicy`: each part (name, durations, provider, Entra facts,
//! owners, channels) read by a small function that reports its own mistakes.

use serde::Deserialize;

use super::place::{Mistake, Step};
use super::provider::{provider_kind, webhook_http2};
use crate::domain::identity::{Guid, is_guid};
use crate::domain::{AccessDuration, GroupPolicy, Owner, Owners, Platform, ProviderKind, Sweep};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_provider")]
    provider: String,
    target: Option<String>,
    webhook_url: Option<String>,
    webhook_secret_env: Option<String>,
    #[serde(default)]
    webhook_http2: bool,
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
    // The lifecycle keys, read by `lifecycle.rs`.
    pub(super) warn_before: Option<String>,
    pub(super) max_total: Option<String>,
    #[serde(default)]
    pub(super) auto_extend: bool,
    pub(super) pending_timeout: Option<String>,
    #[serde(default)]
    pub(super) delegates: Vec<String>,
    #[serde(default)]
    pub(super) manager_can_self_approve: bool,
    #[serde(default)]
    pub(super) break_glass: bool,
    pub(super) break_glass_max: Option<String>,
    pub(super) security_channel: Option<String>,
    pub(super) teams_security_channel: Option<String>,
    #[serde(default)]
    pub(super) auto_approve_for: Vec<String>,
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

/// The mistakes found in one group, each with the group's place and the key.
pub(super) struct Problems<'a> {
    place: String,
    /// Which `[[group]]` table, from 0.
    index: usize,
    list: &'a mut Vec<Mistake>,
    found: usize,
}

impl Problems<'_> {
    pub(super) fn add(&mut self, key: &str, message: String) {
        self.list.push(Mistake {
            key: group_key(self.index, key),
            text: format!("{}, {key}: {message}", self.place),
        });
        self.found += 1;
    }
}

/// `group[index].key`, the path of a group's key in the file.
fn group_key(index: usize, key: &str) -> Vec<Step> {
    vec![
        Step::Key("group".into()),
        Step::Index(index),
        Step::Key(key.into()),
    ]
}

/// Every group, in order; a name used twice is a mistake.
pub(super) fn groups(raw: Vec<RawGroup>, problems: &mut Vec<Mistake>) -> Vec<GroupPolicy> {
    let mut groups: Vec<GroupPolicy> = Vec::new();
    for (index, raw_group) in raw.into_iter().enumerate() {
        let place = format!("[[group]] #{} `{}`", index + 1, raw_group.name);
        let mut found = Problems {
            place: place.clone(),
            index,
            list: problems,
            found: 0,
        };
        if let Some(group) = group(raw_group, &mut found) {
            if groups.iter().any(|g| g.name == group.name) {
                problems.push(Mistake {
                    key: group_key(index, "name"),
                    text: format!("{place}, name: the name is used by another group"),
                });
            }
            groups.push(group);
        }
    }
    groups
}

/// One group, or `None` when any part of it is wrong (the mistakes are in `problems`).
fn group(raw: RawGroup, problems: &mut Problems) -> Option<GroupPolicy> {
    let name = name(&raw.name, problems);
    let (default_duration, max_duration) = durations(&raw, problems);
    let provider = provider_kind(
        &raw.provider,
        raw.webhook_url.clone(),
        raw.webhook_secret_env.clone(),
        problems,
    );
    let webhook_http2 = webhook_http2(raw.webhook_http2, &raw.provider, &provider, problems);
    let sweep = entra_facts(&raw, &provider, problems);
    let owners = owners(&raw.owners, &provider, problems);
    let approvals_required = approvals(raw.approvals_required, &owners, problems);
    let approval_channels = channels(
        ("approval_channel", raw.approval_channel.as_deref()),
        (
            "teams_approval_channel",
            raw.teams_approval_channel.as_deref(),
        ),
        problems,
    );
    let lifecycle = super::lifecycle::rules(&raw, max_duration, problems);
    (problems.found == 0).then(|| GroupPolicy {
        target: raw.target.unwrap_or_else(|| name.clone()),
        name,
        description: raw.description,
        provider,
        owners,
        default_duration,
        max_duration,
        approvals_required,
        approval_channels,
        allow_self_approval: raw.allow_self_approval,
        eligible: raw
            .eligible
            .iter()
            .filter_map(|id| Guid::parse(id))
            .collect(),
        sweep,
        permanent_members: lower_case(&raw.permanent_members),
        lifecycle,
        webhook_http2,
    })
}

fn lower_case(items: &[String]) -> Vec<String> {
    items.iter().map(|item| item.to_ascii_lowercase()).collect()
}

/// What people type: lower-case letters, digits, `-`, `_`, `.`.
fn name(raw: &str, problems: &mut Problems) -> String {
    let name = raw.trim().to_string();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if !valid {
        problems.add(
            "name",
            "use lower-case letters, digits, `-`, `_` or `.`".into(),
        );
    }
    name
}

/// `default_duration` and `max_duration`; the default may not exceed the maximum.
fn durations(raw: &RawGroup, problems: &mut Problems) -> (AccessDuration, AccessDuration) {
    let mut duration = |key: &str, value: Option<&str>, default: &str| {
        AccessDuration::parse(value.unwrap_or(default)).unwrap_or_else(|e| {
            problems.add(key, e.to_string());
            AccessDuration::from_minutes(60).expect("one hour is a valid duration")
        })
    };
    let default_duration = duration("default_duration", raw.default_duration.as_deref(), "1h");
    let max_duration = duration("max_duration", raw.max_duration.as_deref(), "8h");
    if default_duration > max_duration {
        problems.add(
            "default_duration",
            format!("{default_duration} is longer than max_duration ({max_duration})"),
        );
    }
    (default_duration, max_duration)
}

/// What only Entra groups have: a GUID target, eligible groups, the sweep and the members it
/// leaves alone. Returns the sweep mode.
fn entra_facts(raw: &RawGroup, provider: &ProviderKind, problems: &mut Problems) -> Sweep {
    if provider.is_entra() && !raw.target.as_deref().is_some_and(is_guid) {
        problems.add(
            "target",
            "an Entra group's target is its object id, a GUID such as 9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0".into(),
        );
    }
    for id in raw.eligible.iter().filter(|id| !is_guid(id)) {
        problems.add(
            "eligible",
            format!("`{id}` is not an Entra group id (a GUID)"),
        );
    }
    for member in &raw.permanent_members {
        if !(is_guid(member) || member.contains('@')) {
            problems.add(
                "permanent_members",
                format!("`{member}` is neither an email nor an Entra object id"),
            );
        }
    }
    sweep(raw.sweep.as_deref(), provider.is_entra(), problems)
}

fn sweep(mode: Option<&str>, entra: bool, problems: &mut Problems) -> Sweep {
    match (mode, entra) {
        (None, true) | (Some("report"), true) => Sweep::Report,
        (Some("remove"), true) => Sweep::Remove,
        (None, false) | (Some("off"), _) => Sweep::Off,
        (Some("report" | "remove"), false) => {
            problems.add(
                "sweep",
                "only Entra groups (entra-group, entra-pim-group) are swept".into(),
            );
            Sweep::Off
        }
        (Some(other), _) => {
            problems.add(
                "sweep",
                format!("`{other}` is not a sweep mode; use off, report or remove"),
            );
            Sweep::Off
        }
    }
}

/// The listed owners, or `"entra"` (the Entra group's own owners, known per request).
fn owners(raw: &RawOwners, provider: &ProviderKind, problems: &mut Problems) -> Owners {
    match raw {
        RawOwners::Listed(listed) => {
            let mut owners = Vec::new();
            for owner in listed {
                match Owner::parse(owner) {
                    Ok(owner) => owners.push(owner),
                    Err(message) => problems.add("owners", message),
                }
            }
            if listed.is_empty() {
                problems.add(
                    "owners",
                    "list at least one owner (an email, slack:U… or teams:…), or say \"entra\""
                        .into(),
                );
            }
            Owners::Listed(owners)
        }
        RawOwners::Source(source) if source == "entra" => {
            if !provider.is_entra() {
                problems.add("owners", "\"entra\" takes the owners of the Entra group, so it needs provider entra-group or entra-pim-group".into());
            }
            Owners::EntraGroup(Vec::new())
        }
        RawOwners::Source(other) => {
            problems.add(
                "owners",
                format!("`{other}` is not a list of owners, nor \"entra\""),
            );
            Owners::Listed(Vec::new())
        }
    }
}

/// `approvals_required`: at most the number of owners; 0 makes the group self-service. With
/// owners from Entra their number is only known per request; it is checked then.
fn approvals(required: Option<u32>, owners: &Owners, problems: &mut Problems) -> u32 {
    let required = required.unwrap_or(1);
    let most = match owners {
        Owners::EntraGroup(_) => u32::MAX as usize,
        Owners::Listed(owners) => owners.len().max(1),
    };
    if required as usize > most {
        problems.add(
            "approvals_required",
            format!(
                "must be between 0 (self-service) and the number of owners ({}), not {required}",
                owners.entries().len()
            ),
        );
    }
    required
}

/// A pair of channels, as (key, value) for Slack and for Teams: a Slack channel id, a Teams
/// channel id (`19:…@thread.tacv2`).
pub(super) fn channels(
    (slack_key, slack): (&str, Option<&str>),
    (teams_key, teams): (&str, Option<&str>),
    problems: &mut Problems,
) -> Vec<(Platform, String)> {
    let slack = slack.map(|c| c.trim().to_string());
    if slack.as_deref() == Some("") {
        problems.add(slack_key, "leave it out rather than empty".into());
    }
    let teams = teams.map(|c| c.trim().to_string());
    if let Some(channel) = &teams
        && !(channel.starts_with("19:") && channel.contains('@'))
    {
        problems.add(
            teams_key,
            format!("`{channel}` is not a Teams channel id such as 19:…@thread.tacv2"),
        );
    }
    let on = |platform, channel: Option<String>| channel.map(|c| (platform, c));
    [on(Platform::Slack, slack), on(Platform::Teams, teams)]
        .into_iter()
        .flatten()
        .collect()
}
