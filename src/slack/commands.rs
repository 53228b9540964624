//! `POST /slack/commands`: the `/jit` slash command. Answers at once; anything slow is a job.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::person;
use super::text;
use super::verify::VerifiedSlackBody;
use super::{form, identity};
use crate::access::answer::{Answer, answer};
use crate::app::App;
use crate::domain::{Command, Refusal, wording};
use crate::http::{EdgeError, report_internal};

/// The fields of Slack's form that jitbot uses; the rest are ignored.
#[derive(Debug, Deserialize)]
struct SlashCommand {
    ssl_check: Option<String>,
    team_id: Option<String>,
    user_id: Option<String>,
    channel_id: Option<String>,
    trigger_id: Option<String>,
    response_url: Option<String>,
    #[serde(default)]
    text: String,
}

pub async fn handle(
    State(app): State<App>,
    VerifiedSlackBody(body): VerifiedSlackBody,
) -> Result<Response, EdgeError> {
    let form: SlashCommand = serde_urlencoded::from_bytes(&body)
        .map_err(|e| EdgeError::BadRequest(format!("malformed slash command: {e}")))?;
    if form.ssl_check.is_some() {
        return Ok(().into_response());
    }
    let (Some(user_id), Some(channel_id)) = (form.user_id, form.channel_id) else {
        return Err(EdgeError::BadRequest(
            "malformed slash command: user_id and channel_id are required".into(),
        ));
    };
    let now = Utc::now();
    // Known once Slack has answered `auth.test`; until then the request's check, which asks
    // Slack about the requester, turns away anyone from another workspace.
    if identity::from_our_workspace(&app.slack, form.team_id.as_deref()) == Some(false) {
        let reply = Refusal::ForeignWorkspace.to_string();
        return Ok(Json(json!({ "response_type": "ephemeral", "text": reply })).into_response());
    }
    // Only the cache: Slack's 3 seconds must not depend on Slack's own API.
    let asker = identity::cached(&app.slack, &user_id, now)
        .await
        .map_err(anyhow::Error::from)?;
    // `/jit` alone opens the form, as `/jit request` alone does; help is `/jit help`.
    let mut command = match form.text.trim() {
        "" => Ok(Command::Form),
        text => Command::parse(text),
    };
    let on_behalf_of = match person::on_behalf_of(&app.slack, &asker, &command, now)
        .await
        .map_err(anyhow::Error::from)?
    {
        Ok(account) => account,
        Err(refusal) => {
            command = Err(refusal);
            None
        }
    };
    let reply = match answer(&app.core, asker, &channel_id, command, on_behalf_of, now).await {
        Ok(Answer::Form { groups }) if !groups.is_empty() => {
            let Some(trigger_id) = form.trigger_id else {
                return Err(EdgeError::BadRequest(
                    "malformed slash command: no trigger_id to open the form with".into(),
                ));
            };
            let view = form::modal(&groups, &channel_id);
            form::open(&app, trigger_id, view, form.response_url);
            wording::OPENING_FORM.to_string()
        }
        Ok(answer) => text::answer(&answer, &app.core.policy()),
        Err(error) => report_internal(error),
    };
    Ok(Json(json!({ "response_type": "ephemeral", "text": reply })).into_response())
}
