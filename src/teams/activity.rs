//! Bot Framework activities: what Teams sends to `/api/messages`, and the text commands in them.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub service_url: String,
    pub channel_id: String,
    pub from: Option<ChannelAccount>,
    pub conversation: ConversationAccount,
    pub recipient: Option<ChannelAccount>,
    pub text: Option<String>,
    #[serde(default)]
    pub entities: Vec<Entity>,
    pub value: Option<Value>,
    pub name: Option<String>,
    pub reply_to_id: Option<String>,
    pub channel_data: Option<ChannelData>,
    /// The sender's time zone as their client says (`Europe/Berlin`).
    pub local_timezone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    pub id: String,
    pub name: Option<String>,
    pub aad_object_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    pub id: String,
    pub conversation_type: Option<String>,
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub mentioned: Option<ChannelAccount>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChannelData {
    pub tenant: Option<IdOnly>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdOnly {
    pub id: String,
}

/// What a card button asks for, from an `Action.Execute` invoke or an `Action.Submit` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardAction {
    pub verb: String,
    pub request_id: Option<i64>,
}

impl Activity {
    pub fn tenant_id(&self) -> Option<&str> {
        self.conversation.tenant_id.as_deref().or(self
            .channel_data
            .as_ref()
            .and_then(|d| d.tenant.as_ref())
            .map(|t| t.id.as_str()))
    }

    pub fn is_personal(&self) -> bool {
        self.conversation.conversation_type.as_deref() == Some("personal")
    }

    /// The command text: the bot's @mention removed, and a leading `/` or `jit` tolerated.
    /// Anyone else's @mention becomes `<at>N</at>`, N its entity's index (see `mentioned`): one
    /// word, whatever spaces the name has.
    pub fn command_text(&self) -> String {
        let mut text = self.text.clone().unwrap_or_default();
        let bot_id = self.recipient.as_ref().map(|r| r.id.as_str());
        for (index, entity) in self.entities.iter().enumerate() {
            let (Some(mentioned), Some(mention)) = (&entity.mentioned, &entity.text) else {
                continue;
            };
            if entity.kind != "mention" {
                continue;
            }
            text = if Some(mentioned.id.as_str()) == bot_id {
                text.replace(mention.as_str(), " ")
            } else {
                text.replacen(mention.as_str(), &format!("<at>{index}</at>"), 1)
            };
        }
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = text.trim_start_matches('/');
        match text.split_once(' ') {
            Some((first, rest)) if first.eq_ignore_ascii_case("jit") => rest.to_string(),
            None if text.eq_ignore_ascii_case("jit") => String::new(),
            _ => text.to_string(),
        }
    }

    /// `text` with every `<at>N</at>` of `command_text` back as the mention it was: for what is
    /// kept as typed (a justification, a reason).
    pub fn unmarked(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (index, entity) in self.entities.iter().enumerate() {
            if let Some(mention) = &entity.text {
                text = text.replace(&format!("<at>{index}</at>"), mention);
            }
        }
        text
    }

    /// The person a `<at>N</at>` of `command_text` mentions.
    pub fn mentioned(&self, word: &str) -> Option<&ChannelAccount> {
        let index: usize = word
            .strip_prefix("<at>")?
            .strip_suffix("</at>")?
            .parse()
            .ok()?;
        let entity = self.entities.get(index)?;
        (entity.kind == "mention")
            .then_some(entity.mentioned.as_ref())
            .flatten()
    }

    /// The card action this activity carries: an `adaptiveCard/action` invoke, or an
    /// `Action.Submit` message whose value names a `jitVerb`.
    pub fn card_action(&self) -> Option<CardAction> {
        let value = self.value.as_ref()?;
        let (verb, data) = if self.kind == "invoke" {
            let action = value.get("action")?;
            (action.get("verb")?.as_str()?, action.get("data"))
        } else {
            (value.get("jitVerb")?.as_str()?, Some(value))
        };
        let request_id = data
            .and_then(|d| d.get("requestId"))
            .and_then(|id| match id {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            });
        Some(CardAction {
            verb: verb.to_string(),
            request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Activity {
        serde_json::from_value(serde_json::json!({
            "type": "message",
            "serviceUrl": "https://smba.example/",
            "channelId": "msteams",
            "conversation": { "id": "19:x@thread.tacv2;messageid=1" },
            "recipient": { "id": "28:bot", "name": "JIT Bot" },
            "text": text,
            "entities": [{ "type": "mention", "mentioned": { "id": "28:bot", "name": "JIT Bot" }, "text": "<at>JIT Bot</at>" }]
        }))
        .unwrap()
    }

    #[test]
    fn strips_the_mention_and_tolerates_slash_or_no_jit() {
        for text in [
            "<at>JIT Bot</at> jit request prod-db 2h fixing it",
            "<at>JIT Bot</at>  /jit request prod-db 2h fixing it",
            "jit request prod-db 2h fixing it",
            "request prod-db 2h fixing it",
            "JIT request prod-db 2h fixing it",
        ] {
            assert_eq!(
                message(text).command_text(),
                "request prod-db 2h fixing it",
                "{text}"
            );
        }
        assert_eq!(message("<at>JIT Bot</at> jit").command_text(), "");
    }

    #[test]
    fn marks_other_mentions_by_their_entity() {
        let mut activity =
            message("<at>JIT Bot</at> jit request prod-db 1h for <at>Bob Approver</at> INC-1");
        activity.entities.push(
            serde_json::from_value(serde_json::json!({
                "type": "mention", "mentioned": { "id": "29:bob", "name": "Bob Approver" },
                "text": "<at>Bob Approver</at>"
            }))
            .unwrap(),
        );
        let text = activity.command_text();
        assert_eq!(text, "request prod-db 1h for <at>1</at> INC-1");
        assert_eq!(activity.mentioned("<at>1</at>").unwrap().id, "29:bob");
        assert!(activity.mentioned("<at>7</at>").is_none());
        assert!(activity.mentioned("<at>Bob</at>").is_none());
        assert_eq!(
            activity.unmarked("ask <at>1</at>"),
            "ask <at>Bob Approver</at>"
        );
    }

    #[test]
    fn reads_card_actions_from_invokes_and_submits() {
        let mut invoke = message("");
        invoke.kind = "invoke".into();
        invoke.value = Some(serde_json::json!({
            "action": { "type": "Action.Execute", "verb": "jit.approve", "data": { "requestId": "42" } },
            "trigger": "manual"
        }));
        assert_eq!(
            invoke.card_action(),
            Some(CardAction {
                verb: "jit.approve".into(),
                request_id: Some(42)
            })
        );
        let mut submit = message("");
        submit.value = Some(serde_json::json!({ "jitVerb": "jit.deny", "requestId": 7 }));
        assert_eq!(
            submit.card_action(),
            Some(CardAction {
                verb: "jit.deny".into(),
                request_id: Some(7)
            })
        );
    }
}
