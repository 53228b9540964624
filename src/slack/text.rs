//! Slack's text conventions: mentions, dates, bold — and the help for `/jit`.

use chrono::{DateTime, Utc};

use crate::access::answer::Answer;
use crate::access::names::Names;
use crate::domain::wording::{self, Style};
use crate::domain::{Owner, Policy};

/// `slack:U024BE7LH` → `<@U024BE7LH>`; other identities are shown as they are, literally.
pub fn mention(key: &str) -> String {
    match key.strip_prefix("slack:") {
        Some(id) => format!("<@{id}>"),
        None => escape(key),
    }
}

/// Text shown literally in mrkdwn: Slack's own escaping of `&`, `<` and `>`, so that what
/// someone typed cannot become `<!channel>`, a `<@U…>` ping or a `<https://…|disguised>` link.
/// (Written by hand: these three replacements are the whole of Slack's escaping.)
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
        Owner::Email(email) => escape(email),
        Owner::TeamsUser(id) => format!("teams:{id}"),
        directory => escape(&directory.to_string()),
    }
}

/// A person as Slack shows them: a mention for Slack users, a name or email for anyone else.
pub fn person(names: &Names, key: &str) -> String {
    match key.strip_prefix("slack:") {
        Some(id) => format!("<@{id}>"),
        None => escape(&names.show(key)),
    }
}

/// Runs `f` with Slack's style, showing people from other platforms by these names.
pub fn with_names<R>(names: &Names, f: impl FnOnce(&Style) -> R) -> R {
    let mention = |key: &str| person(names, key);
    let style = Style {
        mention: &mention,
        ..STYLE
    };
    f(&style)
}

/// A refusal, with the people it speaks of as Slack shows them.
pub fn refusal(names: &Names, refusal: &crate::domain::Refusal) -> String {
    names.replace_in(&escape(&refusal.to_string()), |key| person(names, key))
}

/// Slack's markup for the shared wording in `domain::wording`.
pub const STYLE: Style<'static> = Style {
    mention: &mention,
    owner: &owner,
    date: &date,
    bold,
    literal: escape,
    command: "/jit",
};

fn bold(text: &str) -> String {
    format!("*{text}*")
}

/// A command's answer as Slack shows it.
pub fn answer(answer: &Answer, policy: &Policy) -> String {
    match answer {
        Answer::Help => help(),
        Answer::Groups => wording::groups(policy, &STYLE),
        Answer::Status {
            open,
            owner,
            names,
            now,
        } => with_names(names, |style| wording::status(open, owner, *now, style)),
        Answer::Form { groups } if groups.is_empty() => wording::nothing_to_request("/jit"),
        Answer::Form { .. } => wording::OPENING_FORM.to_string(),
        Answer::Submitted(submitted) => wording::submitted(
            submitted.id,
            &submitted.group,
            &submitted.duration,
            submitted.break_glass,
            submitted.start.as_deref(),
            submitted
                .on_behalf_of
                .as_ref()
                .map(|person| (STYLE.mention)(&person.key()))
                .as_deref(),
        ),
        Answer::Acted(acted) => wording::acted(acted),
        Answer::Refused(why, names) => refusal(names, why),
    }
}

/// The answer to `/jit help`: the shared wording, as Slack shows it.
pub fn help() -> String {
    let mut lines = vec![bold(wording::HELP_INTRO)];
    for (usage, description) in wording::help_commands("/jit", "This message") {
        lines.push(format!("• `{}` — {description}.", escape(&usage)));
    }
    lines.push(wording::HELP_DURATIONS.to_string());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_slack_users_as_mentions_and_others_by_name() {
        let names = Names::default();
        assert_eq!(person(&names, "slack:U0BOB"), "<@U0BOB>");
        assert_eq!(person(&names, "teams:abc"), "teams:abc");
        assert_eq!(mention("bob@example.com"), "bob@example.com");
    }
}
