//! Who someone is: a user of one chat platform, known by an email once we have looked it up.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

/// Whether `text` is a GUID such as Entra object ids: 8-4-4-4-12 hex digits.
pub fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A person as a chat platform knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub platform: Platform,
    /// The platform's own id: `U024BE7LH` in Slack, the `29:` id or AAD object id in Teams.
    pub user_id: String,
    /// Lower-cased email, when known. It is how owners listed by email are matched.
    pub email: Option<String>,
}

impl Person {
    pub fn new(platform: Platform, user_id: impl Into<String>) -> Self {
        Self {
            platform,
            user_id: user_id.into(),
            email: None,
        }
    }

    pub fn with_email(mut self, email: Option<String>) -> Self {
        self.email = email.map(|e| e.trim().to_ascii_lowercase());
        self
    }

    /// `slack:U024BE7LH`: unique across platforms, the form owners may be listed in.
    pub fn key(&self) -> String {
        format!("{}:{}", self.platform, self.user_id)
    }

    /// Same person, by platform id or by email.
    pub fn is(&self, other: &Person) -> bool {
        self.key() == other.key()
            || matches!((&self.email, &other.email), (Some(a), Some(b)) if a == b)
    }
}
