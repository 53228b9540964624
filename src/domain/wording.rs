//! What jitbot says, once for every platform: status lines, notices, and the replies to
//! `groups` and `status`. A `Style` supplies each platform's markup.

use chrono::{DateTime, Utc};

use super::duration::describe_remaining;
use super::{
    AccessRequest, EarlyEnd, GroupPolicy, Listing, Notice, Owner, OwnerStatus, Owners, Policy,
    Refusal, RequestKind, RequestStatus,
};

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
        (RequestStatus::Pending, RequestKind::Extension { of }) => {
            format!("⏳ pending: {} more for request #{of}", request.duration)
        }
        (RequestStatus::Pending, _) if request.starts_at.is_some() => {
            format!("⏳ pending — would start {}", date(request.starts_at))
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

/// How ended access ended: on time, released early, or revoked by an owner.
fn ended(request: &AccessRequest, style: &Style) -> String {
    let when = request
        .ended_at
        .map(|at| format!(" {}", (style.date)(at)))
        .unwrap_or_default();
    match &request.ended_early {
        None => format!("⌛ ended{when}"),
        Some(EarlyEnd::Released) => format!("⌛ released early{when}"),
        // The reason goes to the person and the owners as a notice; a status line may be shown
        // where typed text would be read as markup.
        Some(EarlyEnd::Revoked { by, .. }) => {
            format!("⛔ revoked by {}{when}", (style.mention)(&by.key()))
        }
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
        // Listed rather than `_`: a new notice must be worded somewhere, or this does not compile.
        Notice::EndingSoon { .. }
        | Notice::Released
        | Notice::Revoked { .. }
        | Notice::Expired
        | Notice::Reminder { .. }
        | Notice::ExtensionAsked { .. }
        | Notice::Extended { .. }
        | Notice::ExtensionLapsed { .. }
        | Notice::Scheduled { .. }
        | Notice::ApprovedByPolicy { .. }
        | Notice::OnBehalf { .. }
        | Notice::Acknowledged { .. }
        | Notice::AcknowledgeReminder => lifecycle_notice(notice, style),
    }
}

/// The notices of the lifecycle beyond approval: ending soon, early ends, timeouts, extensions,
/// scheduled starts, requests on someone's behalf, break-glass.
fn lifecycle_notice(notice: &Notice, style: &Style) -> String {
    let command = style.command;
    match notice {
        Notice::EndingSoon { expires_at, left } => format!(
            "⏰ Your access ends {} ({left} left). Need more time? Extend it; finished? Say you're done and it ends now.",
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
        Notice::Acknowledged { by } => format!("✅ {} reviewed this break-glass use.", (style.mention)(&by.key())),
        Notice::AcknowledgeReminder => "🚨 Reminder: this break-glass use has not been reviewed yet. Press Acknowledge once you have.".to_string(),
        other => unreachable!("{other:?} is worded by `notice`, which sends only these here"),
    }
}

/// In a shared conversation, instead of a refusal notice that went to the requester privately.
pub fn told_privately(notice: &Notice, style: &Style) -> String {
    let what = match notice {
        Notice::GrantRefused { .. } => {
            "⛔ The request was approved, but the access was not granted".to_string()
        }
        Notice::Revoked { by, .. } => {
            format!("⛔ {} ended this access early", (style.mention)(&by.key()))
        }
        _ => "🚫 This request was cancelled".to_string(),
    };
    format!("{what}. I've told the requester why in a direct message.")
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
    let line = |usage: &str, what: &str| (format!("{command} {usage}"), what.to_string());
    vec![
        (
            format!("{command} request"),
            "A form: pick a group, say for how long and why".to_string(),
        ),
        (
            format!(
                "{command} request <group> [duration] [for @person] [from <when>] <justification>"
            ),
            format!(
                "Ask for access, e.g. {command} request prod-db 2h fixing INC-4711; `from tomorrow 09:00` (your time zone) schedules the start; `for @bob` asks on behalf of someone you manage or are a delegate for"
            ),
        ),
        line(
            "groups",
            "What you can request, for how long, and who approves",
        ),
        line(
            "status",
            "Your pending and active requests, with the time left; for owners also the requests awaiting your decision and who holds your groups now",
        ),
        line(
            "extend <number> [duration]",
            "More time on your active access, within the group's limit",
        ),
        line("done <number>", "End your access now (I'm done)"),
        line(
            "cancel <number>",
            "Withdraw a request before it is decided or starts",
        ),
        line(
            "revoke <number> <reason>",
            "Owners: end someone's access now; they are told why",
        ),
        line("ack <number>", "Owners: mark a break-glass use as reviewed"),
        line(
            "breakglass <group> <reason>",
            "Emergency access where the group allows it: granted at once, reviewed by the owners afterwards",
        ),
        line("help", help_is),
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

/// The answer to `status`: the person's open requests, with the time left on active ones, and
/// for an owner what awaits their decision and who holds their groups now.
pub fn status(
    open: &[AccessRequest],
    owner: &OwnerStatus,
    now: DateTime<Utc>,
    style: &Style,
) -> String {
    let mut parts = vec![own_requests(open, now, style)];
    if !owner.awaiting.is_empty() {
        let mut lines = vec![(style.bold)("Awaiting your decision:")];
        lines.extend(
            owner
                .awaiting
                .requests
                .iter()
                .map(|r| awaiting(r, now, style)),
        );
        lines.extend(more(&owner.awaiting));
        parts.push(lines.join("\n"));
    }
    if !owner.holding.is_empty() {
        let mut lines = vec![(style.bold)("Access to your groups now:")];
        lines.extend(
            owner
                .holding
                .requests
                .iter()
                .map(|r| holding(r, now, style)),
        );
        lines.extend(more(&owner.holding));
        parts.push(lines.join("\n"));
    }
    parts.join("\n\n")
}

fn own_requests(requests: &[AccessRequest], now: DateTime<Utc>, style: &Style) -> String {
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

/// How long a justification may run in a list; the card shows all of it.
const JUSTIFICATION_SHOWN: usize = 80;

/// One request awaiting the owner: who asks for what, for how long, since when, and why — the
/// reason on one line, shortened, and shown literally.
fn awaiting(request: &AccessRequest, now: DateTime<Utc>, style: &Style) -> String {
    let one_line: String = request
        .justification
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut reason: String = one_line.chars().take(JUSTIFICATION_SHOWN).collect();
    if reason.len() < one_line.len() {
        reason.push('…');
    }
    format!(
        "• #{} {} asks for `{}` for {} — asked {} ago: “{}”",
        request.id,
        (style.mention)(&request.requester.account.key()),
        request.group,
        request.duration,
        describe_remaining(now - request.requested_at),
        (style.literal)(&reason),
    )
}

/// One grant in a group the owner owns: who holds it and for how much longer.
fn holding(request: &AccessRequest, now: DateTime<Utc>, style: &Style) -> String {
    let left = match request.expires_at {
        Some(expires_at) => format!("{} left", describe_remaining(expires_at - now)),
        None => "active".to_string(),
    };
    format!(
        "• {} holds `{}` (#{}) — {left}",
        (style.mention)(&request.requester.account.key()),
        request.group,
        request.id,
    )
}

/// The line after a shortened list, if it was shortened.
fn more(listing: &Listing) -> Option<String> {
    match (listing.more, listing.at_least) {
        (0, false) => None,
        (0, true) => Some("…and possibly more.".to_string()),
        (n, false) => Some(format!("…and {n} more.")),
        (n, true) => Some(format!("…and at least {n} more.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccessDuration, Account, Platform, Principal};

    fn request(id: i64) -> AccessRequest {
        let requester = Principal::new(Account::new(Platform::Slack, "U0ALICE"));
        AccessRequest {
            id,
            group: "prod-db".into(),
            requester,
            justification: "line one\nline two".into(),
            duration: AccessDuration::parse("1h").unwrap(),
            status: RequestStatus::Pending,
            origin_channel: "C0".into(),
            requested_at: DateTime::<Utc>::MIN_UTC,
            decided_at: None,
            granted_at: None,
            expires_at: None,
            ended_at: None,
            already_member: None,
            failure: None,
            confirmed_at: None,
            owner_snapshot: None,
            kind: crate::domain::RequestKind::Access,
            start_spec: None,
            starts_at: None,
            submitted_by: None,
            ended_early: None,
            acknowledged: None,
            grant_target: None,
        }
    }

    fn plain() -> Style<'static> {
        Style {
            mention: &|key| key.to_string(),
            owner: &|owner| owner.to_string(),
            date: &|at| at.to_rfc3339(),
            bold: str::to_owned,
            literal: str::to_owned,
            command: "jit",
        }
    }

    #[test]
    fn a_long_list_says_how_many_more_there_are() {
        let all: Vec<AccessRequest> = (1..=52).map(request).collect();
        let owner = OwnerStatus {
            awaiting: Listing::first(all, 50, false),
            holding: Listing::default(),
        };
        let now = DateTime::<Utc>::MIN_UTC + chrono::Duration::minutes(90);
        let text = status(&[], &owner, now, &plain());
        assert!(text.ends_with("#50 slack:U0ALICE asks for `prod-db` for 1h — asked 1h 30m ago: “line one line two”\n…and 2 more."), "{text}");
        let bounded = Listing::first(vec![request(1)], 50, true);
        assert_eq!(more(&bounded).as_deref(), Some("…and possibly more."));
    }
}
