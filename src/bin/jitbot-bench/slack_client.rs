//! Plays Slack towards a server: slash commands and button clicks, signed with the project's
//! own `slack::verify::sign`, exactly as Slack sends them.

use std::time::Duration;

use serde_json::json;

use crate::fake_slack::{APPROVAL_CHANNEL, OWNER, TEAM_ID};
use crate::server::SIGNING_SECRET;

/// The channel people ask in.
pub const REQUEST_CHANNEL: &str = "C0REQUESTS";

#[derive(Clone)]
pub struct SlackClient {
    base: String,
    http: reqwest::Client,
    respond_url: String,
}

/// How a command was answered.
pub struct Ack {
    pub status: u16,
    /// `Request #N` in jitbot's (or the floor's) answer.
    pub request_id: Option<i64>,
}

impl SlackClient {
    pub fn new(base: &str, fake_slack_url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(4096)
            // jitbot closes a connection idle for 10 s: the client lets go of it first, so no
            // request is sent on a connection the server is closing.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            base: base.to_string(),
            http,
            respond_url: format!("{fake_slack_url}/respond/x"),
        })
    }

    /// `/jit <text>` typed by `user`.
    pub async fn command(&self, user: &str, text: &str) -> anyhow::Result<Ack> {
        let body = serde_urlencoded::to_string([
            ("token", "deprecated"),
            ("team_id", TEAM_ID),
            ("team_domain", "bench"),
            ("channel_id", REQUEST_CHANNEL),
            ("channel_name", "access-requests"),
            ("user_id", user),
            ("user_name", user),
            ("command", "/jit"),
            ("text", text),
            ("api_app_id", "A0JITBOT"),
            ("response_url", self.respond_url.as_str()),
            ("trigger_id", "1.2.3"),
        ])?;
        let response = self.post("/slack/commands", body).await?;
        let status = response.status().as_u16();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        let request_id = answer["text"]
            .as_str()
            .and_then(|text| text.split_once("Request #"))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        Ok(Ack { status, request_id })
    }

    /// The owner clicks Approve on request `id`'s card.
    pub async fn approve(&self, id: i64) -> anyhow::Result<u16> {
        let payload = json!({
            "type": "block_actions",
            "user": { "id": OWNER, "username": "owner", "name": "owner", "team_id": TEAM_ID },
            "api_app_id": "A0JITBOT",
            "token": "deprecated",
            "container": { "type": "message", "message_ts": "1700000002.000100", "channel_id": APPROVAL_CHANNEL, "is_ephemeral": false },
            "trigger_id": "1.2.3",
            "team": { "id": TEAM_ID, "domain": "bench" },
            "channel": { "id": APPROVAL_CHANNEL, "name": "access-approvals" },
            "response_url": self.respond_url,
            "actions": [{
                "type": "button", "action_id": "jit_approve", "block_id": "jit_decision",
                "text": { "type": "plain_text", "text": "Approve" },
                "value": id.to_string(), "action_ts": "1700000003.000200"
            }]
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())])?;
        Ok(self
            .post("/slack/interactions", body)
            .await?
            .status()
            .as_u16())
    }

    async fn post(&self, path: &str, body: String) -> reqwest::Result<reqwest::Response> {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = jitbot::slack::verify::sign(SIGNING_SECRET, &timestamp, body.as_bytes());
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await
    }
}

/// A fresh requester for every request, so that no request is refused as a duplicate.
pub fn user(run: &str, n: u64) -> String {
    format!("U{run}{n:07}")
}
