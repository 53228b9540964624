//! What jitbot says, once for every platform: status lines, notices, and the replies to
//! `groups` and `status`. A `Style` supplies each platform's markup.

use chrono::{DateTime, Utc};

use super::duration::describe_remaining;
use super::{AccessRequest, GroupPolicy, Notice, Owner, Owners, Policy, Refusal, RequestStatus};

/// How a platform shows people, dates and emphasis.
pub struct Style<'a> {
    /// A person key (`slack:U…`, `teams:…`) as this platform shows it.
    pub mention: &'a dyn Fn(&str) -> String,
    pub owner: &'a dyn Fn(&Owner) -> String,
    pub date: &'a dyn Fn(DateTime<Utc>) -> String,
    pub bold: fn(&str) -> String,
    /// Text someone else typed or chose (a reason, a name), shown literally: it must not ping,
    /// link or format anything.
    pub literal: fn(&str) -> String,
    /// How people type commands here: `/jit` in Slack, `jit` to the bot in Teams.
    pub command: &'a str,
}

/// One line on where a request stands, for cards, thread messages and `status`. It holds no
/// "time left": messages are re-rendered on transitions only, so that would go stale.
pub fn status_line(request: &AccessRequest, style: &Style) -> String {
    match request.status {
        RequestStatus::Pending if request.confirmed_at.is_none() => {
            "🔎 checking the request before the owners are asked…".to_string()
        }
        RequestStatus::Pending => "⏳ pending".to_string(),
        RequestStatus::Approved => "✅ approved — granting access…".to_string(),
        RequestStatus::Denied => "⛔ denied".to_string(),
        RequestStatus::Active => match request.expires_at {
            Some(expires_at) => format!("🔓 active until {}", (style.date)(expires_at)),
            None => "🔓 active".to_string(),
        },
        RequestStatus::Revoking => "🔒 removing access…".to_string(),
        RequestStatus::Ended => match request.ended_at {
            Some(ended_at) => format!("⌛ ended {}", (style.date)(ended_at)),
            None => "⌛ ended".to_string(),
        },
        RequestStatus::Failed => "⚠️ failed: access could not be granted".to_string(),
        RequestStatus::Cancelled => "🚫 cancelled".to_string(),
    }
}

pub fn notice(notice: &Notice, style: &Style) -> String {
    match notice {
        Notice::Approved { by } => format!("✅ Approved by {}. Granting access…", (style.mention)(&by.key())),
        Notice::Denied { by } => format!("⛔ Denied by {}.", (style.mention)(&by.key())),
        Notice::Granted { expires_at } => {
            format!("🔓 Access granted. It ends {}.", (style.date)(*expires_at))
        }
        Notice::Ended { kept: true, .. } => "⌛ Time is up. You were a member before this request, so that access was left in place.".to_string(),
        Notice::Ended { still_held_by: Some(id), .. } => {
            format!("⌛ Time is up for this request. Request #{id} still grants you the same access, so it stays until that one ends.")
        }
        Notice::Ended { .. } => "🔒 Time is up: the access has been removed.".to_string(),
        Notice::GrantFailed { error_id } => format!(
            "⚠️ Granting access failed after several attempts, so the request has failed. Anything a partial grant left behind is being removed, and the owners have been told. (error {error_id})"
        ),
        Notice::Disagreement { detail } => format!("⚠️ {detail}"),
        Notice::GrantRefused { reason } => format!(
            "⛔ The request was approved, but the access was not granted: {}",
            (style.literal)(reason)
        ),
        Notice::Cancelled { reason } => format!("🚫 This request was cancelled. {}", (style.literal)(reason)),
        Notice::StillFailing { action, attempts, error_id } => format!(
            "⚠️ The {action} for this request has failed {attempts} times; jitbot keeps retrying. The log has the details under error {error_id}."
        ),
        Notice::Recovered { action } => format!("✅ The {action} went through after all."),
        Notice::FailedGrantUndone => "🔒 Whatever the failed grant may have done has been undone: the access is removed.".to_string(),
    }
}

/// What `help` says first.
pub const HELP_INTRO: &str =
    "jitbot gives you time-limited access, approved by the group's owners.";

/// What `help` says about durations.
pub const HELP_DURATIONS: &str =
    "Durations look like 30m, 2h, 1h30m or 1d; without one you get the group's default.";

/// The commands `help` lists, as (usage, what it does), for a platform where commands start with
/// `command` (`/jit`, `jit`) and where help is shown as `help_is` ("This card", "This message").
pub fn help_commands(command: &str, help_is: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{command} request"),
            "A form: pick a group, say for how long and why".to_string(),
        ),
        (
            format!("{command} request <group> [duration] <justification>"),
            format!("Ask for access, e.g. {command} request prod-db 2h fixing INC-4711"),
        ),
        (
            format!("{command} groups"),
            "What you can request, for how long, and who approves".to_string(),
        ),
        (
            format!("{command} status"),
            "Your pending and active requests, with the time left".to_string(),
        ),
        (format!("{command} help"), help_is.to_string()),
    ]
}

