//! The Slack request form: a modal that `/jit` alone opens, and its submission, which files a
//! request through the same `answer` as the typed one-liner.

use std::time::Duration;
use tracing::Instrument;

use chrono::Utc;
use slack_morphism::prelude::*;

use super::identity;
use super::reply::Reply;
use crate::access::answer::{Answer, answer};
use crate::app::App;
use crate::domain::{
    Command, FormField, GroupPolicy, MAX_JUSTIFICATION_CHARS, Refusal, RequestCommand, wording,
};
use crate::http::{EdgeError, report_internal};

/// The form's `callback_id`: a submission of any other view is not ours.
pub const FORM_CALLBACK: &str = "jit_request_form";
pub const GROUP_BLOCK: &str = "jit_group";
pub const DURATION_BLOCK: &str = "jit_duration";
pub const JUSTIFICATION_BLOCK: &str = "jit_justification";
const GROUP_ACTION: &str = "group";
const DURATION_ACTION: &str = "duration";
const JUSTIFICATION_ACTION: &str = "justification";

/// Slack's limits: 100 options in a select, 75 characters in an option's text.
const MAX_OPTIONS: usize = 100;
const MAX_OPTION_CHARS: usize = 75;

/// Finding out whether the submitter is one of ours must leave time to answer in 3 seconds.
const WORKSPACE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The modal offering `groups`; `channel` (where `/jit` was typed) comes back with the
/// submission, and the request's thread opens there.
pub fn modal(groups: &[GroupPolicy], channel: &str) -> SlackView {
    let options: Vec<_> = groups.iter().take(MAX_OPTIONS).map(choice).collect();
    let mut select = SlackBlockStaticSelectElement::new()
        .with_action_id(GROUP_ACTION.into())
        .with_placeholder(pt!("Choose a group"))
        .with_options(options.clone());
    // One group: nothing to choose.
    if let [only] = options.as_slice() {
        select = select.with_initial_option(only.clone());
    }
    let duration = SlackBlockPlainTextInputElement::new()
        .with_action_id(DURATION_ACTION.into())
        .with_placeholder(pt!(wording::form_duration_placeholder(groups)))
        .with_max_length(20);
    let justification = SlackBlockPlainTextInputElement::new()
        .with_action_id(JUSTIFICATION_ACTION.into())
        .with_placeholder(pt!("e.g. fixing INC-4711"))
        .with_multiline(true)
        .with_max_length(MAX_JUSTIFICATION_CHARS as u64);
    let blocks: Vec<SlackBlock> = vec![
        input(GROUP_BLOCK, wording::FORM_GROUP, select.into()).into(),
        input(DURATION_BLOCK, wording::FORM_DURATION, duration.into())
            .with_optional(true)
            .into(),
        input(
            JUSTIFICATION_BLOCK,
            wording::FORM_JUSTIFICATION,
            justification.into(),
        )
        .into(),
    ];
    SlackView::Modal(
        SlackModalView::new(pt!(wording::FORM_TITLE), blocks)
            .with_submit(pt!(wording::FORM_SUBMIT))
            .with_close(pt!("Cancel"))
            .with_callback_id(FORM_CALLBACK.into())
            .with_private_metadata(channel.to_string()),
    )
}

fn input(block_id: &str, label: &str, element: SlackInputBlockElement) -> SlackInputBlock {
    SlackInputBlock::new(pt!(label), element).with_block_id(block_id.into())
}

fn choice(group: &GroupPolicy) -> SlackBlockChoiceItem<SlackBlockPlainTextOnly> {
    let text: String = wording::form_choice(group)
        .chars()
        .take(MAX_OPTION_CHARS)
        .collect();
    SlackBlockChoiceItem::new(pt!(text), group.name.clone())
}

/// Opens the modal at once, in a task of its own: the slash command is answered without
/// waiting on Slack, and the trigger expires 3 seconds after the command was typed. If Slack
/// refuses, the person is told privately through `response_url` how to ask without the form.
pub fn open(app: &App, trigger_id: String, view: SlackView, response_url: Option<String>) {
    let slack = app.slack.clone();
    let open = async move {
        let Err(error) = slack.api.open_view(&trigger_id, view).await else {
            return;
        };
        tracing::warn!(
            error = format!("{error:#}"),
            "could not open the request form"
        );
        let Some(url) = response_url else { return };
        if let Err(error) = slack
            .api
            .respond_ephemeral(&url, wording::FORM_FAILED)
            .await
        {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not say that the form did not open"
            );
        }
    };
    // In the HTTP span of the slash command, so that a failure is logged with it.
    tokio::spawn(open.in_current_span());
}

