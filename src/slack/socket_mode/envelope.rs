//! One Socket Mode frame: read it, and answer an envelope with the acknowledgement that carries
//! what the HTTP endpoint would have answered.

use serde::Deserialize;
use serde_json::{Value, json};
use slack_morphism::prelude::SlackInteractionEvent;

use crate::app::App;
use crate::http::{EdgeError, report_internal};
use crate::slack::commands::{self, SlashCommand};
use crate::slack::interactions;
use crate::slack::reply::Reply;

/// What Slack sent over the connection.
#[derive(Debug)]
pub enum Frame {
    /// The connection is ready.
    Hello,
    /// Slack will close this connection soon and wants a new one.
    Disconnect(String),
    Envelope(Envelope),
    /// Not a frame jitbot can act on (and nothing to acknowledge): only logged.
    Unreadable(String),
}

#[derive(Debug, Deserialize)]
pub struct Envelope {
    envelope_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    /// 0 on the first delivery; counts Slack's deliveries of it again. Only logged, so read
    /// loosely: an odd value must not cost the envelope its answer.
    #[serde(default)]
    retry_attempt: Value,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    envelope_id: Option<String>,
    reason: Option<String>,
}

pub fn read(text: &str) -> Frame {
    let Ok(raw) = serde_json::from_str::<Raw>(text) else {
        return Frame::Unreadable("not a JSON object".into());
    };
    match (raw.kind.as_deref(), raw.envelope_id.is_some()) {
        (Some("hello"), _) => Frame::Hello,
        (Some("disconnect"), _) => Frame::Disconnect(raw.reason.unwrap_or_default()),
        (Some(_), true) => match serde_json::from_str(text) {
            Ok(envelope) => Frame::Envelope(envelope),
            Err(error) => Frame::Unreadable(format!("malformed envelope: {error}")),
        },
        (Some(kind), false) => {
            Frame::Unreadable(format!("a frame of type {kind:?} without an envelope id"))
        }
        (None, _) => Frame::Unreadable("a frame without a type".into()),
    }
}

impl Envelope {
    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn id(&self) -> &str {
        &self.envelope_id
    }

    pub fn retry_attempt(&self) -> Option<u64> {
        self.retry_attempt.as_u64()
    }

    /// Handles the envelope as its HTTP twin would be handled and returns the acknowledgement.
    /// The connection itself, opened with the app token, is what authenticated it.
    pub async fn answer(self, app: &App) -> String {
        let reply = match self.kind.as_str() {
            "slash_commands" => match serde_json::from_value::<SlashCommand>(self.payload) {
                Ok(command) => commands::slash_command(app, command).await,
                Err(error) => Err(EdgeError::BadRequest(format!(
                    "malformed slash command: {error}"
                ))),
            },
            "interactive" => match serde_json::from_value::<SlackInteractionEvent>(self.payload) {
                Ok(event) => interactions::interaction(app, event).await,
                Err(error) => Err(interactions::malformed(error)),
            },
            // jitbot subscribes to no events; acknowledged so that Slack does not resend them.
            _ => Ok(Reply::Empty),
        };
        let payload = match reply {
            Ok(reply) => reply.into_payload(),
            Err(error) => Some(refused(error)),
        };
        let mut ack = json!({ "envelope_id": self.envelope_id });
        if let Some(payload) = payload {
            ack["payload"] = payload;
        }
        ack.to_string()
    }
}

/// What the person sees instead of the HTTP error status: the same reason, privately.
fn refused(error: EdgeError) -> Value {
    let text = match error {
        EdgeError::Internal(error) => report_internal(error),
        EdgeError::Unavailable(reason) => {
            tracing::error!(reason, "could not check an envelope");
            "jitbot cannot check requests now; please try again in a moment.".to_string()
        }
        other => {
            tracing::warn!(reason = %other, "refused an envelope");
            format!("jitbot could not handle this: {other}")
        }
    };
    json!({ "response_type": "ephemeral", "text": text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_told_apart() {
        assert!(matches!(
            read(r#"{"type":"hello","num_connections":1}"#),
            Frame::Hello
        ));
        assert!(matches!(
            read(r#"{"type":"disconnect","reason":"refresh_requested"}"#),
            Frame::Disconnect(reason) if reason == "refresh_requested"
        ));
        let envelope = read(r#"{"type":"slash_commands","envelope_id":"e1","payload":{}}"#);
        assert!(matches!(envelope, Frame::Envelope(e) if e.kind() == "slash_commands"));
        assert!(matches!(read("garbage"), Frame::Unreadable(_)));
        assert!(matches!(
            read(r#"{"type":"interactive"}"#),
            Frame::Unreadable(_)
        ));
        assert!(matches!(
            read(r#"{"type":"interactive","envelope_id":7}"#),
            Frame::Unreadable(_)
        ));
    }
}
