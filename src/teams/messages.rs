//! `POST /api/messages`: Teams activities — text commands, card buttons and card refreshes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::activity::{Activity, CardAction};
use super::auth::VerifiedActivity;
use super::cards::{self, Viewer};
use super::identity;
use super::person;
use super::text;
use super::{APPROVE_VERB, DENY_VERB, REFRESH_VERB};
use crate::access::answer::{Answer, answer};
use crate::access::decide::{DecisionInput, decide};
use crate::access::names::Names;
use crate::access::{AccessError, RequestView};
use crate::app::App;
use crate::domain::{Command, Policy, Principal, Refusal, Verdict, wording};
use crate::http::{EdgeError, report_internal};
use crate::store::requests;

pub async fn handle(
    State(app): State<App>,
    VerifiedActivity(activity): VerifiedActivity,
) -> Result<Response, EdgeError> {
    let now = Utc::now();
    identity::remember_sender(&app.teams, &activity, now)
        .await
        .map_err(anyhow::Error::from)?;
    identity::learn_email(&app.teams, &activity, now)
        .await
        .map_err(anyhow::Error::from)?;
    match activity.kind.as_str() {
        "invoke" if activity.name.as_deref() == Some("adaptiveCard/action") => {
            Ok(Json(on_card_action(&app, &activity, now).await).into_response())
        }
        "message" => {
            if let Some(reply) = on_message(&app, &activity, now).await {
                reply_later(&app, &activity, reply);
            }
            Ok(StatusCode::OK.into_response())
        }
        _ => Ok(StatusCode::OK.into_response()),
    }
}

/// A typed command, or an `Action.Submit` click (the fallback of the card buttons).
async fn on_message(app: &App, activity: &Activity, now: DateTime<Utc>) -> Option<Value> {
    if let Some(action) = activity.card_action() {
        return match click(app, activity, &action, now).await {
            Click::Decided(_) => None,
            Click::Refused(text) => Some(cards::text_message(&text)),
        };
    }
    let Some(user_id) = identity::user_id(activity) else {
        return Some(cards::text_message(
            "I only take commands from people signed in to your organisation: Teams did not say who you are in its directory.",
        ));
    };
    // Only the cache: the answer must not wait on the Bot Connector.
    let asker = match identity::cached(&app.teams, &user_id, now).await {
        Ok(person) => person,
        Err(error) => return Some(cards::text_message(&report_internal(error.into()))),
    };
    let mut command = Command::parse(&activity.command_text());
    let on_behalf_of = match person::on_behalf_of(&app.teams, activity, &asker, &command).await {
        Ok(Ok(account)) => account,
        Ok(Err(refusal)) => {
            command = Err(refusal);
            None
        }
        Err(error) => return Some(cards::text_message(&report_internal(error.into()))),
    };
    person::unmark_mentions(activity, &mut command);
    let conversation = &activity.conversation.id;
    match answer(&app.core, asker, conversation, command, on_behalf_of, now).await {
        Ok(answer) => rendered(&answer, app.core.policy()),
        Err(error) => Some(cards::text_message(&report_internal(error))),
    }
}

/// A command's answer as Teams shows it; `None` for a new request, whose status card is the
/// answer.
fn rendered(answer: &Answer, policy: &Policy) -> Option<Value> {
    let markdown = |text: String| Some(cards::markdown_message(&text));
    match answer {
        Answer::Help => Some(cards::message(cards::help(), "jitbot help")),
        Answer::Submitted(_) => None,
        Answer::Acted(acted) => Some(cards::text_message(&wording::acted(acted))),
        Answer::Groups => markdown(text::with_style(&Names::default(), |style| {
            wording::groups(policy, style)
        })),
        Answer::Status { open, now } => markdown(text::with_style(&Names::default(), |style| {
            wording::status(open, *now, style)
        })),
        // A refusal may repeat what was typed: plain text.
        Answer::Refused(refusal, names) => Some(cards::text_message(
            &names.replace_in(&refusal.to_string(), |key| names.show(key)),
        )),
    }
}