/// A `view_submission`: a request like the one-liner's, or the reason shown on its field.
pub async fn submitted(
    app: &App,
    event: SlackInteractionViewSubmissionEvent,
) -> Result<Reply, EdgeError> {
    let channel = origin_channel(&event)?;
    if let Some(refused) = not_ours(app, &event).await {
        return Ok(refused);
    }
    let now = Utc::now();
    // Only the cache, as for the one-liner: the request's check asks Slack about the person.
    let asker = identity::cached(&app.slack, &event.user.id.0, now)
        .await
        .map_err(anyhow::Error::from)?;
    let field = |block: &str, action: &str| field_value(&event.view.state_params, block, action);
    let command = RequestCommand::from_form(
        &field(GROUP_BLOCK, GROUP_ACTION),
        &field(DURATION_BLOCK, DURATION_ACTION),
        &field(JUSTIFICATION_BLOCK, JUSTIFICATION_ACTION),
    )
    .map(Command::Request);
    Ok(
        match answer(&app.core, asker, &channel, command, None, now).await {
            Ok(Answer::Refused(refusal, names)) => {
                let text = wording::form_refusal(&refusal);
                let text = names.replace_in(&text, |key| names.show(key));
                errors(FormField::of(&refusal), &text)
            }
            // The request's thread, opened by its Announce job, is the answer.
            Ok(_) => Reply::Empty,
            Err(error) => errors(FormField::Group, &report_internal(error)),
        },
    )
}

/// The channel where `/jit` was typed, from our own form's `private_metadata`.
fn origin_channel(event: &SlackInteractionViewSubmissionEvent) -> Result<String, EdgeError> {
    let SlackView::Modal(view) = &event.view.view else {
        return Err(EdgeError::BadRequest(
            "a submission of a view that is not a modal".into(),
        ));
    };
    if view.callback_id.as_ref().map(|id| id.0.as_str()) != Some(FORM_CALLBACK) {
        return Err(EdgeError::BadRequest(
            "a submission of a view jitbot does not know".into(),
        ));
    }
    view.private_metadata
        .as_deref()
        .filter(|c| is_channel_id(c))
        .map(str::to_string)
        .ok_or_else(|| EdgeError::BadRequest("the form names no channel to answer in".into()))
}

/// The answer for a submitter who is not (or cannot be shown to be) of our workspace — the
/// same rule as for clicks on cards.
async fn not_ours(app: &App, event: &SlackInteractionViewSubmissionEvent) -> Option<Reply> {
    let user_team = event.user.team_id.as_ref().map(|t| t.0.as_str());
    let ours = identity::of_our_workspace(&app.slack, &event.team.id.0, user_team);
    let reason = match tokio::time::timeout(WORKSPACE_TIMEOUT, ours).await {
        Ok(Ok(Ok(()))) => return None,
        Ok(Ok(Err(refusal))) => refusal.to_string(),
        Ok(Err(error)) => report_internal(error),
        Err(_) => Refusal::UnknownIdentity("Slack did not answer in time".into()).to_string(),
    };
    Some(errors(FormField::Group, &reason))
}

/// What was typed or chosen in one field; empty when the field is missing or blank.
fn field_value(state: &SlackStatefulStateParams, block: &str, action: &str) -> String {
    let value = state
        .state
        .as_ref()
        .and_then(|s| s.values.get(&SlackBlockId(block.to_string())))
        .and_then(|actions| actions.get(&SlackActionId(action.to_string())));
    value
        .and_then(|v| {
            v.selected_option
                .as_ref()
                .map(|o| o.value.clone())
                .or_else(|| v.value.clone())
        })
        .unwrap_or_default()
}

/// The form stays open with `message` under `field`; nothing has changed.
fn errors(field: FormField, message: &str) -> Reply {
    let block = match field {
        FormField::Group => GROUP_BLOCK,
        FormField::Duration => DURATION_BLOCK,
        FormField::Justification => JUSTIFICATION_BLOCK,
    };
    let errors = [(block.to_string(), message.to_string())].into();
    let response =
        SlackViewSubmissionResponse::Errors(SlackViewSubmissionErrorsResponse::new(errors));
    Reply::json(response)
}

/// A Slack conversation id as jitbot itself put it in the form: it comes back through Slack,
/// but is still checked before a thread is opened there.
fn is_channel_id(text: &str) -> bool {
    (2..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_channel_ids_are_taken_from_the_form() {
        assert!(is_channel_id("C0REQUESTS"));
        assert!(!is_channel_id(""));
        assert!(!is_channel_id("C0/../x"));
        assert!(!is_channel_id(&"C".repeat(40)));
    }
}
