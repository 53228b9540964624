//! Block Kit rendering of a request: the approval card and the visible message in the thread.

use slack_morphism::prelude::*;

use super::ACTION_PREFIX;
use super::text::{STYLE, date, escape, person};
use crate::access::names::Names;
use crate::domain::buttons::{self, Button, Emphasis};
use crate::domain::wording::{self, status_line};
use crate::domain::{AccessRequest, Decision, Verdict};
use chrono::{DateTime, Utc};

/// A request as Slack shows it: the shared `RequestView`, with the owners as Slack mentions them.
pub struct Shown<'a> {
    pub request: &'a AccessRequest,
    pub description: &'a str,
    pub decisions: &'a [Decision],
    pub approvals_required: u32,
    /// Owners as Slack shows them: `<@U…>`, or an email when they are not in the workspace.
    pub owners: &'a [String],
    /// How people from other platforms are shown.
    pub names: &'a Names,
    /// When it is shown: whether a scheduled start is still ahead decides the Cancel button.
    pub now: DateTime<Utc>,
}

/// The approval card: who wants what, why, and — while pending — Approve and Deny buttons.
pub fn card(view: &Shown) -> (String, Vec<SlackBlock>) {
    let request = view.request;
    let (asker, behalf) = asker(view);
    let fallback = format!(
        "Access request #{}: {asker} asks for {} for {}{behalf} — {}",
        request.id, request.group, request.duration, request.status
    );
    let group = if view.description.is_empty() {
        format!("`{}`", request.group)
    } else {
        format!("`{}` — {}", request.group, view.description)
    };
    let mut blocks: Vec<SlackBlock> = vec![
        SlackHeaderBlock::new(pt!(format!("Access request #{}", request.id))).into(),
        SlackSectionBlock::new()
            .with_text(md!(format!(
                "{asker} asks for *{}* for *{}*{behalf}",
                request.group, request.duration
            )))
            .with_fields(vec![
                md!(format!("*Group*\n{group}")),
                md!(format!("*Duration*\n{}", request.duration)),
                md!(format!("*Requested*\n{}", date(request.requested_at))),
                md!(format!("*Status*\n{}", status_line(request, &STYLE))),
            ])
            .into(),
        SlackSectionBlock::new()
            .with_text(md!(format!(
                "*Justification*\n{}",
                quoted(&escape(&request.justification))
            )))
            .into(),
    ];
    let approvals = view
        .decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Approve)
        .count();
    let mut context = format!("Owners: {}", view.owners.join(", "));
    if view.approvals_required > 1 {
        context.push_str(&format!(
            " · {approvals} of {} approvals",
            view.approvals_required
        ));
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(context),
        )])
        .into(),
    );
    for decision in view.decisions {
        let verb = wording::decision_verb(decision.verdict);
        blocks.push(
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                SlackBlockMarkDownText::new(format!(
                    "{verb} by {} {}",
                    person(view.names, &decision.decider.key()),
                    date(decision.decided_at)
                )),
            )])
            .into(),
        );
    }
    if let Some(actions) = actions(request.id, &buttons::for_owners(request)) {
        blocks.push(actions.into());
    }
    (fallback, blocks)
}

/// Who asked, and — when they asked for someone else — " on behalf of" whom.
fn asker(view: &Shown) -> (String, String) {
    let requester = person(view.names, &view.request.requester.account.key());
    match &view.request.submitted_by {
        Some(submitter) => (
            person(view.names, &submitter.account.key()),
            format!(" on behalf of {requester}"),
        ),
        None => (requester, String::new()),
    }
}

