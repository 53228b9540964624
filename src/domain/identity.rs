//! Who someone is: the chat account they act from, and the verified facts that tie that account
//! to one person — so that a person counts once, whichever platform or account they click from.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Slack,
    Teams,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "slack" => Ok(Self::Slack),
            "teams" => Ok(Self::Teams),
            other => Err(format!("unknown platform `{other}`")),
        }
    }
}

/// A GUID — an Entra object id, a tenant or an app id: 8-4-4-4-12 hex digits, kept lower-case
/// so that two spellings of one id are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(String);

impl Guid {
    pub fn parse(text: &str) -> Option<Guid> {
        let parts: Vec<&str> = text.split('-').collect();
        let shaped = parts.len() == 5
            && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
            && parts
                .iter()
                .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()));
        shaped.then(|| Guid(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text` is a GUID.
pub fn is_guid(text: &str) -> bool {
    Guid::parse(text).is_some()
}

/// One chat account: a Slack user id, or a Teams user by Entra object id. Written `slack:U…` /
/// `teams:<object id>` in the config, the audit trail and job payloads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Account {
    pub platform: Platform,
    pub id: String,
}

impl Account {
    pub fn new(platform: Platform, id: impl Into<String>) -> Self {
        let id = id.into();
        // Entra object ids are GUIDs, compared without regard to case.
        let id = match platform {
            Platform::Teams => id.to_ascii_lowercase(),
            Platform::Slack => id,
        };
        Self { platform, id }
    }

    /// `slack:U024BE7LH`: unique across platforms.
    pub fn key(&self) -> String {
        format!("{}:{}", self.platform, self.id)
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

impl FromStr for Account {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (platform, id) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}` is not an account such as slack:U024BE7LH"))?;
        if id.is_empty() {
            return Err(format!("`{text}` names no user"));
        }
        Ok(Account::new(platform.parse()?, id))
    }
}

impl serde::Serialize for Account {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Account {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One person, as far as verified sources tell: the account they act from, the addresses those
/// sources vouch for, and their Entra object id when one is known. Built only by the adapters
/// and the directory from verified facts — a Slack email Slack marks confirmed, a Teams profile
/// from our own tenant, Microsoft Graph — never from what a payload merely claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: Account,
    /// Lower-cased; the preferred one (what providers key people by) first.
    pub emails: Vec<String>,
    /// The Entra object id: a Teams user's `aadObjectId` (activities are pinned to our tenant),
    /// or the directory user a Slack user's confirmed email leads to.
    pub entra_id: Option<String>,
}

impl Principal {
    /// An account with no verified facts yet.
    pub fn new(account: Account) -> Self {
        // A Teams account *is* an Entra object id.
        let entra_id = (account.platform == Platform::Teams).then(|| account.id.clone());
        Self {
            account,
            emails: Vec::new(),
            entra_id,
        }
    }

    /// Adds verified addresses (lower-cased, without repeats), keeping the first one first.
    pub fn with_emails(mut self, emails: impl IntoIterator<Item = String>) -> Self {
        for email in emails {
            let email = email.trim().to_ascii_lowercase();
            if !email.is_empty() && !self.emails.contains(&email) {
                self.emails.push(email);
            }
        }
        self
    }

    pub fn with_entra_id(mut self, id: Option<String>) -> Self {
        if let Some(id) = id {
            self.entra_id = Some(id.to_ascii_lowercase());
        }
        self
    }

    /// The preferred address: what providers and the `local` membership key people by.
    pub fn email(&self) -> Option<&str> {
        self.emails.first().map(String::as_str)
    }

    pub fn has_email(&self, email: &str) -> bool {
        self.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
    }

    pub fn has_entra_id(&self, id: &str) -> bool {
        self.entra_id
            .as_deref()
            .is_some_and(|own| own.eq_ignore_ascii_case(id))
    }

    /// Every key this person is known by on their own: their account, their Entra object id,
    /// their verified addresses. Two principals sharing one of them are one person.
    pub fn own_keys(&self) -> BTreeSet<PersonKey> {
        let mut keys = BTreeSet::from([PersonKey::Account(self.account.clone())]);
        keys.extend(self.entra_id.iter().cloned().map(PersonKey::Entra));
        keys.extend(self.emails.iter().cloned().map(PersonKey::Email));
        keys
    }
}

/// A key under which a decision counts: one of them shared means one person. The owner entry a
/// person was matched to counts too, so that one owner entry is one vote however many accounts
/// match it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PersonKey {
    /// An owner entry as configured: `bob@example.com`, `slack:U…`, `teams:…`.
    Owner(String),
    Entra(String),
    Email(String),
    Account(Account),
}

impl fmt::Display for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Owner(entry) => write!(f, "owner:{entry}"),
            Self::Entra(id) => write!(f, "entra:{id}"),
            Self::Email(email) => write!(f, "email:{email}"),
            Self::Account(account) => write!(f, "account:{account}"),
        }
    }
}

impl FromStr for PersonKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some(("owner", entry)) => Ok(Self::Owner(entry.to_string())),
            Some(("entra", id)) => Ok(Self::Entra(id.to_string())),
            Some(("email", email)) => Ok(Self::Email(email.to_string())),
            Some(("account", account)) => Ok(Self::Account(account.parse()?)),
            _ => Err(format!("`{text}` is not a person key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guid_is_five_groups_of_hex_digits_in_lower_case() {
        let guid = Guid::parse("A1B2C3D4-e5f6-7890-abcd-EF0123456789").unwrap();
        assert_eq!(guid.as_str(), "a1b2c3d4-e5f6-7890-abcd-ef0123456789");
        for text in [
            "",
            "{{MICROSOFT_APP_ID}}",
            "11111111222233334444555555555555",
            "{11111111-2222-3333-4444-555555555555}",
            " 11111111-2222-3333-4444-555555555555",
            "11111111-2222-3333-4444-55555555555",
            "11111111-2222-3333-4444-555555555555-6",
            "g1111111-2222-3333-4444-555555555555",
        ] {
            assert!(Guid::parse(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn accounts_round_trip_through_their_keys() {
        let account = Account::new(Platform::Teams, "6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B");
        assert_eq!(account.key(), "teams:6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
        assert_eq!(account.key().parse::<Account>(), Ok(account.clone()));
        let json = serde_json::to_string(&account).unwrap();
        assert_eq!(serde_json::from_str::<Account>(&json).unwrap(), account);
        assert!("slack:".parse::<Account>().is_err());
        assert!("irc:nick".parse::<Account>().is_err());
    }

    #[test]
    fn person_keys_round_trip_through_text() {
        for key in [
            PersonKey::Owner("slack:U0BOB".into()),
            PersonKey::Entra("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b".into()),
            PersonKey::Email("bob@example.com".into()),
            PersonKey::Account(Account::new(Platform::Slack, "U0BOB")),
        ] {
            assert_eq!(key.to_string().parse::<PersonKey>(), Ok(key));
        }
    }

    #[test]
    fn a_teams_account_is_its_entra_id_and_emails_are_normalised() {
        let person = Principal::new(Account::new(Platform::Teams, "AB"))
            .with_emails(["Bob@Example.com".to_string(), "bob@example.com".to_string()]);
        assert_eq!(person.entra_id.as_deref(), Some("ab"));
        assert_eq!(person.emails, ["bob@example.com"]);
        assert!(person.has_email("BOB@example.com"));
        let slack = Principal::new(Account::new(Platform::Slack, "U0BOB"));
        assert_eq!(slack.entra_id, None);
        assert_eq!(slack.own_keys().len(), 1);
    }
}