/// The answer to asking for the form when nothing can be requested now; `command` is how
/// commands are typed on the platform (`/jit`, `jit`).
pub fn nothing_to_request(command: &str) -> String {
    format!(
        "There is nothing you can request with the form right now: you already have a request open for every group you may ask for. `{command} status` shows your requests, `{command} groups` lists every group."
    )
}

/// The private answer while the Slack form opens.
pub const OPENING_FORM: &str = "Opening the request form…";

/// When Slack would not open the form (its trigger lasts 3 seconds).
pub const FORM_FAILED: &str = "Slack would not open the request form just now. Try `/jit` again, or type the request: `/jit request <group> [duration] <justification>`.";

/// The form's title and labels, the same on every platform.
pub const FORM_TITLE: &str = "Request access";
pub const FORM_GROUP: &str = "Group";
pub const FORM_DURATION: &str = "Duration";
pub const FORM_JUSTIFICATION: &str = "Justification";
pub const FORM_SUBMIT: &str = "Request";

/// The duration field's placeholder: the default when every offered group shares it.
pub fn form_duration_placeholder(groups: &[GroupPolicy]) -> String {
    match groups.split_first() {
        Some((first, rest))
            if rest
                .iter()
                .all(|g| g.default_duration == first.default_duration) =>
        {
            format!(
                "{} (the default), or e.g. 30m, 1h30m",
                first.default_duration
            )
        }
        _ => "the group's default, or e.g. 30m, 2h, 1d".to_string(),
    }
}

/// A group as the form's picker offers it.
pub fn form_choice(group: &GroupPolicy) -> String {
    if group.description.is_empty() {
        group.name.clone()
    } else {
        format!("{} — {}", group.name, group.description)
    }
}

/// A refusal of a form's request, said for a form: the typed syntax would not help there.
pub fn form_refusal(refusal: &Refusal) -> String {
    match refusal {
        Refusal::MissingGroup => "Choose a group.".to_string(),
        Refusal::MissingJustification { group } => format!("Say why you need {group}."),
        other => other.to_string(),
    }
}

/// The answer to a form that filed a request.
pub fn form_submitted(id: i64, group: &str, duration: &super::AccessDuration) -> String {
    format!(
        "Request #{id} for {group} ({duration}) received. I'm checking your account now; the owners are asked as soon as that is done."
    )
}

/// How a decision is listed on a card.
pub fn decision_verb(verdict: super::Verdict) -> &'static str {
    match verdict {
        super::Verdict::Approve => "✅ Approved",
        super::Verdict::Deny => "⛔ Denied",
    }
}

/// To the owners, under their cards: PIM had not ended a membership at its expiry.
pub fn pim_disagreement(request_id: i64, group: &str) -> String {
    format!(
        "PIM had not ended the membership of request #{request_id} in {group} at its expiry; jitbot removed it."
    )
}

/// The first answer to `request`: stored, and — truthfully — not yet in front of the owners.
pub fn submitted(id: i64, group: &str, duration: &super::AccessDuration) -> String {
    format!(
        "Request #{id} for `{group}` ({duration}) is received. I'm checking your account now; the owners are asked as soon as that is done, and every update is posted in the request's thread."
    )
}

/// The drift sweep's report to a group's approval channels.
pub fn drift(group: &str, members: &[String], removed: bool) -> String {
    let verb = if removed {
        "were removed"
    } else {
        "are reported"
    };
    format!(
        "⚠️ Drift in `{group}`: {} member(s) of the Entra group hold access without a jitbot grant and {verb}: {}",
        members.len(),
        members.join(", ")
    )
}

/// The answer to `groups`.
pub fn groups(policy: &Policy, style: &Style) -> String {
    if policy.groups.is_empty() {
        return "No groups can be requested yet. Ask an administrator to add some to jitbot's config.".to_string();
    }
    let mut lines = vec![(style.bold)("Groups you can request:")];
    for group in &policy.groups {
        let owners: Vec<String> = match &group.owners {
            Owners::EntraGroup(_) => vec!["the owners of its Entra group".to_string()],
            Owners::Listed(owners) => owners.iter().map(|o| (style.owner)(o)).collect(),
        };
        let description = if group.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", group.description)
        };
        let quorum = if group.approvals_required > 1 {
            format!(" ({} approvals needed)", group.approvals_required)
        } else {
            String::new()
        };
        lines.push(format!(
            "• `{}`{description}\n   up to {} (default {}), approved by {}{quorum}",
            group.name,
            group.max_duration,
            group.default_duration,
            owners.join(", "),
        ));
    }
    lines.join("\n")
}

/// The answer to `status`: the person's open requests, with the time left on active ones.
pub fn status(requests: &[AccessRequest], now: DateTime<Utc>, style: &Style) -> String {
    if requests.is_empty() {
        return format!(
            "You have no pending or active requests. `{} request <group> [duration] <justification>` asks for one.",
            style.command
        );
    }
    let mut lines = vec![(style.bold)("Your requests:")];
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
            status_line(request, style)
        ));
    }
    lines.join("\n")
}
