//! Where a reply to a Teams message goes. Teams has no ephemeral messages, so what only its
//! addressee may read (a refusal, their status) typed in a channel or group chat goes to their
//! personal chat with the bot — or, without one, becomes a short reply that reveals nothing.

use serde_json::{Value, json};
use tracing::Instrument;

use super::activity::Activity;
use super::cards;
use super::identity;
use crate::app::App;
use crate::store::teams;

/// Said in a channel instead of a private answer, when jitbot has no personal chat to put it in.
pub const ASK_DIRECTLY: &str = "I can't answer that here; message me directly and I'll explain.";

/// A reply to a message activity.
pub struct Reply {
    pub message: Value,
    /// Only the person who wrote may read it.
    pub private: bool,
}

impl Reply {
    pub fn public(message: Value) -> Reply {
        Reply {
            message,
            private: false,
        }
    }

    pub fn private(message: Value) -> Reply {
        Reply {
            message,
            private: true,
        }
    }
}

/// Sends the reply after the HTTP answer: best effort, like Slack's private replies — a lost
/// reply to a command is not worth a durable job.
pub fn send_later(app: &App, activity: &Activity, reply: Reply) {
    let (app, activity) = (app.clone(), activity.clone());
    let send = async move {
        let sent = if reply.private && !activity.is_personal() {
            privately(&app, &activity, reply.message).await
        } else {
            in_place(&app, &activity, reply.message).await
        };
        if let Err(error) = sent {
            tracing::warn!(error = format!("{error:#}"), "could not reply in Teams");
        }
    };
    // In the HTTP span: a failed reply is logged with the request it answered.
    tokio::spawn(send.in_current_span());
}

/// In the conversation the activity came from, as a reply to it.
async fn in_place(app: &App, activity: &Activity, mut message: Value) -> anyhow::Result<()> {
    message["replyToId"] = json!(activity.id);
    let conversation = &activity.conversation.id;
    app.teams
        .connector
        .send(&activity.service_url, conversation, &message)
        .await?;
    Ok(())
}

/// In the sender's personal chat with the bot if jitbot knows it; else a short reply in place.
async fn privately(app: &App, activity: &Activity, message: Value) -> anyhow::Result<()> {
    let personal = match identity::user_id(activity) {
        Some(user_id) => teams::user(&*app.teams.db.read()?, &user_id)?
            .and_then(|user| user.personal_conversation_id),
        None => None,
    };
    let Some(personal) = personal else {
        return in_place(app, activity, cards::text_message(ASK_DIRECTLY)).await;
    };
    let service_url = teams::conversation(&*app.teams.db.read()?, &personal)?
        .map(|c| c.service_url)
        .unwrap_or_else(|| activity.service_url.clone());
    app.teams
        .connector
        .send(&service_url, &personal, &message)
        .await?;
    Ok(())
}
