//! What jitbot says, once for every platform: status lines, notices, and the replies to
//! `groups` and `status`. A `Style` supplies each platform's markup.

use chrono::{DateTime, Utc};

use super::duration::describe_remaining;
use super::{AccessRequest, EarlyEnd, Notice, Owner, Owners, Policy, RequestKind, RequestStatus};

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
    let date = |at: Option<DateTime<Utc>>| at.map(|at| (style.date)(at)).unwrap_or_default();
    let line = match (request.status, request.kind) {
        (RequestStatus::Pending, _) if request.confirmed_at.is_none() => {
            "🔎 checking the request before the owners are asked…".to_string()
        }
        (RequestStatus::Pending, _) => "⏳ pending".to_string(),
        (RequestStatus::Approved, _) if request.starts_at.is_some() => {
            format!("✅ approved — starts {}", date(request.starts_at))
        }
        (RequestStatus::Approved, _) => "✅ approved — granting access…".to_string(),
        (RequestStatus::Denied, _) => "⛔ denied".to_string(),
        (RequestStatus::Active, _) => match request.expires_at {
            Some(expires_at) => format!("🔓 active until {}", (style.date)(expires_at)),
            None => "🔓 active".to_string(),
        },
        (RequestStatus::Revoking, _) => "🔒 removing access…".to_string(),
        (RequestStatus::Ended, RequestKind::Extension { of }) => format!(
            "✅ extended: request #{of} now ends {}",
            date(request.expires_at)
        ),
        (RequestStatus::Ended, _) => ended(request, style),
        (RequestStatus::Failed, _) => "⚠️ failed: access could not be granted".to_string(),
        (RequestStatus::Cancelled, _) => "🚫 cancelled".to_string(),
        (RequestStatus::Expired, _) => "⌛ expired: nobody decided in time".to_string(),
    };
    match (request.kind, &request.acknowledged) {
        (RequestKind::BreakGlass, Some((by, _))) => format!(
            "🚨 break-glass · {line} · reviewed by {}",
            (style.mention)(&by.key())
        ),
        (RequestKind::BreakGlass, None) => format!("🚨 break-glass · {line} · awaiting review"),
        _ => line,
    }
}

/// How ended access ended: on time, released early, or revoked by an owner (with the reason).
fn ended(request: &AccessRequest, style: &Style) -> String {
    let when = request
        .ended_at
        .map(|at| format!(" {}", (style.date)(at)))
        .unwrap_or_default();
    match &request.ended_early {
        None => format!("⌛ ended{when}"),
        Some(EarlyEnd::Released) => format!("⌛ released early{when}"),
        Some(EarlyEnd::Revoked { by, reason }) => format!(
            "⛔ revoked by {}{when}: {}",
            (style.mention)(&by.key()),
            (style.literal)(reason)
        ),
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
        other => lifecycle_notice(other, style),
    }
}

/// The notices of the lifecycle beyond approval: ending soon, early ends, timeouts, extensions,
/// scheduled starts, requests on someone's behalf, break-glass.
fn lifecycle_notice(notice: &Notice, style: &Style) -> String {
    let command = style.command;
    match notice {
        Notice::EndingSoon { expires_at } => format!(
            "⏰ Your access ends {}. Need more time? Extend it; finished? Say you're done and it ends now.",
            (style.date)(*expires_at)
        ),
        Notice::Released => "🔒 You're done: the access is being removed now.".to_string(),
        Notice::Revoked { by, reason } => format!(
            "⛔ {} ended this access early: {}",
            (style.mention)(&by.key()),
            (style.literal)(reason)
        ),
        Notice::Expired => "⌛ Nobody decided on this request in time, so it has expired. Ask again if you still need it.".to_string(),
        Notice::Reminder { expires_at } => format!(
            "⏳ Reminder: this request still waits for a decision. It expires {} if nobody decides.",
            (style.date)(*expires_at)
        ),
        Notice::ExtensionAsked { extension, duration } => format!(
            "⏳ {duration} more was asked for (request #{extension}). The access stays as it is meanwhile; if nobody approves in time it ends at its time."
        ),
        Notice::Extended { until } => format!("🔓 Extended: the access now ends {}.", (style.date)(*until)),
        Notice::ExtensionLapsed { reason } => format!("⌛ The extension was not applied: {}", (style.literal)(reason)),
        Notice::Scheduled { starts_at } => format!(
            "🗓️ Approved ahead: the access starts {} (after your account is checked again then). `{command} cancel` withdraws it until then.",
            (style.date)(*starts_at)
        ),
        Notice::ApprovedByPolicy { rule } => format!("✅ Approved by the group's rules ({rule}). Granting access…"),
        Notice::OnBehalf { by } => format!(
            "👤 {} asked for this access on your behalf. It is yours: you are the one granted, and the one told when it ends.",
            (style.mention)(&by.key())
        ),
        Notice::BreakGlassUsed => "🚨 Break-glass access was taken without approval. An owner must review it: press Acknowledge once you have.".to_string(),
        Notice::Acknowledged { by } => format!("✅ {} reviewed this break-glass use.", (style.mention)(&by.key())),
        Notice::AcknowledgeReminder => "🚨 Reminder: this break-glass use has not been reviewed yet. Press Acknowledge once you have.".to_string(),
        _ => String::new(),
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
pub fn submitted(
    id: i64,
    group: &str,
    duration: &super::AccessDuration,
    break_glass: bool,
    start: Option<&str>,
    on_behalf_of: Option<&str>,
) -> String {
    if let Some(person) = on_behalf_of {
        let start = start.map(|s| format!(", starting {s}")).unwrap_or_default();
        return format!(
            "Request #{id} for `{group}` ({duration}{start}) on behalf of {person} is received. I'm checking both of you now — they must report to you in Microsoft Entra ID, or you must be a delegate of `{group}`; the owners are asked as soon as that is done, and {person} is told directly."
        );
    }
    if break_glass {
        return format!(
            "🚨 Break-glass request #{id} for `{group}` ({duration}) is received. Once your account is checked the access is granted at once; the owners and security are told and will review it."
        );
    }
    let start = start
        .map(|start| format!(", starting {start} your time"))
        .unwrap_or_default();
    format!(
        "Request #{id} for `{group}` ({duration}{start}) is received. I'm checking your account now; the owners are asked as soon as that is done, and every update is posted in the request's thread."
    )
}

/// To the security channel: someone broke the glass.
pub fn break_glass_alarm(request: &AccessRequest) -> String {
    format!(
        "🚨 Break-glass: request #{} took `{}` for {} without approval. The owners have been asked to review it.",
        request.id, request.group, request.duration
    )
}

/// The answer to an action on a request.
pub fn acted(acted: &super::Acted) -> String {
    use super::Acted;
    match acted {
        Acted::Cancelled { id } => format!("🚫 Request #{id} is withdrawn; the owners are told."),
        Acted::Released { id } => {
            format!("🔒 Done: the access of request #{id} is being removed now.")
        }
        Acted::Revoked { id } => {
            format!("⛔ The access of request #{id} is being removed now; the person is told why.")
        }
        Acted::ExtensionAsked {
            id,
            extension,
            duration,
        } => format!(
            "⏳ Asked for {duration} more on request #{id} (extension #{extension}). The access stays as it is meanwhile."
        ),
        Acted::Acknowledged { id } => format!("✅ Break-glass use #{id} is marked as reviewed."),
    }
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
