//! Adaptive Cards for a request: the approval card, the requester's status card, and help —
//! templates from `adaptive-cards/` expanded with the request's data.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::template::expand;
use super::text;
use crate::access::RequestView;
use crate::domain::buttons::{self, Button, Emphasis};
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
pub static NOTICE_TEMPLATE: LazyLock<Value> = LazyLock::new(|| {
    parse(
        "notice-with-actions.json",
        include_str!("../../adaptive-cards/notice-with-actions.json"),
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

impl Refreshers {
    /// The owners' ids, at most `limit` of them (Teams' cap on `refresh.userIds`). When some
    /// owner is left out — unnamed, or beyond the cap — the shared card keeps its buttons, or
    /// that owner could not decide at all.
    pub fn at_most(limit: usize, mut mris: Vec<String>, all_named: bool) -> Refreshers {
        // One person may be listed twice (by email and by id): one entry, in the owners' order.
        let mut seen = std::collections::HashSet::new();
        mris.retain(|mri| seen.insert(mri.clone()));
        let every_owner = all_named && mris.len() <= limit;
        mris.truncate(limit);
        Refreshers { mris, every_owner }
    }
}

/// The data of `approval-request.json` and `request-status.json`.
pub fn request_data(
    view: &RequestView,
    refreshers: &Refreshers,
    viewer: Viewer<'_>,
    now: DateTime<Utc>,
) -> Value {
    let request = &view.request;
    let names = &view.names;
    let pending = request.status == RequestStatus::Pending;
    // Owners see the buttons through `refresh.userIds`, everyone else sees the state. An owner
    // Teams cannot name there (never talked to the bot) would see no buttons at all, so then
    // the shared card keeps them; every click is authorised anyway.
    let show_decision = match viewer {
        Viewer::Everyone => pending && !refreshers.every_owner,
        Viewer::Person(person) => view.may_decide(person),
    };
    // Revoke and Acknowledge come after the decision, when no refresh runs: the shared card
    // (in the owners' channel or chats) carries them, and the core authorises every click.
    let is_owner = match viewer {
        Viewer::Everyone => true,
        Viewer::Person(person) => view.group.as_ref().is_some_and(|g| g.is_owner(person)),
    };
    let owner_buttons: Vec<Button> = buttons::for_owners(request)
        .into_iter()
        .filter(|button| match button {
            Button::Approve | Button::Deny => show_decision,
            _ => is_owner,
        })
        .collect();
    let required = view.approvals_required();
    // The status line is a TextBlock (dates in the reader's zone); decisions are TextRuns, which
    // Teams does not expand dates in.
    let status_text = text::with_card_style(names, |style| status_line(request, style));
    let decision_lines = text::with_style(names, |style| {
        let lines: Vec<Value> = view
            .decisions
            .iter()
            .map(|d| {
                let verb = wording::decision_verb(d.verdict);
                json!({ "text": format!("{verb} by {} · {}", (style.mention)(&d.decider.key()), text::date(d.decided_at)) })
            })
            .collect();
        lines
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
        "requestedAt": text::card_date(request.requested_at),
        "owners": view.owners().iter().map(text::owner).collect::<Vec<_>>().join(", "),
        "statusLine": status_text,
        "statusColor": status_color(request.status),
        "approvals": if required > 1 { format!("{} of {required} approvals", view.approvals()) } else { String::new() },
        "decisions": decision_lines,
        "buttons": buttons_data(&owner_buttons),
        "requesterButtons": buttons_data(&buttons::for_requester(request, now)),
        "hasRefresh": pending && !refreshers.mris.is_empty(),
        "refreshUserIds": refreshers.mris,
    })
}

/// Buttons as the templates draw them: `Action.Execute` with an `Action.Submit` fallback.
pub fn buttons_data(buttons: &[Button]) -> Vec<Value> {
    buttons
        .iter()
        .map(|button| {
            let style = match button.emphasis() {
                Emphasis::Positive => "positive",
                Emphasis::Destructive => "destructive",
                Emphasis::Plain => "default",
            };
            json!({ "verb": super::verb(*button), "title": button.label(), "style": style })
        })
        .collect()
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
    now: DateTime<Utc>,
) -> anyhow::Result<Value> {
    let data = request_data(view, refreshers, viewer, now);
    Ok(expand(&APPROVAL_TEMPLATE, &data)?)
}

pub fn status(
    view: &RequestView,
    refreshers: &Refreshers,
    now: DateTime<Utc>,
) -> anyhow::Result<Value> {
    let data = request_data(view, refreshers, Viewer::Everyone, now);
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

/// A notice of jitbot's own words (no typed text: a TextBlock renders Markdown) in a card of
/// its own, with buttons for request `request_id`.
pub fn with_buttons(text: &str, request_id: i64, buttons: &[Button]) -> anyhow::Result<Value> {
    let data = json!({ "text": text, "requestId": request_id, "buttons": buttons_data(buttons) });
    Ok(expand(&NOTICE_TEMPLATE, &data)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_sixty_owners_the_shared_card_keeps_its_buttons() {
        let mris = |n: usize| {
            (0..n)
                .map(|i| format!("29:owner{i:02}"))
                .collect::<Vec<_>>()
        };
        let sixty = Refreshers::at_most(60, mris(60), true);
        assert!(sixty.every_owner);
        let many = Refreshers::at_most(60, mris(61), true);
        assert_eq!(many.mris.len(), 60);
        assert!(!many.every_owner, "the 61st owner needs the shared buttons");
        assert!(!Refreshers::at_most(60, mris(3), false).every_owner);
    }
}
