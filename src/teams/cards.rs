//! Adaptive Cards for a request: the approval card, the requester's status card, and help —
//! templates from `adaptive-cards/` expanded with the request's data.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::template::expand;
use super::text;
use crate::access::RequestView;
use crate::domain::wording::{self, status_line};
use crate::domain::{AccessRequest, Principal, RequestStatus};

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

/// Who a card is rendered for: the shared message everyone sees, or one person's own view
/// (the answer to their click or refresh).
pub enum Viewer<'a> {
    Everyone,
    Person(&'a Principal),
}

/// The owners Teams can name (they have talked to the bot): their `29:` ids for
/// `refresh.userIds`, and whether that is every owner.
pub struct Refreshers {
    pub mris: Vec<String>,
    pub every_owner: bool,
}

/// The data of `approval-request.json` and `request-status.json`.
pub fn request_data(view: &RequestView, refreshers: &Refreshers, viewer: Viewer<'_>) -> Value {
    let request = &view.request;
    let names = &view.names;
    let pending = request.status == RequestStatus::Pending;
    // Owners see the buttons through `refresh.userIds`, everyone else sees the state. An owner
    // Teams cannot name there (never talked to the bot) would see no buttons at all, so then
    // the shared card keeps them; every click is authorised anyway.
    let show_actions = match viewer {
        Viewer::Everyone => pending && !refreshers.every_owner,
        Viewer::Person(person) => view.may_decide(person),
    };
    let required = view.approvals_required();
    let (status_text, decision_lines) = text::with_style(names, |style| {
        let lines: Vec<Value> = view
            .decisions
            .iter()
            .map(|d| {
                let verb = wording::decision_verb(d.verdict);
                json!({ "text": format!("{verb} by {} · {}", (style.mention)(&d.decider.key()), text::date(d.decided_at)) })
            })
            .collect();
        (status_line(request, style), lines)
    });
    let description = view.description();
    json!({
        "requestId": request.id,
        "title": format!("Access request #{}", request.id),
        "requester": names.show(&request.requester.account.key()),
        "hasSubmitter": request.submitted_by.is_some(),
        "submitter": request.submitted_by.as_ref().map(|s| names.show(&s.account.key())).unwrap_or_default(),
        "group": request.group,
        "groupLine": if description.is_empty() { request.group.clone() } else { format!("{} — {description}", request.group) },
        "duration": request.duration.to_string(),
        "justification": request.justification,
        "requestedAt": text::date(request.requested_at),
        "owners": view.owners().iter().map(text::owner).collect::<Vec<_>>().join(", "),
        "statusLine": status_text,
        "statusColor": status_color(request.status),
        "approvals": if required > 1 { format!("{} of {required} approvals", view.approvals()) } else { String::new() },
        "decisions": decision_lines,
        "showActions": show_actions,
        "hasRefresh": pending && !refreshers.mris.is_empty(),
        "refreshUserIds": refreshers.mris,
    })
}

fn status_color(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending | RequestStatus::Revoking => "Accent",
        RequestStatus::Approved | RequestStatus::Active => "Good",
        RequestStatus::Denied | RequestStatus::Failed => "Attention",
        RequestStatus::Ended | RequestStatus::Cancelled | RequestStatus::Expired => "Default",
    }
}

pub fn approval(
    view: &RequestView,
    refreshers: &Refreshers,
    viewer: Viewer<'_>,
) -> anyhow::Result<Value> {
    let data = request_data(view, refreshers, viewer);
    Ok(expand(&APPROVAL_TEMPLATE, &data)?)
}

pub fn status(view: &RequestView, refreshers: &Refreshers) -> anyhow::Result<Value> {
    let data = request_data(view, refreshers, Viewer::Everyone);
    Ok(expand(&STATUS_TEMPLATE, &data)?)
}

fn help_data() -> Value {
    let commands = wording::help_commands("jit", "This card");
    json!({
        "commands": commands.iter().map(|(usage, description)| json!({ "usage": usage, "description": description })).collect::<Vec<_>>(),
        "durations": wording::HELP_DURATIONS,
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

/// A message shown as plain text: for anything that carries what someone typed or chose (a
/// reason, a name), which must not become a link or formatting.
pub fn text_message(text: &str) -> Value {
    json!({ "type": "message", "text": text, "textFormat": "plain" })
}

/// A message in Teams' Markdown: only for jitbot's own text and the operator's config.
pub fn markdown_message(text: &str) -> Value {
    json!({ "type": "message", "text": text, "textFormat": "markdown" })
}

/// The summary line Teams shows in notifications and chat lists.
pub fn summary(request: &AccessRequest) -> String {
    format!(
        "Access request #{}: {} for {} — {}",
        request.id, request.group, request.duration, request.status
    )
}
