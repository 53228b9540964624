//! Slack's text conventions: mentions, dates, and the plain replies to `/jit` commands.

use chrono::{DateTime, Utc};

use crate::domain::duration::describe_remaining;
use crate::domain::{AccessRequest, Notice, Owner, Policy, RequestStatus};

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
    }
}

/// One line on where a request stands, used by the card, the thread root and `/jit status`.
/// It holds no "time left": messages are re-rendered on transitions only, so it would go stale.
pub fn status_line(request: &AccessRequest) -> String {
    match request.status {
        RequestStatus::Pending => "⏳ pending".to_string(),
        RequestStatus::Approved => "✅ approved — granting access…".to_string(),
        RequestStatus::Denied => "⛔ denied".to_string(),
        RequestStatus::Active => match request.expires_at {
            Some(expires_at) => format!("🔓 active until {}", date(expires_at)),
            None => "🔓 active".to_string(),
        },
        RequestStatus::Revoking => "🔒 removing access…".to_string(),
        RequestStatus::Ended => match request.ended_at {
            Some(ended_at) => format!("⌛ ended {}", date(ended_at)),
            None => "⌛ ended".to_string(),
        },
        RequestStatus::Failed => "⚠️ failed: access could not be granted".to_string(),
        RequestStatus::Cancelled => "🚫 cancelled".to_string(),
    }
}

pub fn notice(notice: &Notice) -> String {
    match notice {
        Notice::Approved { by } => format!("✅ Approved by {}. Granting access…", mention(by)),
        Notice::Denied { by } => format!("⛔ Denied by {}.", mention(by)),
        Notice::Granted { expires_at } => {
            format!("🔓 Access granted. It ends {}.", date(*expires_at))
        }
        Notice::Ended { kept: false } => "🔒 Time is up: the access has been removed.".to_string(),
        Notice::Ended { kept: true } => "⌛ Time is up. You were a member before this request, so that access was left in place.".to_string(),
        Notice::GrantFailed { error } => format!(
            "⚠️ Granting access failed after several attempts, so the request has failed. The owners have been told. ({error})"
        ),
        Notice::Cancelled { reason } => format!("🚫 This request was cancelled. {reason}"),
        Notice::StillFailing { action, attempts, error } => format!(
            "⚠️ The {action} for this request has failed {attempts} times; jitbot keeps retrying. Last error: {error}"
        ),
        Notice::Recovered { action } => format!("✅ The {action} went through after all."),
    }
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

pub fn groups(policy: &Policy) -> String {
    if policy.groups.is_empty() {
        return "No groups can be requested yet. Ask an administrator to add some to jitbot's config.".to_string();
    }
    let mut lines = vec!["*Groups you can request:*".to_string()];
    for group in &policy.groups {
        let owners: Vec<String> = group.owners.iter().map(owner).collect();
        let description = if group.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", group.description)
        };
        lines.push(format!(
            "• `{}`{description}\n   up to {} (default {}), approved by {}{}",
            group.name,
            group.max_duration,
            group.default_duration,
            owners.join(", "),
            if group.approvals_required > 1 {
                format!(" ({} approvals needed)", group.approvals_required)
            } else {
                String::new()
            }
        ));
    }
    lines.join("\n")
}

pub fn status(requests: &[AccessRequest], now: DateTime<Utc>) -> String {
    if requests.is_empty() {
        return "You have no pending or active requests. `/jit request <group> [duration] <justification>` asks for one.".to_string();
    }
    let mut lines = vec!["*Your requests:*".to_string()];
    for request in requests {
        let time_left = match (request.status, request.expires_at) {
            (RequestStatus::Active, Some(expires_at)) => {
                format!(" ({} left)", describe_remaining(expires_at - now))
            }
            _ => String::new(),
        };
        lines.push(format!(
            "• #{} `{}` for {} — {}{time_left}",
            request.id,
            request.group,
            request.duration,
            status_line(request)
        ));
    }
    lines.join("\n")
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
