//! What jitbot answers Slack for a command or an interaction, whichever way it came in: the body
//! of the HTTP response, or the `payload` of a Socket Mode acknowledgement.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Nothing to say: an empty 200, or an acknowledgement without a payload.
    Empty,
    /// A JSON body: an ephemeral message, or `response_action` errors for a modal.
    Body(Value),
}

impl Reply {
    /// A message only the person who typed the command sees.
    pub fn ephemeral(text: &str) -> Self {
        Self::Body(json!({ "response_type": "ephemeral", "text": text }))
    }

    pub fn json(body: impl Serialize) -> Self {
        // Our own response types always serialize; `Null` would be an empty answer.
        Self::Body(serde_json::to_value(body).unwrap_or(Value::Null))
    }

    /// The acknowledgement's `payload`, if any.
    pub fn into_payload(self) -> Option<Value> {
        match self {
            Self::Empty => None,
            Self::Body(body) => Some(body),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Self::Empty => StatusCode::OK.into_response(),
            Self::Body(body) => Json(body).into_response(),
        }
    }
}
