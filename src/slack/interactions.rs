//! Interactions, from `POST /slack/interactions` or Socket Mode: the buttons on approval cards
//! and request messages, and the request form's submission.

use std::time::Duration;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use slack_morphism::prelude::*;
use tracing::Instrument;

use super::reply::Reply;
use super::verify::VerifiedSlackBody;
use super::{blocks, form, identity, text};
use crate::access::AccessError;
use crate::access::act::act;
use crate::access::decide::{DecisionInput, decide};
use crate::access::names::Names;
use crate::app::App;
use crate::domain::buttons::Button;
use crate::domain::{Principal, Refusal, Verdict, wording};
use crate::http::{EdgeError, record_request_id, report_internal};

/// Finding out who clicked must leave time to answer within Slack's 3 seconds.
const IDENTITY_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

/// `POST /slack/interactions`: an interaction whose signature checked out.
pub async fn handle(
    State(app): State<App>,
    VerifiedSlackBody(body): VerifiedSlackBody,
) -> Result<Reply, EdgeError> {
    let form: InteractionForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| EdgeError::BadRequest(format!("malformed interaction: {e}")))?;
    let event = serde_json::from_str(&form.payload).map_err(malformed)?;
    interaction(&app, event).await
}

/// Why an interaction's payload cannot be read, as both transports say it.
pub fn malformed(error: serde_json::Error) -> EdgeError {
    EdgeError::BadRequest(format!("malformed interaction payload: {error}"))
}

/// An interaction from Slack, already authenticated by its transport (the request's signature,
/// or the Socket Mode connection opened with the app token): the answer is the same either way.
pub async fn interaction(app: &App, event: SlackInteractionEvent) -> Result<Reply, EdgeError> {
    let event = match event {
        SlackInteractionEvent::BlockActions(event) => event,
        SlackInteractionEvent::ViewSubmission(event) => {
            return form::submitted(app, event).await;
        }
        _ => return Ok(Reply::Empty),
    };
    let user = event
        .user
        .ok_or_else(|| EdgeError::BadRequest("interaction without a user".into()))?;
    let channel = match &event.container {
        SlackInteractionActionContainer::Message(message) => {
            message.channel_id.as_ref().map(|c| c.0.clone())
        }
        _ => None,
    };
    let response_url = event.response_url.map(|url| url.0.to_string());
    for action in event.actions.unwrap_or_default() {
        let Some(button) = blocks::button_of(&action.action_id.0) else {
            continue;
        };
        let request_id: i64 = action
            .value
            .as_deref()
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| EdgeError::BadRequest("button without a request id".into()))?;
        record_request_id(request_id);
        let now = Utc::now();
        let clicker = who_clicked(app, event.team.id.0.as_str(), &user, now);
        let reply = match tokio::time::timeout(IDENTITY_TIMEOUT, clicker).await {
            Ok(Ok(person)) => {
                let click = Click {
                    request_id,
                    button,
                    channel: channel.clone(),
                };
                clicked(app, person, click, now).await
            }
            Ok(Err(refusal)) => Some(refused(app, &refusal).await),
            Err(_) => {
                Some(Refusal::UnknownIdentity("Slack did not answer in time".into()).to_string())
            }
        };
        if let (Some(reply), Some(url)) = (reply, response_url.clone()) {
            // Best effort and private: a lost refusal is not worth a durable job.
            let slack = app.slack.clone();
            tokio::spawn(
                async move {
                    if let Err(error) = slack.api.respond_ephemeral(&url, &reply).await {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "could not send a private reply"
                        );
                    }
                }
                // Keeps the HTTP or envelope span (and its request_id) on the reply's lines.
                .in_current_span(),
            );
        }
    }
    Ok(Reply::Empty)
}

struct Click {
    request_id: i64,
    button: Button,
    channel: Option<String>,
}

/// A button, as the core takes it: Approve and Deny decide, the rest act on the request. Returns
/// the private reply, if any (a decision shows on the card itself).
async fn clicked(app: &App, person: Principal, click: Click, now: DateTime<Utc>) -> Option<String> {
    let outcome = match click.button.action() {
        None => {
            let verdict = if click.button == Button::Approve {
                Verdict::Approve
            } else {
                Verdict::Deny
            };
            let input = DecisionInput {
                request_id: click.request_id,
                decider: person,
                verdict,
                channel: click.channel,
            };
            decide(&app.core, input, now).await.map(|_| None)
        }
        Some(action) => act(&app.core, &person, click.request_id, &action, now)
            .await
            .map(|acted| Some(wording::acted(&acted))),
    };
    match outcome {
        Ok(reply) => reply,
        Err(AccessError::Refused(refusal)) => Some(refused(app, &refusal).await),
        Err(AccessError::Internal(error)) => Some(report_internal(error)),
    }
}

/// The clicker as a principal with verified facts — only someone of our own workspace.
async fn who_clicked(
    app: &App,
    team_id: &str,
    user: &SlackBasicUserInfo,
    now: chrono::DateTime<Utc>,
) -> Result<Principal, Refusal> {
    let unknown = |error: anyhow::Error| {
        let id = crate::error_id::new();
        tracing::warn!(error_id = %id, error = format!("{error:#}"), "could not find out who clicked");
        Refusal::UnknownIdentity(format!("error {id}"))
    };
    let user_team = user.team_id.as_ref().map(|t| t.0.as_str());
    identity::of_our_workspace(&app.slack, team_id, user_team)
        .await
        .map_err(unknown)??;
    identity::resolve(&app.slack, &user.id.0, now)
        .await
        .map_err(unknown)?
}

async fn refused(app: &App, refusal: &Refusal) -> String {
    let names = Names::for_refusal(&app.core.db, refusal)
        .await
        .unwrap_or_default();
    text::refusal(&names, refusal)
}
