//! The policy: which groups can be requested, who owns them, for how long — and the checks on it.

use std::collections::BTreeSet;

use super::duration::AccessDuration;
use super::identity::{Account, Guid, PersonKey, Platform, Principal};
use super::lifecycle::LifecycleRules;
use super::refusal::Refusal;

/// Who may approve: listed by email (matched on every platform) or by one platform's user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Email(String),
    SlackUser(String),
    /// A Teams user by Entra object id.
    TeamsUser(Guid),
    /// An owner of the Entra group itself (`owners = "entra"`): known by object id on Teams and
    /// by email or UPN on Slack.
    Directory {
        id: String,
        emails: Vec<String>,
    },
}

impl Owner {
    /// Parses `alice@example.com`, `slack:U024BE7LH` or `teams:<Entra object id>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(id) = text.strip_prefix("teams:") {
            return if let Some(id) = Guid::parse(id) {
                Ok(Self::TeamsUser(id))
            } else {
                Err(format!(
                    "`{text}` is not a Teams user (teams:<Entra object id>)"
                ))
            };
        }
        if let Some(id) = text.strip_prefix("slack:") {
            let valid = id.len() > 1
                && (id.starts_with('U') || id.starts_with('W'))
                && id.chars().all(|c| c.is_ascii_alphanumeric());
            return if valid {
                Ok(Self::SlackUser(id.to_string()))
            } else {
                Err(format!("`{text}` is not a Slack user id (slack:U…)"))
            };
        }
        match text.split_once('@') {
            Some((user, domain)) if !user.is_empty() && domain.contains('.') => {
                Ok(Self::Email(text.to_ascii_lowercase()))
            }
            _ => Err(format!(
                "`{text}` is neither an email address nor a Slack user id (slack:U…)"
            )),
        }
    }

    /// Whether this entry names the person, by verified facts only: an email entry matches a
    /// verified address, an id entry the account (or, for Teams ids, the Entra object id).
    pub fn matches(&self, person: &Principal) -> bool {
        match self {
            Self::Email(email) => person.has_email(email),
            Self::SlackUser(id) => person.account == Account::new(Platform::Slack, id.as_str()),
            Self::TeamsUser(id) => person.has_entra_id(id.as_str()),
            Self::Directory { id, emails } => {
                person.has_entra_id(id) || emails.iter().any(|e| person.has_email(e))
            }
        }
    }

    /// The key a decision by whoever matches this entry counts under: the entry as configured,
    /// or for an Entra owner their object id.
    pub fn key(&self) -> PersonKey {
        match self {
            Self::Directory { id, .. } => PersonKey::Entra(id.clone()),
            listed => PersonKey::Owner(listed.to_string()),
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Email(email) => f.write_str(email),
            Self::SlackUser(id) => write!(f, "slack:{id}"),
            Self::TeamsUser(id) => write!(f, "teams:{id}"),
            Self::Directory { id, emails } => f.write_str(emails.first().unwrap_or(id)),
        }
    }
}

/// How a group's access is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// Recorded in jitbot's own database only: for trying jitbot out.
    Local,
    /// A signed JSON event POSTed to this URL, signed with the secret in the environment variable
    /// `secret_env` (`webhook_secret_env`), or with `JITBOT_WEBHOOK_SECRET` when there is none.
    Webhook {
        url: String,
        secret_env: Option<String>,
    },
    /// Membership of an Entra ID group (the target is its object id), added and removed by jitbot.
    EntraGroup,
    /// An Entra ID group through PIM for Groups: Entra itself ends the membership at expiry.
    EntraPimGroup,
}

impl ProviderKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Webhook { .. } => "webhook",
            Self::EntraGroup => "entra-group",
            Self::EntraPimGroup => "entra-pim-group",
        }
    }

    pub fn is_entra(&self) -> bool {
        matches!(self, Self::EntraGroup | Self::EntraPimGroup)
    }
}

/// Whether `url` is plain http, which the config allows only to this machine (webhooks, the
/// audit webhook): such a call never goes through a proxy, which would carry it unencrypted
/// over the network, and only such an endpoint can take `webhook_http2`.
pub fn is_plain_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

/// The address a webhook provider sends to.
fn webhook_url(provider: &ProviderKind) -> Option<&str> {
    match provider {
        ProviderKind::Webhook { url, .. } => Some(url),
        _ => None,
    }
}

/// What a request is granted, fixed when it is made: the provider and its target. Revoking
/// uses it even when the group has changed or left the policy since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTarget {
    pub provider: ProviderKind,
    pub target: String,
}