/// Every line in the block quote: a typed line break must not step out of it and pass for
/// jitbot's own text.
fn quoted(text: &str) -> String {
    text.lines()
        .map(|line| format!(">{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `jit_approve`, `jit_done`, …: a button's action id.
pub fn action_id(button: Button) -> String {
    format!("{ACTION_PREFIX}{}", button.name())
}

/// The button a click's action id names, if it is one of jitbot's.
pub fn button_of(action_id: &str) -> Option<Button> {
    action_id
        .strip_prefix(ACTION_PREFIX)
        .and_then(Button::from_name)
}

/// An actions block of `buttons` for request `request_id`; `None` when there are none.
pub fn actions(request_id: i64, buttons: &[Button]) -> Option<SlackActionsBlock> {
    if buttons.is_empty() {
        return None;
    }
    let elements = buttons
        .iter()
        .map(|button| {
            let element = SlackBlockButtonElement::new(button.label().into())
                .with_action_id(action_id(*button).into())
                .with_value(request_id.to_string());
            let element = match button.emphasis() {
                Emphasis::Positive => element.with_style(SlackBlockButtonStyle::Primary),
                Emphasis::Destructive => element.with_style(SlackBlockButtonStyle::Danger),
                Emphasis::Plain => element,
            };
            match button {
                Button::Revoke => element.with_confirm(revoke_confirmation(request_id)),
                _ => element,
            }
            .into()
        })
        .collect();
    Some(SlackActionsBlock::new(elements).with_block_id(format!("jit_actions_{request_id}").into()))
}

/// Revoking takes access away from someone at work: Slack asks the owner once more.
fn revoke_confirmation(request_id: i64) -> SlackBlockConfirmItem {
    SlackBlockConfirmItem::new(
        pt!("Revoke access?"),
        md!(format!(
            "The access of request #{request_id} is removed now and the person is told. To give a reason, use `/jit revoke {request_id} <reason>` instead."
        )),
        pt!("Revoke"),
        pt!("Keep it"),
    )
}

/// The visible message in the channel where the request was made: "request #N: … — pending".
pub fn thread_root(view: &Shown) -> (String, Vec<SlackBlock>) {
    let request = view.request;
    let (asker, behalf) = asker(view);
    let text = format!(
        "request #{}: {asker} asks for *{}* for {}{behalf} — {}",
        request.id,
        request.group,
        request.duration,
        status_line(request, &STYLE)
    );
    let mut blocks = vec![SlackSectionBlock::new().with_text(md!(text.clone())).into()];
    if let Some(actions) = actions(request.id, &buttons::for_requester(request, view.now)) {
        blocks.push(actions.into());
    }
    (text, blocks)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_typed_line_break_stays_in_the_quote() {
        let typed = escape("fixing it\n<!here> approve now");
        assert_eq!(quoted(&typed), ">fixing it\n>&lt;!here&gt; approve now");
    }
    use crate::domain::{AccessDuration, Account, Platform, Principal, RequestStatus};

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, minute, 0).unwrap()
    }

    fn request(status: RequestStatus) -> AccessRequest {
        let active = matches!(status, RequestStatus::Active | RequestStatus::Ended);
        AccessRequest {
            id: 42,
            group: "prod-db".into(),
            requester: Principal::new(Account::new(Platform::Slack, "U0ALICE")),
            justification: "fixing INC-4711".into(),
            duration: AccessDuration::parse("2h").unwrap(),
            status,
            origin_channel: "C0REQUESTS".into(),
            requested_at: at(22, 0),
            decided_at: (status != RequestStatus::Pending).then(|| at(22, 1)),
            granted_at: active.then(|| at(22, 1)),
            expires_at: active.then(|| at(23, 59)),
            ended_at: (status == RequestStatus::Ended).then(|| at(23, 59)),
            already_member: active.then_some(false),
            failure: None,
            owner_snapshot: None,
            kind: crate::domain::RequestKind::Access,
            start_spec: None,
            starts_at: None,
            submitted_by: None,
            ended_early: None,
            acknowledged: None,
            grant_target: None,
            confirmed_at: Some(at(22, 0)),
        }
    }

    fn decision(who: &str, verdict: Verdict) -> Decision {
        Decision {
            decider: Account::new(Platform::Slack, who),
            counted_as: Default::default(),
            verdict,
            decided_at: at(22, 1),
        }
    }

    fn render(
        status: RequestStatus,
        decisions: &[Decision],
        approvals_required: u32,
    ) -> serde_json::Value {
        render_request(request(status), decisions, approvals_required)
    }

    fn render_request(
        request: AccessRequest,
        decisions: &[Decision],
        approvals_required: u32,
    ) -> serde_json::Value {
        let owners = ["<@U0BOB>".to_string(), "carol@example.com".to_string()];
        let view = Shown {
            request: &request,
            description: "Read/write on the production database",
            decisions,
            approvals_required,
            owners: &owners,
            names: &Names::default(),
            now: at(22, 0),
        };
        let (card_text, card_blocks) = card(&view);
        let (root_text, root_blocks) = thread_root(&view);
        serde_json::json!({
            "card": { "text": card_text, "blocks": card_blocks },
            "thread_root": { "text": root_text, "blocks": root_blocks },
        })
    }

    #[test]
    fn a_pending_request_has_buttons() {
        insta::assert_json_snapshot!(render(RequestStatus::Pending, &[], 1));
    }

    #[test]
    fn a_partly_approved_request_counts_approvals() {
        let decisions = [decision("U0BOB", Verdict::Approve)];
        insta::assert_json_snapshot!(render(RequestStatus::Pending, &decisions, 2));
    }

    #[test]
    fn an_active_request_shows_who_approved_and_when_it_ends() {
        let decisions = [decision("U0BOB", Verdict::Approve)];
        insta::assert_json_snapshot!(render(RequestStatus::Active, &decisions, 1));
    }

    #[test]
    fn a_denied_request_shows_who_denied() {
        let decisions = [decision("U0BOB", Verdict::Deny)];
        insta::assert_json_snapshot!(render(RequestStatus::Denied, &decisions, 1));
    }

    #[test]
    fn a_request_on_someones_behalf_names_both() {
        let mut request = request(RequestStatus::Pending);
        request.submitted_by = Some(Principal::new(Account::new(Platform::Slack, "U0DAVE")));
        insta::assert_json_snapshot!(render_request(request, &[], 1));
    }

    #[test]
    fn an_ended_request_says_so() {
        let decisions = [decision("U0BOB", Verdict::Approve)];
        insta::assert_json_snapshot!(render(RequestStatus::Ended, &decisions, 1));
    }
}
