//! `POST /api/messages`: Teams activities — text commands, card buttons and card refreshes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::REFRESH_VERB;
use super::activity::{Activity, CardAction};
use super::auth::VerifiedActivity;
use super::cards::{self, Viewer};
use super::form;
use super::identity;
use super::person;
use super::reply::{self, Reply};
use super::text;
use crate::access::act::act;
use crate::access::answer::{Answer, answer};
use crate::access::decide::{DecisionInput, decide};
use crate::access::names::Names;
use crate::access::{AccessError, RequestView};
use crate::app::App;
use crate::domain::buttons::Button;
use crate::domain::{Command, Policy, Principal, Refusal, Verdict, wording};
use crate::http::{EdgeError, record_request_id, report_internal};
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
                reply::send_later(&app, &activity, reply);
            }
            Ok(StatusCode::OK.into_response())
        }
        _ => Ok(StatusCode::OK.into_response()),
    }
}

/// A typed command, or an `Action.Submit` click (the fallback of the card buttons).
async fn on_message(app: &App, activity: &Activity, now: DateTime<Utc>) -> Option<Reply> {
    let error = |text: String| Some(Reply::public(cards::text_message(&text)));
    if let Some(action) = activity.card_action() {
        if action.verb == form::FORM_VERB {
            return Some(form::on_submit(app, activity, now).await);
        }
        return match click(app, activity, &action, now).await {
            Click::Decided(_) => None,
            Click::Acted(text) => Some(Reply::public(cards::text_message(&text))),
            Click::Refused(text) => Some(Reply::private(cards::text_message(&text))),
        };
    }
    let Some(user_id) = identity::user_id(activity) else {
        return error(
            "I only take commands from people signed in to your organisation: Teams did not say who you are in its directory.".into(),
        );
    };
    // Only the cache: the answer must not wait on the Bot Connector.
    let asker = match identity::cached(&app.teams, &user_id, now).await {
        Ok(person) => person,
        Err(failure) => return error(report_internal(failure.into())),
    };
    let mut command = Command::parse(&activity.command_text());
    let on_behalf_of = match person::on_behalf_of(&app.teams, activity, &asker, &command).await {
        Ok(Ok(account)) => account,
        Ok(Err(refusal)) => {
            command = Err(refusal);
            None
        }
        Err(error) => {
            return Some(Reply::private(cards::text_message(&report_internal(
                error.into(),
            ))));
        }
    };
    person::unmark_mentions(activity, &mut command);
    let conversation = &activity.conversation.id;
    match answer(&app.core, asker, conversation, command, on_behalf_of, now).await {
        Ok(answer) => rendered(&answer, &app.core.policy()),
        Err(failure) => error(report_internal(failure)),
    }
}

/// A command's answer as Teams shows it; `None` for a new request, whose status card is the
/// answer. Refusals and status are for the asker alone.
fn rendered(answer: &Answer, policy: &Policy) -> Option<Reply> {
    let markdown = |text: String| Some(Reply::public(cards::markdown_message(&text)));
    match answer {
        Answer::Help => Some(Reply::public(cards::message(cards::help(), "jitbot help"))),
        Answer::Submitted(_) => None,
        Answer::Acted(acted) => Some(Reply::public(cards::text_message(&wording::acted(acted)))),
        Answer::Form { groups } => Some(Reply::public(form::offered(groups))),
        Answer::Groups => markdown(text::with_style(&Names::default(), |style| {
            wording::groups(policy, style)
        })),
        // It names other people and quotes what they typed: plain text.
        Answer::Status {
            open,
            owner,
            names,
            now,
        } => Some(Reply::private(cards::text_message(
            &text::with_plain_style(names, |style| wording::status(open, owner, *now, style)),
        ))),
        // A refusal may repeat what was typed: plain text.
        Answer::Refused(refusal, names) => Some(Reply::private(cards::text_message(
            &names.replace_in(&refusal.to_string(), |key| names.show(key)),
        ))),
    }
}

/// An `Action.Execute` invoke: answered in the HTTP response with the clicker's view of the card.
async fn on_card_action(app: &App, activity: &Activity, now: DateTime<Utc>) -> Value {
    let Some(action) = activity.card_action() else {
        return invoke_error(400, "the invoke carries no card action");
    };
    if action.verb == form::FORM_VERB {
        return form::on_execute(app, activity, now).await;
    }
    let Some(request_id) = action.request_id else {
        return invoke_error(400, "the card action names no request");
    };
    record_request_id(request_id);
    let viewer = match action.verb.as_str() {
        REFRESH_VERB => match identity::of_sender(&app.teams, activity, now).await {
            Ok(person) => person,
            Err(refusal) => return invoke_message(&refusal.to_string()),
        },
        verb if super::button_of(verb).is_some() => {
            match click(app, activity, &action, now).await {
                Click::Decided(person) => person,
                Click::Acted(text) | Click::Refused(text) => return invoke_message(&text),
            }
        }
        other => return invoke_error(400, &format!("unknown verb `{other}`")),
    };
    // Read before the match: the reader goes back before the card is built (which waits).
    let found = app
        .core
        .db
        .read()
        .and_then(|db| requests::get(&db, request_id));
    let answer = match found {
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
    let card = cards::approval(&view, &refreshers, Viewer::Person(viewer), Utc::now())?;
    Ok(json!({ "statusCode": 200, "type": cards::CONTENT_TYPE, "value": card }))
}

enum Click {
    /// A decision was recorded: the clicker's own view of the card is the answer.
    Decided(Principal),
    /// An action was taken: this says what it did.
    Acted(String),
    Refused(String),
}

/// A button, from either kind of action: Approve and Deny decide, the others act on the request.
async fn click(app: &App, activity: &Activity, action: &CardAction, now: DateTime<Utc>) -> Click {
    let Some(button) = super::button_of(&action.verb) else {
        return Click::Refused(format!("I don't know the card action `{}`.", action.verb));
    };
    let Some(request_id) = action.request_id else {
        return Click::Refused("That button names no request.".into());
    };
    let person = match identity::of_sender(&app.teams, activity, now).await {
        Ok(person) => person,
        Err(refusal) => return Click::Refused(refusal.to_string()),
    };
    let outcome = match button.action() {
        None => {
            let verdict = if button == Button::Approve {
                Verdict::Approve
            } else {
                Verdict::Deny
            };
            let input = DecisionInput {
                request_id,
                decider: person.clone(),
                verdict,
                channel: Some(activity.conversation.id.clone()),
            };
            decide(&app.core, input, now)
                .await
                .map(|_| Click::Decided(person))
        }
        Some(action) => act(&app.core, &person, request_id, &action, now)
            .await
            .map(|acted| Click::Acted(wording::acted(&acted))),
    };
    match outcome {
        Ok(click) => click,
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
