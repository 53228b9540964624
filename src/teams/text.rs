//! Teams' text conventions: names instead of ids, UTC dates, Markdown bold.

use chrono::{DateTime, Utc};

use crate::access::names::Names;
use crate::domain::Owner;
use crate::domain::wording::Style;

/// Dates in plain messages, in UTC: only cards can show a date in each reader's own zone.
pub fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A date that a card's `TextBlock` or `FactSet` shows in each reader's own zone and language:
/// Teams expands `{{DATE()}}` and `{{TIME()}}` on the reader's device.
pub fn card_date(at: DateTime<Utc>) -> String {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("{{{{DATE({at}, SHORT)}}}} {{{{TIME({at})}}}}")
}

fn bold(text: &str) -> String {
    format!("**{text}**")
}

pub fn owner(owner: &Owner) -> String {
    match owner {
        Owner::Email(email) => email.clone(),
        Owner::SlackUser(id) => format!("slack:{id}"),
        Owner::TeamsUser(id) => format!("teams:{id}"),
        directory => directory.to_string(),
    }
}

/// Runs `f` with the Teams style, showing people by these names.
pub fn with_style<R>(names: &Names, f: impl FnOnce(&Style) -> R) -> R {
    styled(names, &date, bold, f)
}

/// As `with_style`, for text shown in a card's `TextBlock`: dates in each reader's zone.
pub fn with_card_style<R>(names: &Names, f: impl FnOnce(&Style) -> R) -> R {
    styled(names, &card_date, bold, f)
}

/// The Teams style for text sent as plain text because it carries what people typed or chose:
/// no Markdown, so nothing in it can format or link.
pub fn with_plain_style<R>(names: &Names, f: impl FnOnce(&Style) -> R) -> R {
    styled(names, &date, str::to_owned, f)
}

fn styled<R>(
    names: &Names,
    date: &dyn Fn(DateTime<Utc>) -> String,
    bold: fn(&str) -> String,
    f: impl FnOnce(&Style) -> R,
) -> R {
    let mention = |key: &str| names.show(key);
    let style = Style {
        mention: &mention,
        owner: &owner,
        date,
        bold,
        // Teams messages that carry such text are sent as plain text.
        literal: str::to_owned,
        command: "jit",
    };
    f(&style)
}
