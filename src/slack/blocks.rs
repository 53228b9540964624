//! Block Kit rendering of a request: the approval card and the visible message in the thread.

use chrono::{DateTime, Utc};
use slack_morphism::prelude::*;

use super::text::{date, mention, status_line};
use super::{APPROVE_ACTION, DENY_ACTION};
use crate::domain::{AccessRequest, RequestStatus, Verdict};
use crate::store::decisions::Decision;

/// Everything a message about one request shows.
pub struct RequestView<'a> {
    pub request: &'a AccessRequest,
    pub description: &'a str,
    pub decisions: &'a [Decision],
    pub approvals_required: u32,
    /// Owners as Slack shows them: `<@U…>`, or an email when they are not in the workspace.
    pub owners: &'a [String],
    pub now: DateTime<Utc>,
}

/// The approval card: who wants what, why, and — while pending — Approve and Deny buttons.
pub fn card(view: &RequestView) -> (String, Vec<SlackBlock>) {
    let request = view.request;
    let requester = mention(&request.requester.key());
    let fallback = format!(
        "Access request #{}: {requester} asks for {} for {} — {}",
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
                "{requester} asks for *{}* for *{}*",
                request.group, request.duration
            )))
            .with_fields(vec![
                md!(format!("*Group*\n{group}")),
                md!(format!("*Duration*\n{}", request.duration)),
                md!(format!("*Requested*\n{}", date(request.requested_at))),
                md!(format!("*Status*\n{}", status_line(request, view.now))),
            ])
            .into(),
        SlackSectionBlock::new()
            .with_text(md!(format!("*Justification*\n>{}", request.justification)))
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
        let verb = match decision.verdict {
            Verdict::Approve => "✅ Approved",
            Verdict::Deny => "⛔ Denied",
        };
        blocks.push(
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                SlackBlockMarkDownText::new(format!(
                    "{verb} by {} {}",
                    mention(&decision.decider_key),
                    date(decision.decided_at)
                )),
            )])
            .into(),
        );
    }
    if request.status == RequestStatus::Pending {
        blocks.push(decision_buttons(request.id).into());
    }
    (fallback, blocks)
}

fn decision_buttons(request_id: i64) -> SlackActionsBlock {
    let button = |action: &str, label: &str, style: SlackBlockButtonStyle| {
        SlackBlockButtonElement::new(label.into())
            .with_action_id(action.into())
            .with_value(request_id.to_string())
            .with_style(style)
            .into()
    };
    SlackActionsBlock::new(vec![
        button(APPROVE_ACTION, "Approve", SlackBlockButtonStyle::Primary),
        button(DENY_ACTION, "Deny", SlackBlockButtonStyle::Danger),
    ])
    .with_block_id(format!("jit_decision_{request_id}").into())
}

/// The visible message in the channel where the request was made: "request #N: … — pending".
pub fn thread_root(view: &RequestView) -> (String, Vec<SlackBlock>) {
    let request = view.request;
    let text = format!(
        "request #{}: {} asks for *{}* for {} — {}",
        request.id,
        mention(&request.requester.key()),
        request.group,
        request.duration,
        status_line(request, view.now)
    );
    let blocks = vec![SlackSectionBlock::new().with_text(md!(text.clone())).into()];
    (text, blocks)
}
