//! The test harness: jitbot on 127.0.0.1 with a real SQLite file, driven through signed HTTP
//! requests, talking to fakes of Slack and of a webhook receiver that record what they receive.
#![allow(dead_code)]

pub mod fake_slack;
pub mod fake_webhook;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jitbot::domain::AccessRequest;
use jitbot::secrets::Secret;
use jitbot::{App, Config, Secrets, jobs, store};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use fake_slack::FakeSlack;
pub use fake_webhook::FakeWebhook;

pub const SIGNING_SECRET: &str = "test-signing-secret-8f742231b10e";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-3c5e7a91";
pub const REQUEST_CHANNEL: &str = "C0REQUESTS";
pub const APPROVAL_CHANNEL: &str = "C0APPROVALS";

/// prod-db: cards in a channel, one approval. payroll: DMs, two approvals. billing: webhook.
pub const DEFAULT_GROUPS: &str = r#"
[[group]]
name = "prod-db"
description = "Read/write on the production database"
target = "prod-db-writers"
owners = ["bob@example.com", "slack:U0CAROL"]
max_duration = "8h"
approval_channel = "C0APPROVALS"

[[group]]
name = "payroll"
owners = ["bob@example.com", "carol@example.com", "dave@example.com"]
approvals_required = 2

[[group]]
name = "billing"
provider = "webhook"
webhook_url = "{webhook}"
target = "billing-admins"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
"#;

pub struct TestApp {
    pub app: App,
    pub url: String,
    pub slack: FakeSlack,
    pub webhook: FakeWebhook,
    pub dir: Arc<tempfile::TempDir>,
    config_text: String,
    shutdown: CancellationToken,
    http: reqwest::Client,
}

impl TestApp {
    /// The default groups; the scheduler does not run by itself — tests call `run_jobs_at`.
    pub async fn spawn() -> Self {
        Self::spawn_with(DEFAULT_GROUPS, false).await
    }

    pub async fn spawn_with(groups: &str, scheduler: bool) -> Self {
        let slack = FakeSlack::start().await;
        let webhook = FakeWebhook::start().await;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let config_text = format!(
            "database_url = \"sqlite://jitbot.db\"\n[slack]\napi_url = \"{}\"\n{}",
            slack.api_url(),
            groups.replace("{webhook}", &webhook.url)
        );
        Self::start(config_text, slack, webhook, dir, scheduler).await
    }

