//! Teams' text conventions: names instead of ids, UTC dates, Markdown bold.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::wording::Style;
use crate::domain::{Owner, Platform};
use crate::store::{identities, teams};

/// Dates in UTC: Teams cards cannot show a date in each reader's own zone the way Slack can.
pub fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn bold(text: &str) -> String {
    format!("**{text}**")
}

pub fn owner(owner: &Owner) -> String {
    match owner {
        Owner::Email(email) => email.clone(),
        Owner::SlackUser(id) => format!("slack:{id}"),
        Owner::TeamsUser(id) => format!("teams:{id}"),
    }
}

/// Display names for person keys (`teams:…`, `slack:…`), looked up before rendering.
#[derive(Default)]
pub struct Names(HashMap<String, String>);

impl Names {
    pub async fn load(app: &App, keys: Vec<String>) -> sqlx::Result<Names> {
        let mut names = HashMap::new();
        for key in keys {
            if !names.contains_key(&key) {
                let name = display(app, &key).await?;
                names.insert(key, name);
            }
        }
        Ok(Names(names))
    }

    pub fn show(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| key.to_string())
    }

    /// Runs `f` with the Teams style, showing people by these names.
    pub fn with_style<R>(&self, f: impl FnOnce(&Style) -> R) -> R {
        let mention = |key: &str| self.show(key);
        let style = Style {
            mention: &mention,
            owner: &owner,
            date: &date,
            bold,
            command: "jit",
        };
        f(&style)
    }
}

/// A person's name as Teams knows it, else their email, else their id.
async fn display(app: &App, key: &str) -> sqlx::Result<String> {
    let far_past = DateTime::<Utc>::MIN_UTC;
    if let Some(aad) = key.strip_prefix("teams:") {
        if let Some(user) = teams::user(&app.db, aad).await?
            && let Some(name) = user.name
        {
            return Ok(name);
        }
        if let Some(Some(email)) =
            identities::email_of(&app.db, Platform::Teams, aad, far_past).await?
        {
            return Ok(email);
        }
    }
    if let Some(id) = key.strip_prefix("slack:")
        && let Some(Some(email)) =
            identities::email_of(&app.db, Platform::Slack, id, far_past).await?
    {
        return Ok(email);
    }
    Ok(key.to_string())
}