impl ProviderKind {
    /// The kind from its name and, for a webhook, its address and secret's variable.
    pub fn from_parts(
        name: &str,
        webhook_url: Option<String>,
        secret_env: Option<String>,
    ) -> Option<Self> {
        match (name, webhook_url) {
            ("local", _) => Some(Self::Local),
            ("webhook", Some(url)) => Some(Self::Webhook { url, secret_env }),
            ("entra-group", _) => Some(Self::EntraGroup),
            ("entra-pim-group", _) => Some(Self::EntraPimGroup),
            _ => None,
        }
    }
}

/// Who approves a group's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owners {
    /// Listed in the config: emails, Slack ids, Teams ids.
    Listed(Vec<Owner>),
    /// The Entra group's own owners (`owners = "entra"`): read from Microsoft Graph for each
    /// request and again at each click; none until then.
    EntraGroup(Vec<Owner>),
}

impl Owners {
    pub fn entries(&self) -> &[Owner] {
        match self {
            Self::Listed(owners) | Self::EntraGroup(owners) => owners,
        }
    }

    pub fn from_entra(&self) -> bool {
        matches!(self, Self::EntraGroup(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPolicy {
    pub name: String,
    pub description: String,
    pub provider: ProviderKind,
    pub target: String,
    pub owners: Owners,
    pub default_duration: AccessDuration,
    pub max_duration: AccessDuration,
    pub approvals_required: u32,
    /// Where approval cards go, per platform: a Slack channel id, a Teams channel id
    /// (`19:…@thread.tacv2`). Without one, owners get their cards by direct message.
    pub approval_channels: Vec<(Platform, String)>,
    pub allow_self_approval: bool,
    /// Entra group ids: when set, only their (transitive) members may request this group.
    pub eligible: Vec<Guid>,
    /// What the drift sweep does with members jitbot holds no grant for (Entra groups only).
    pub sweep: Sweep,
    /// Members the sweep leaves alone: emails or Entra object ids (break-glass accounts …).
    pub permanent_members: Vec<String>,
    /// Warnings, extensions, timeouts, delegation, break-glass, approval by policy.
    pub lifecycle: LifecycleRules,
    /// `webhook_http2`: the webhook's endpoint (plain http on this machine) speaks HTTP/2 from
    /// the first byte, so its events share one connection. How to talk to the endpoint, not
    /// what is granted: it is no part of the request's snapshot (`GrantTarget`).
    pub webhook_http2: bool,
}

/// The drift sweep's mode for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    Off,
    /// Report unexpected members to the group's approval channels.
    Report,
    /// Report them and remove them.
    Remove,
}

impl GroupPolicy {
    pub fn is_owner(&self, person: &Principal) -> bool {
        self.owners
            .entries()
            .iter()
            .any(|owner| owner.matches(person))
    }

    /// Every key the person is known by here: their own (account, Entra id, addresses) and the
    /// owner entries they match. Two people who share a key are one person.
    pub fn keys_of(&self, person: &Principal) -> BTreeSet<PersonKey> {
        let mut keys = person.own_keys();
        keys.extend(
            self.owners
                .entries()
                .iter()
                .filter(|owner| owner.matches(person))
                .map(Owner::key),
        );
        keys
    }

    /// What this group grants now, to be fixed on a request made now.
    pub fn grant_target(&self) -> GrantTarget {
        GrantTarget {
            provider: self.provider.clone(),
            target: self.target.clone(),
        }
    }

    /// This group granting what a request fixed when it was made, rather than what the group
    /// says now.
    pub fn granting(&self, snapshot: &GrantTarget) -> GroupPolicy {
        GroupPolicy {
            provider: snapshot.provider.clone(),
            target: snapshot.target.clone(),
            // Said of the endpoint the group names now: an earlier one may speak only HTTP/1.1.
            webhook_http2: self.webhook_http2
                && webhook_url(&snapshot.provider) == webhook_url(&self.provider),
            ..self.clone()
        }
    }

    /// A group no longer in the policy, rebuilt from a request's snapshot so that the access
    /// it granted can still be removed: no owners, no channels, nothing else allowed.
    pub fn retired(name: &str, snapshot: &GrantTarget) -> GroupPolicy {
        let hour = AccessDuration::from_minutes(60).expect("an hour is a valid duration");
        GroupPolicy {
            name: name.to_string(),
            description: String::new(),
            provider: snapshot.provider.clone(),
            target: snapshot.target.clone(),
            owners: Owners::Listed(Vec::new()),
            default_duration: hour,
            max_duration: hour,
            approvals_required: 1,
            approval_channels: Vec::new(),
            allow_self_approval: false,
            eligible: Vec::new(),
            sweep: Sweep::Off,
            permanent_members: Vec::new(),
            lifecycle: LifecycleRules::default(),
            webhook_http2: false,
        }
    }

    /// This group with its Entra owners as they are now (`owners = "entra"`).
    pub fn with_entra_owners(&self, owners: Vec<Owner>) -> GroupPolicy {
        GroupPolicy {
            owners: Owners::EntraGroup(owners),
            ..self.clone()
        }
    }

    /// The approval channel on `platform`, if the group has one there.
    pub fn approval_channel(&self, platform: Platform) -> Option<&str> {
        self.approval_channels
            .iter()
            .find(|(on, _)| *on == platform)
            .map(|(_, channel)| channel.as_str())
    }

    /// Whether this owner may decide on this requester's request: not on their own, unless the
    /// group allows self-approval.
    pub fn may_decide(&self, owner: &Owner, requester: &Principal) -> bool {
        self.allow_self_approval || !owner.matches(requester)
    }

    /// Refuses a request that could never gather enough approvals, because the requester may
    /// not approve their own.
    pub fn check_approvable(&self, requester: &Principal) -> Result<(), Refusal> {
        self.check_approvable_besides(requester, None)
    }

    /// As `check_approvable`, and whoever asked on the requester's behalf may not approve either.
    pub fn check_approvable_besides(
        &self,
        requester: &Principal,
        submitter: Option<&Principal>,
    ) -> Result<(), Refusal> {
        let available = self
            .owners
            .entries()
            .iter()
            .filter(|owner| self.may_decide(owner, requester))
            .filter(|owner| !submitter.is_some_and(|s| owner.matches(s)))
            .count() as u32;
        if available < self.approvals_required {
            return Err(Refusal::TooFewApprovers {
                group: self.name.clone(),
                required: self.approvals_required,
                available,
            });
        }
        Ok(())
    }

    /// The longest a grant may last with its extensions, from the first grant.
    pub fn max_total(&self) -> AccessDuration {
        self.lifecycle.max_total.unwrap_or(self.max_duration)
    }

    /// How much longer active `request` may last: what was asked (or the default), never
    /// beyond `max_total` counted from its first grant.
    pub fn extension_for(
        &self,
        request: &super::AccessRequest,
        asked: Option<AccessDuration>,
    ) -> Result<AccessDuration, Refusal> {
        let (Some(granted_at), Some(expires_at)) = (request.granted_at, request.expires_at) else {
            return Err(Refusal::WrongState {
                id: request.id,
                status: request.status,
                action: "extended".into(),
            });
        };
        let used = (expires_at - granted_at).num_minutes().max(0);
        let left_minutes = i64::from(self.max_total().minutes()) - used;
        let left = u32::try_from(left_minutes)
            .ok()
            .and_then(AccessDuration::from_minutes);
        let beyond = |left: Option<AccessDuration>| Refusal::BeyondMaxTotal {
            id: request.id,
            group: self.name.clone(),
            max_total: self.max_total(),
            left: left.map_or_else(|| "nothing more".to_string(), |d| d.to_string()),
        };
        let Some(left) = left else {
            return Err(beyond(None));
        };
        let duration = asked.unwrap_or_else(|| self.default_duration.min(left));
        if duration > left {
            return Err(beyond(Some(left)));
        }
        Ok(duration)
    }

    /// The duration to grant, or why the asked one is not allowed.
    pub fn duration_for(&self, asked: Option<AccessDuration>) -> Result<AccessDuration, Refusal> {
        let duration = asked.unwrap_or(self.default_duration);
        if duration > self.max_duration {
            return Err(Refusal::TooLong {
                group: self.name.clone(),
                asked: duration,
                max: self.max_duration,
            });
        }
        Ok(duration)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub groups: Vec<GroupPolicy>,
}

impl Policy {
    /// The environment variables webhook groups name for their own signing secrets.
    pub fn webhook_secret_envs(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().filter_map(|g| match &g.provider {
            ProviderKind::Webhook { secret_env, .. } => secret_env.as_deref(),
            _ => None,
        })
    }

    /// The groups granting the same thing as `group` (same provider and target): their grants to
    /// one person share one membership.
    pub fn groups_sharing_target(&self, group: &GroupPolicy) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| g.provider == group.provider && g.target == group.target)
            .map(|g| g.name.clone())
            .collect()
    }

    pub fn group(&self, name: &str) -> Result<&GroupPolicy, Refusal> {
        let name = name.to_ascii_lowercase();
        self.groups
            .iter()
            .find(|group| group.name == name)
            .ok_or_else(|| Refusal::UnknownGroup {
                suggestions: self.closest_names(&name),
                name,
            })
    }

    /// Up to three group names that look like what was typed, most alike first.
    fn closest_names(&self, typed: &str) -> Vec<String> {
        let mut scored: Vec<(f64, &str)> = self
            .groups
            .iter()
            .map(|g| {
                let score = strsim::jaro_winkler(typed, &g.name);
                let contains = g.name.contains(typed) || typed.contains(g.name.as_str());
                (
                    if contains { score.max(0.9) } else { score },
                    g.name.as_str(),
                )
            })
            .filter(|(score, _)| *score >= 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .take(3)
            .map(|(_, name)| name.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> GroupPolicy {
        GroupPolicy {
            name: name.into(),
            description: String::new(),
            provider: ProviderKind::Local,
            target: name.into(),
            owners: Owners::Listed(vec![
                Owner::parse("Bob@Example.com").unwrap(),
                Owner::parse("slack:U0CAROL").unwrap(),
            ]),
            default_duration: AccessDuration::parse("1h").unwrap(),
            max_duration: AccessDuration::parse("8h").unwrap(),
            approvals_required: 1,
            approval_channels: Vec::new(),
            allow_self_approval: false,
            eligible: Vec::new(),
            sweep: Sweep::Off,
            permanent_members: Vec::new(),
            lifecycle: LifecycleRules::default(),
            webhook_http2: false,
        }
    }

    #[test]
    fn a_grant_made_to_another_webhook_is_not_sent_over_http2_on_this_one_s_word() {
        let webhook = |url: &str| GrantTarget {
            provider: ProviderKind::Webhook {
                url: url.into(),
                secret_env: None,
            },
            target: "billing".into(),
        };
        let now = webhook("http://127.0.0.1:9000/hook");
        let group = GroupPolicy {
            webhook_http2: true,
            ..group("billing").granting(&now)
        };
        assert!(group.granting(&now).webhook_http2);
        let before_a_reload = webhook("http://127.0.0.1:8000/hook");
        assert!(!group.granting(&before_a_reload).webhook_http2);
        let with_another_secret = GrantTarget {
            provider: ProviderKind::Webhook {
                url: "http://127.0.0.1:9000/hook".into(),
                secret_env: Some("BILLING_WEBHOOK_SECRET".into()),
            },
            ..now.clone()
        };
        assert!(
            group.granting(&with_another_secret).webhook_http2,
            "the same endpoint, whatever signs for it"
        );
    }

    #[test]
    fn suggests_close_group_names() {
        let policy = Policy {
            groups: vec![group("prod-db"), group("prod-dns"), group("billing-admin")],
        };
        match policy.group("prod-bd") {
            Err(Refusal::UnknownGroup { suggestions, .. }) => {
                assert_eq!(suggestions.first().map(String::as_str), Some("prod-db"));
                assert!(!suggestions.contains(&"billing-admin".to_string()));
            }
            other => panic!("expected UnknownGroup, got {other:?}"),
        }
        assert!(policy.group("PROD-DB").is_ok());
    }

    #[test]
    fn matches_owners_by_email_or_slack_id() {
        let g = group("prod-db");
        let slack = |id: &str| Principal::new(Account::new(Platform::Slack, id));
        let bob = slack("U0BOB").with_emails(["bob@example.com".to_string()]);
        let carol = slack("U0CAROL");
        let mallory = slack("U0MAL").with_emails(["m@example.com".to_string()]);
        assert!(g.is_owner(&bob));
        assert!(g.is_owner(&carol));
        assert!(!g.is_owner(&mallory));
    }

    #[test]
    fn caps_durations_at_the_maximum() {
        let g = group("prod-db");
        assert_eq!(g.duration_for(None).unwrap().to_string(), "1h");
        assert!(matches!(
            g.duration_for(Some(AccessDuration::parse("9h").unwrap())),
            Err(Refusal::TooLong { .. })
        ));
    }

    #[test]
    fn rejects_malformed_owners() {
        assert!(Owner::parse("bob").is_err());
        assert!(Owner::parse("slack:bob").is_err());
        assert!(Owner::parse("slack:").is_err());
    }
}
