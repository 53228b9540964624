//! How people are shown: display names for person keys (`teams:…`, `slack:…`), looked up once
//! before rendering, so that a decision made on one platform reads well on the other.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::{Account, Platform, Refusal};
use crate::store::{self, Connection, Db, identities, teams};

#[derive(Debug, Default)]
pub struct Names(HashMap<String, String>);

impl Names {
    pub async fn load(db: &Db, accounts: Vec<Account>) -> store::Result<Names> {
        let mut names = HashMap::new();
        if accounts.is_empty() {
            return Ok(Names(names));
        }
        let db = db.read()?;
        for account in accounts {
            if let std::collections::hash_map::Entry::Vacant(entry) = names.entry(account.key()) {
                entry.insert(display(&db, &account)?);
            }
        }
        Ok(Names(names))
    }

    /// The names of the people a refusal speaks of.
    pub async fn for_refusal(db: &Db, refusal: &Refusal) -> store::Result<Names> {
        let accounts = match refusal {
            Refusal::AlreadyDecided { by, .. } => by.clone(),
            _ => Vec::new(),
        };
        Names::load(db, accounts).await
    }

    pub fn show(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| key.to_string())
    }

    /// Replaces every known key in `text` with how `show` presents that person, in one pass:
    /// a name that looks like another key (a Teams user called `slack:U…`) stays a name.
    pub fn replace_in(&self, text: &str, show: impl Fn(&str) -> String) -> String {
        // Longest first, so that no key is replaced inside a longer one.
        let mut keys: Vec<&String> = self.0.keys().filter(|key| !key.is_empty()).collect();
        keys.sort_by_key(|key| std::cmp::Reverse(key.len()));
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while let Some(next) = rest.chars().next() {
            for key in &keys {
                if let Some(after) = rest.strip_prefix(key.as_str()) {
                    out.push_str(&show(key));
                    rest = after;
                    continue 'scan;
                }
            }
            out.push(next);
            rest = &rest[next.len_utf8()..];
        }
        out
    }
}

/// A person's name as Teams knows it, else their preferred verified address, else their key.
fn display(db: &Connection, account: &Account) -> store::Result<String> {
    let any_age = DateTime::<Utc>::MIN_UTC;
    if account.platform == Platform::Teams
        && let Some(user) = teams::user(db, &account.id)?
        && let Some(name) = user.name
    {
        return Ok(name);
    }
    let addresses =
        identities::addresses_of(db, account.platform, &account.id, any_age)?.unwrap_or_default();
    Ok(addresses
        .into_iter()
        .next()
        .unwrap_or_else(|| account.key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_each_key_once_and_never_inside_a_name() {
        let names = Names(HashMap::from([
            ("teams:abc".to_string(), "slack:U0BOB".to_string()),
            ("slack:U0BOB".to_string(), "bob@example.com".to_string()),
        ]));
        let shown = names.replace_in("by teams:abc, slack:U0BOB.", |key| {
            if key.starts_with("slack:") {
                "<@U0BOB>".to_string()
            } else {
                names.show(key)
            }
        });
        assert_eq!(shown, "by slack:U0BOB, <@U0BOB>.");
    }
}