    async fn start(
        config_text: String,
        slack: FakeSlack,
        webhook: FakeWebhook,
        dir: Arc<tempfile::TempDir>,
        scheduler: bool,
    ) -> Self {
        std::fs::write(dir.path().join("jitbot.toml"), &config_text).unwrap();
        let config = Config::parse(&config_text, dir.path()).expect("test config is valid");
        let app = App::build(config, secrets()).await.expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let router = jitbot::http::router(app.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .unwrap()
        });
        if scheduler {
            tokio::spawn(jobs::run(app.clone(), shutdown.clone()));
        }
        Self {
            app,
            url,
            slack,
            webhook,
            dir,
            config_text,
            shutdown,
            http: reqwest::Client::new(),
        }
    }

    /// Stops this instance (server and scheduler) and starts a new one on the same database.
    pub async fn restart(self, scheduler: bool) -> Self {
        self.shutdown.cancel();
        let Self {
            config_text,
            slack,
            webhook,
            dir,
            app,
            ..
        } = self;
        app.db.close().await;
        Self::start(config_text, slack, webhook, dir, scheduler).await
    }

    /// The config file this instance runs with, for the `jitbot` command line.
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("jitbot.toml")
    }

    /// Posts a body to jitbot signed as Slack signs it, at the given Unix time.
    pub async fn post_signed(&self, path: &str, body: &str, timestamp: i64) -> reqwest::Response {
        let ts = timestamp.to_string();
        let signature = jitbot::slack::verify::sign(SIGNING_SECRET, &ts, body.as_bytes());
        self.http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Types `/jit <text>` as `user` in `channel`; returns the (ephemeral) JSON answer.
    pub async fn command(&self, user: &str, channel: &str, text: &str) -> Value {
        let body = slash_command_body(user, channel, text);
        let response = self
            .post_signed("/slack/commands", &body, Utc::now().timestamp())
            .await;
        assert_eq!(
            response.status(),
            200,
            "slash command answered {}",
            response.status()
        );
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["response_type"], "ephemeral");
        reply
    }

    /// The text of the answer to `/jit <text>` typed by `user` in the request channel.
    pub async fn say(&self, user: &str, text: &str) -> String {
        self.command(user, REQUEST_CHANNEL, text).await["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Clicks Approve (`jit_approve`) or Deny (`jit_deny`) on request `id`'s card as `user`.
    pub async fn click(&self, user: &str, id: i64, action: &str) -> reqwest::StatusCode {
        let body = click_body(
            user,
            &id.to_string(),
            action,
            &format!("{}/respond/{user}", self.slack.url),
        );
        self.post_signed("/slack/interactions", &body, Utc::now().timestamp())
            .await
            .status()
    }

    /// Runs the scheduler at `at` until nothing more is due then.
    pub async fn run_jobs_at(&self, at: DateTime<Utc>) {
        for _ in 0..20 {
            if jobs::run_due(&self.app, at).await.unwrap() == 0 {
                return;
            }
        }
        panic!("jobs kept coming due at {at}");
    }

    pub async fn run_jobs(&self) {
        self.run_jobs_at(Utc::now()).await
    }

    pub async fn request(&self, id: i64) -> AccessRequest {
        store::requests::get(&self.app.db, id)
            .await
            .unwrap()
            .expect("request exists")
    }

    /// Waits (up to 5 s) for request `id` to reach `status`, as the running scheduler moves it.
    pub async fn wait_for_status(
        &self,
        id: i64,
        status: jitbot::domain::RequestStatus,
    ) -> AccessRequest {
        for _ in 0..500 {
            let request = self.request(id).await;
            if request.status == status {
                return request;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "request #{id} stayed {} instead of becoming {status}",
            self.request(id).await.status
        );
    }

    /// How many Slack calls changed what people see (`chat.*`).
    pub fn chat_calls(&self) -> usize {
        self.slack
            .calls()
            .iter()
            .filter(|c| c.method.starts_with("chat."))
            .count()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    /// Rows in every table that a request or a decision changes, to assert that nothing changed.
    pub async fn state_counts(&self) -> [i64; 4] {
        [
            self.count("requests").await,
            self.count("decisions").await,
            self.count("jobs").await,
            self.count("audit_events").await,
        ]
    }

    pub async fn audit_actions(&self, id: i64) -> Vec<String> {
        store::audit::list(&self.app.db, Some(id))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// Private replies sent through response_url to this user's clicks.
    pub fn private_replies(&self) -> Vec<String> {
        self.slack
            .calls_to("respond")
            .into_iter()
            .map(|r| r["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn local_members(&self, target: &str) -> Vec<String> {
        store::local_memberships::members(&self.app.db, target)
            .await
            .unwrap()
    }

    /// Submits a request as alice and runs the jobs that post its thread and card; returns its id.
    pub async fn alice_requests(&self, text: &str) -> i64 {
        let reply = self.say("U0ALICE", text).await;
        let id = reply
            .split_once('#')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no request id in {reply:?}"));
        self.run_jobs().await;
        id
    }
}

pub fn secrets() -> Secrets {
    Secrets {
        slack_signing_secret: Some(Secret::new(SIGNING_SECRET)),
        slack_bot_token: Some(Secret::new("xoxb-test-token")),
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        ..Secrets::default()
    }
}

pub fn slash_command_body(user: &str, channel: &str, text: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "deprecated"),
        ("team_id", "T0ACME"),
        ("team_domain", "acme"),
        ("channel_id", channel),
        ("channel_name", "access-requests"),
        ("user_id", user),
        ("user_name", "someone"),
        ("command", "/jit"),
        ("text", text),
        ("api_app_id", "A0JITBOT"),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0ACME/1/x",
        ),
        ("trigger_id", "1.2.3"),
    ])
    .unwrap()
}

pub fn click_body(user: &str, value: &str, action: &str, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": { "id": user, "username": user, "name": user, "team_id": "T0ACME" },
        "api_app_id": "A0JITBOT",
        "token": "deprecated",
        "container": { "type": "message", "message_ts": "1700000002.000100", "channel_id": APPROVAL_CHANNEL, "is_ephemeral": false },
        "trigger_id": "1.2.3",
        "team": { "id": "T0ACME", "domain": "acme" },
        "channel": { "id": APPROVAL_CHANNEL, "name": "access-approvals" },
        "response_url": response_url,
        "actions": [{
            "type": "button",
            "action_id": action,
            "block_id": "jit_decision",
            "text": { "type": "plain_text", "text": "Approve" },
            "value": value,
            "action_ts": "1700000003.000200"
        }]
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}
