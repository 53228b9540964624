//! How people are shown: display names for person keys (`teams:…`, `slack:…`), looked up once
//! before rendering, so that a decision made on one platform reads well on the other.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::{Platform, Refusal};
use crate::store::{identities, teams};

#[derive(Debug, Default)]
pub struct Names(HashMap<String, String>);

impl Names {
    pub async fn load(app: &App, keys: Vec<String>) -> sqlx::Result<Names> {
        let mut names = HashMap::new();
        for key in keys {
            if let std::collections::hash_map::Entry::Vacant(entry) = names.entry(key) {
                let name = display(app, entry.key()).await?;
                entry.insert(name);
            }
        }
        Ok(Names(names))
    }

    /// The names of the people a refusal speaks of.
    pub async fn for_refusal(app: &App, refusal: &Refusal) -> sqlx::Result<Names> {
        let keys = match refusal {
            Refusal::AlreadyDecided { by: Some(by), .. } => {
                by.split(", ").map(str::to_owned).collect()
            }
            _ => Vec::new(),
        };
        Names::load(app, keys).await
    }

    pub fn show(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| key.to_string())
    }

    /// Replaces every known key in `text` with how `show` presents that person.
    pub fn replace_in(&self, text: &str, show: impl Fn(&str) -> String) -> String {
        // Longest first, so that no key is replaced inside a longer one.
        let mut keys: Vec<&String> = self.0.keys().collect();
        keys.sort_by_key(|key| std::cmp::Reverse(key.len()));
        keys.into_iter().fold(text.to_string(), |text, key| {
            text.replace(key.as_str(), &show(key))
        })
    }
}

/// A person's name as Teams knows it, else their email, else their key.
async fn display(app: &App, key: &str) -> sqlx::Result<String> {
    let any_age = DateTime::<Utc>::MIN_UTC;
    if let Some(aad) = key.strip_prefix("teams:") {
        if let Some(user) = teams::user(&app.db, aad).await?
            && let Some(name) = user.name
        {
            return Ok(name);
        }
        if let Some(Some(email)) =
            identities::email_of(&app.db, Platform::Teams, aad, any_age).await?
        {
            return Ok(email);
        }
    }
    if let Some(id) = key.strip_prefix("slack:")
        && let Some(Some(email)) =
            identities::email_of(&app.db, Platform::Slack, id, any_age).await?
    {
        return Ok(email);
    }
    Ok(key.to_string())
}
