//! Slack's text conventions: mentions, dates, bold — and the help for `/jit`.

use chrono::{DateTime, Utc};

use crate::domain::Owner;
use crate::domain::wording::Style;

/// `slack:U024BE7LH` → `<@U024BE7LH>`; other identities are shown as they are.
pub fn mention(key: &str) -> String {
    match key.strip_prefix("slack:") {
        Some(id) => format!("<@{id}>"),
        None => key.to_string(),
    }
}

/// Turns every `slack:U…` in a sentence into a mention.
pub fn mentionize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("slack:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "slack:".len()..];
        let id_len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let id = &after[..id_len];
        if id.starts_with('U') || id.starts_with('W') {
            out.push_str(&format!("<@{id}>"));
        } else {
            out.push_str("slack:");
            out.push_str(id);
        }
        rest = &after[id_len..];
    }
    out.push_str(rest);
    out
}

/// A date that Slack shows in each reader's own time zone, with a UTC fallback.
pub fn date(at: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

pub fn owner(owner: &Owner) -> String {
    match owner {
        Owner::SlackUser(id) => format!("<@{id}>"),
        Owner::Email(email) => email.clone(),
        Owner::TeamsUser(id) => format!("teams:{id}"),
    }
}

/// Slack's markup for the shared wording in `domain::wording`.
pub const STYLE: Style<'static> = Style {
    mention: &mention,
    owner: &owner,
    date: &date,
    bold,
    command: "/jit",
};

fn bold(text: &str) -> String {
    format!("*{text}*")
}

pub fn help() -> String {
    [
        "*jitbot* gives you time-limited access, approved by the group's owners.",
        "• `/jit request <group> [duration] <justification>` — e.g. `/jit request prod-db 2h fixing INC-4711`. Durations look like `30m`, `2h`, `1h30m`, `1d`; without one you get the group's default.",
        "• `/jit groups` — what you can request, for how long, and who approves.",
        "• `/jit status` — your pending and active requests, with the time left.",
        "• `/jit help` — this message.",
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_slack_users_in_sentences() {
        assert_eq!(
            mentionize("already approved by slack:U0BOB, slack:U0CAROL."),
            "already approved by <@U0BOB>, <@U0CAROL>."
        );
        assert_eq!(mentionize("slack:#general stays"), "slack:#general stays");
        assert_eq!(mention("bob@example.com"), "bob@example.com");
    }
}
