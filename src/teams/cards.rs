//! Adaptive Cards for a request: the approval card, the requester's status card, and help —
//! templates from `adaptive-cards/` expanded with the request's data.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::identity;
use super::template::expand;
use super::text;
use crate::access::owners;
use crate::app::App;
use crate::domain::wording::status_line;
use crate::domain::{AccessRequest, Principal, RequestStatus, Verdict};
use crate::names::Names;
use crate::store::decisions;

pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

fn parse(name: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("adaptive-cards/{name} is not JSON: {e}"))
}

pub static APPROVAL_TEMPLATE: LazyLock<Value> = LazyLock::new(|| {
    parse(
        "approval-request.json",
        include_str!("../../adaptive-cards/approval-request.json"),
    )
});
pub static STATUS_TEMPLATE: LazyLock<Value> = LazyLock::new(|| {
    parse(
        "request-status.json",
        include_str!("../../adaptive-cards/request-status.json"),
    )
});
pub static HELP_TEMPLATE: LazyLock<Value> =
    LazyLock::new(|| parse("help.json", include_str!("../../adaptive-cards/help.json")));

/// Teams lets at most 60 users get a refreshed, personal view of a card.
const MAX_REFRESH_USERS: usize = 60;

/// Who a card is rendered for: the shared message everyone sees, or one person's own view
/// (the answer to their click or refresh).
pub enum Viewer<'a> {
    Everyone,
    Person(&'a Principal),
}

/// The data of `approval-request.json` and `request-status.json`.
pub async fn request_data(
    app: &App,
    request: &AccessRequest,
    viewer: Viewer<'_>,
) -> anyhow::Result<Value> {
    let group = owners::group_of(app, request);
    let group = group.as_ref();
    let decisions = decisions::of_request(&app.db, request.id).await?;
    let requester_key = request.requester.account.key();
    let mut accounts = vec![request.requester.account.clone()];
    accounts.extend(decisions.iter().map(|d| d.decider.clone()));
    let names = Names::load(app, accounts).await?;

    let owners = group.map(|g| g.owners.as_slice()).unwrap_or_default();
    let mut owner_mris = Vec::new();
    let mut every_owner_reachable = true;
    for owner in owners {
        match identity::owner_mri(app, owner).await? {
            Some(mri) => owner_mris.push(mri),
            None => every_owner_reachable = false,
        }
    }
    owner_mris.truncate(MAX_REFRESH_USERS);
    let pending = request.status == RequestStatus::Pending;
    // Owners see the buttons through `refresh.userIds`, everyone else sees the state. An owner
    // Teams cannot name there (never talked to the bot) would see no buttons at all, so then
    // the shared card keeps them; every click is authorised anyway.
    let show_actions = match viewer {
        Viewer::Everyone => pending && !every_owner_reachable,
        Viewer::Person(person) => {
            pending
                && request.confirmed_at.is_some()
                && group.is_some_and(|g| {
                    let keys = g.keys_of(person);
                    g.is_owner(person)
                        && (g.allow_self_approval
                            || keys.is_disjoint(&g.keys_of(&request.requester)))
                        && decisions.iter().all(|d| d.counted_as.is_disjoint(&keys))
                })
        }
    };
    let approvals = decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Approve)
        .count();
    let required = group.map(|g| g.approvals_required).unwrap_or(1);
    let (status_text, decision_lines) = text::with_style(&names, |style| {
        let lines: Vec<Value> = decisions
            .iter()
            .map(|d| {
                let verb = match d.verdict {
                    Verdict::Approve => "✅ Approved",
                    Verdict::Deny => "⛔ Denied",
                };
                json!({ "text": format!("{verb} by {} · {}", (style.mention)(&d.decider.key()), text::date(d.decided_at)) })
            })
            .collect();
        (status_line(request, style), lines)
    });
    let description = group.map(|g| g.description.as_str()).unwrap_or_default();
    Ok(json!({
        "requestId": request.id,
        "title": format!("Access request #{}", request.id),
        "requester": names.show(&requester_key),
        "group": request.group,
        "groupLine": if description.is_empty() { request.group.clone() } else { format!("{} — {description}", request.group) },
        "duration": request.duration.to_string(),
        "justification": request.justification,
        "requestedAt": text::date(request.requested_at),
        "owners": owners.iter().map(text::owner).collect::<Vec<_>>().join(", "),
        "statusLine": status_text,
        "statusColor": status_color(request.status),
        "approvals": if required > 1 { format!("{approvals} of {required} approvals") } else { String::new() },
        "decisions": decision_lines,
        "showActions": show_actions,
        "hasRefresh": pending && !owner_mris.is_empty(),
        "refreshUserIds": owner_mris,
    }))
}

fn status_color(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending | RequestStatus::Revoking => "Accent",
        RequestStatus::Approved | RequestStatus::Active => "Good",
        RequestStatus::Denied | RequestStatus::Failed => "Attention",
        RequestStatus::Ended | RequestStatus::Cancelled => "Default",
    }
}

pub async fn approval(
    app: &App,
    request: &AccessRequest,
    viewer: Viewer<'_>,
) -> anyhow::Result<Value> {
    let data = request_data(app, request, viewer).await?;
    Ok(expand(&APPROVAL_TEMPLATE, &data)?)
}

pub async fn status(app: &App, request: &AccessRequest) -> anyhow::Result<Value> {
    let data = request_data(app, request, Viewer::Everyone).await?;
    Ok(expand(&STATUS_TEMPLATE, &data)?)
}

fn help_data() -> Value {
    let commands = [
        (
            "jit request <group> [duration] <justification>",
            "Ask for access, e.g. jit request prod-db 2h fixing INC-4711",
        ),
        (
            "jit groups",
            "What you can request, for how long, and who approves",
        ),
        (
            "jit status",
            "Your pending and active requests, with the time left",
        ),
        ("jit help", "This card"),
    ];
    json!({
        "commands": commands.iter().map(|(usage, description)| json!({ "usage": usage, "description": description })).collect::<Vec<_>>(),
        "durations": "Durations look like 30m, 2h, 1h30m or 1d; without one you get the group's default.",
    })
}

pub fn help() -> Value {
    expand(&HELP_TEMPLATE, &help_data()).expect("the help template binds only its own data")
}

/// A message activity carrying one card.
pub fn message(card: Value, summary: &str) -> Value {
    json!({
        "type": "message",
        "summary": summary,
        "attachments": [{ "contentType": CONTENT_TYPE, "content": card }],
    })
}

/// A plain text message activity.
pub fn text_message(text: &str) -> Value {
    json!({ "type": "message", "text": text, "textFormat": "markdown" })
}

/// The summary line Teams shows in notifications and chat lists.
pub fn summary(request: &AccessRequest) -> String {
    format!(
        "Access request #{}: {} for {} — {}",
        request.id, request.group, request.duration, request.status
    )
}