/// An `Action.Execute` invoke: answered in the HTTP response with the clicker's view of the card.
async fn on_card_action(app: &App, activity: &Activity, now: DateTime<Utc>) -> Value {
    let Some(action) = activity.card_action() else {
        return invoke_error(400, "the invoke carries no card action");
    };
    let Some(request_id) = action.request_id else {
        return invoke_error(400, "the card action names no request");
    };
    let viewer = match action.verb.as_str() {
        REFRESH_VERB => match identity::of_sender(&app.teams, activity, now).await {
            Ok(person) => person,
            Err(refusal) => return invoke_message(&refusal.to_string()),
        },
        APPROVE_VERB | DENY_VERB => match click(app, activity, &action, now).await {
            Click::Decided(person) => person,
            Click::Refused(text) => return invoke_message(&text),
        },
        other => return invoke_error(400, &format!("unknown verb `{other}`")),
    };
    let answer = match requests::get(&app.core.db, request_id).await {
        Ok(Some(request)) => personal_card(app, request, &viewer).await,
        Ok(None) => return invoke_message(&Refusal::NoSuchRequest(request_id).to_string()),
        Err(error) => Err(error.into()),
    };
    answer.unwrap_or_else(|error| invoke_error(500, &report_internal(error)))
}

/// The invoke answer with the approval card as one person sees it — only for the requester and
/// the group's owners: nobody else reads the justification.
async fn personal_card(
    app: &App,
    request: crate::domain::AccessRequest,
    viewer: &Principal,
) -> anyhow::Result<Value> {
    let view = RequestView::load(&app.core, request).await?;
    if !view.may_see(viewer) {
        return Ok(invoke_message(
            &Refusal::NotYours(view.request.id).to_string(),
        ));
    }
    let refreshers = app.teams.refreshers(&view).await?;
    let card = cards::approval(&view, &refreshers, Viewer::Person(viewer))?;
    Ok(json!({ "statusCode": 200, "type": cards::CONTENT_TYPE, "value": card }))
}

enum Click {
    Decided(Principal),
    Refused(String),
}

/// Approve or Deny, from either kind of button.
async fn click(app: &App, activity: &Activity, action: &CardAction, now: DateTime<Utc>) -> Click {
    let verdict = match action.verb.as_str() {
        APPROVE_VERB => Verdict::Approve,
        DENY_VERB => Verdict::Deny,
        other => return Click::Refused(format!("I don't know the card action `{other}`.")),
    };
    let Some(request_id) = action.request_id else {
        return Click::Refused("That button names no request.".into());
    };
    let decider = match identity::of_sender(&app.teams, activity, now).await {
        Ok(person) => person,
        Err(refusal) => return Click::Refused(refusal.to_string()),
    };
    let input = DecisionInput {
        request_id,
        decider: decider.clone(),
        verdict,
        channel: Some(activity.conversation.id.clone()),
    };
    match decide(&app.core, input, now).await {
        Ok(_) => Click::Decided(decider),
        Err(AccessError::Refused(refusal)) => Click::Refused(refused_text(app, &refusal).await),
        Err(AccessError::Internal(error)) => Click::Refused(report_internal(error)),
    }
}

/// Refusals name deciders by key; in Teams they are shown by name.
async fn refused_text(app: &App, refusal: &Refusal) -> String {
    let names = Names::for_refusal(&app.core.db, refusal)
        .await
        .unwrap_or_default();
    names.replace_in(&refusal.to_string(), |key| names.show(key))
}

fn invoke_message(text: &str) -> Value {
    json!({ "statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text })
}

fn invoke_error(status: u16, message: &str) -> Value {
    json!({
        "statusCode": status,
        "type": "application/vnd.microsoft.error",
        "value": { "code": if status >= 500 { "InternalError" } else { "BadRequest" }, "message": message },
    })
}

/// Replies in the activity's conversation, after the HTTP answer: best effort, like Slack's
/// private replies — a lost reply to a command is not worth a durable job.
fn reply_later(app: &App, activity: &Activity, mut reply: Value) {
    reply["replyToId"] = json!(activity.id);
    let (app, service_url, conversation) = (
        app.clone(),
        activity.service_url.clone(),
        activity.conversation.id.clone(),
    );
    tokio::spawn(async move {
        if let Err(error) = app
            .teams
            .connector
            .send(&service_url, &conversation, &reply)
            .await
        {
            tracing::warn!(error = format!("{error:#}"), "could not reply in Teams");
        }
    });
}
