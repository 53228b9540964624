//! `POST /slack/interactions`: the Approve and Deny buttons on approval cards.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use slack_morphism::prelude::*;

use super::verify::VerifiedSlackBody;
use super::{APPROVE_ACTION, DENY_ACTION, identity, text};
use crate::access::AccessError;
use crate::access::decide::{DecisionInput, decide};
use crate::app::App;
use crate::domain::{Refusal, Verdict};
use crate::http::{EdgeError, report_internal};
use crate::names::Names;

/// Finding out who clicked must leave time to answer within Slack's 3 seconds.
const IDENTITY_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

pub async fn handle(
    State(app): State<App>,
    VerifiedSlackBody(body): VerifiedSlackBody,
) -> Result<StatusCode, EdgeError> {
    let form: InteractionForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| EdgeError::BadRequest(format!("malformed interaction: {e}")))?;
    let event: SlackInteractionEvent = serde_json::from_str(&form.payload)
        .map_err(|e| EdgeError::BadRequest(format!("malformed interaction payload: {e}")))?;
    let SlackInteractionEvent::BlockActions(event) = event else {
        return Ok(StatusCode::OK);
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
        let verdict = match action.action_id.0.as_str() {
            APPROVE_ACTION => Verdict::Approve,
            DENY_ACTION => Verdict::Deny,
            _ => continue,
        };
        let request_id: i64 = action
            .value
            .as_deref()
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| EdgeError::BadRequest("button without a request id".into()))?;
        let now = Utc::now();
        let reply =
            match tokio::time::timeout(IDENTITY_TIMEOUT, identity::resolve(&app, &user.id.0, now))
                .await
            {
                Ok(Ok(decider)) => {
                    let input = DecisionInput {
                        request_id,
                        decider,
                        verdict,
                        channel: channel.clone(),
                    };
                    match decide(&app, input, now).await {
                        Ok(_) => None,
                        Err(AccessError::Refused(refusal)) => {
                            let names =
                                Names::for_refusal(&app, &refusal).await.unwrap_or_default();
                            Some(text::refusal(&names, &refusal))
                        }
                        Err(AccessError::Internal(error)) => Some(report_internal(error)),
                    }
                }
                Ok(Err(error)) => Some(Refusal::UnknownIdentity(format!("{error:#}")).to_string()),
                Err(_) => Some(
                    Refusal::UnknownIdentity("Slack did not answer in time".into()).to_string(),
                ),
            };
        if let (Some(reply), Some(url)) = (reply, response_url.clone()) {
            // Best effort and private: a lost refusal is not worth a durable job.
            let slack = app.slack.clone();
            tokio::spawn(async move {
                if let Err(error) = slack.respond_ephemeral(&url, &reply).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "could not send a private reply"
                    );
                }
            });
        }
    }
    Ok(StatusCode::OK)
}
