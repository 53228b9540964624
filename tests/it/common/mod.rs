//! The test harness: jitbot on 127.0.0.1 with a real SQLite file, driven through signed HTTP
//! requests, talking to fakes of Slack, of the Bot Framework and of a webhook receiver that
//! record what they receive.

pub mod fake_graph;
pub mod fake_slack;
pub mod fake_socket_mode;
pub mod fake_teams;
pub mod fake_webhook;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jitbot::domain::AccessRequest;
use jitbot::http::serve::ConnectionLimits;
use jitbot::secrets::Secret;
use jitbot::{App, Config, Secrets, scheduler, store};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use fake_graph::FakeGraph;
pub use fake_slack::FakeSlack;
pub use fake_teams::{FakeBotFramework, TEAMS_USERS};
pub use fake_webhook::FakeWebhook;

pub const SIGNING_SECRET: &str = "test-signing-secret-8f742231b10e";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-3c5e7a91";
pub const REQUEST_CHANNEL: &str = "C0REQUESTS";
pub const APPROVAL_CHANNEL: &str = "C0APPROVALS";
/// The Teams channel where approval cards for prod-db start their threads.
pub const TEAMS_APPROVALS: &str = "19:approvals00000000000000000000000@thread.tacv2";
/// A Teams channel where people ask, and the thread of one message in it.
pub const TEAMS_CHANNEL: &str = "19:3f2e1d0c9b8a4f7e6d5c4b3a29180716@thread.tacv2";
pub const TEAMS_THREAD: &str =
    "19:3f2e1d0c9b8a4f7e6d5c4b3a29180716@thread.tacv2;messageid=1732312800123";
/// The bot as Teams addresses it.
pub const BOT_MRI: &str = "28:11111111-2222-3333-4444-555555555555";

/// prod-db: cards in a Slack and a Teams channel, one approval. payroll: DMs, two approvals.
/// billing: webhook.
pub const DEFAULT_GROUPS: &str = r#"
[[group]]
name = "prod-db"
description = "Read/write on the production database"
target = "prod-db-writers"
owners = ["bob@example.com", "slack:U0CAROL"]
max_duration = "8h"
approval_channel = "C0APPROVALS"
teams_approval_channel = "19:approvals00000000000000000000000@thread.tacv2"

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

/// How a test app is set up beyond its groups.
#[derive(Clone, Copy)]
pub struct Options {
    /// Run the scheduler in the background, as `jitbot serve` does.
    pub scheduler: bool,
    /// Configure a Teams bot registration (`MICROSOFT_APP_ID` …).
    pub teams_app: bool,
    /// `[teams] trial_mode = true`: without a registration, local trial mode.
    pub teams_trial: bool,
    /// Secrets in variables that groups name in `webhook_secret_env`: (variable, value).
    pub webhook_secrets: &'static [(&'static str, &'static str)],
    /// How jitbot proves who it is to Entra ID for Graph.
    pub graph_credential: GraphCredential,
    /// `audit_webhook`: forward the audit trail to the fake webhook receiver.
    pub audit_webhook: bool,
    /// `audit_database_url = "sqlite://audit.db"`: the trail in its own file.
    pub audit_apart: bool,
    /// `audit_retention`, if any.
    pub audit_retention: Option<&'static str>,
    /// `SLACK_APP_TOKEN`: Slack over Socket Mode, through the fake's Socket Mode server.
    pub slack_socket_mode: bool,
    /// `SLACK_SIGNING_SECRET`: Slack over HTTP.
    pub slack_signing_secret: bool,
    /// How the listener bounds connections (jitbot's own unless a test shortens them).
    pub connections: ConnectionLimits,
}

/// The ways jitbot can get Graph tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GraphCredential {
    /// `AZURE_CLIENT_SECRET`.
    Secret,
    /// `AZURE_FEDERATED_TOKEN_FILE`, holding [`FEDERATED_TOKEN`].
    FederatedTokenFile,
    /// `AZURE_USE_MANAGED_IDENTITY`, against the fake's instance metadata endpoint.
    ManagedIdentity,
}

/// What the federated token file holds in tests.
pub const FEDERATED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.federated-by-the-platform.sig";

impl Default for Options {
    fn default() -> Self {
        Self {
            scheduler: false,
            teams_app: true,
            teams_trial: false,
            webhook_secrets: &[],
            graph_credential: GraphCredential::Secret,
            audit_webhook: false,
            audit_apart: false,
            audit_retention: None,
            slack_socket_mode: false,
            slack_signing_secret: true,
            connections: ConnectionLimits::default(),
        }
    }
}

pub struct TestApp {
    pub app: App,
    pub url: String,
    pub slack: FakeSlack,
    pub teams: FakeBotFramework,
    pub graph: FakeGraph,
    pub webhook: FakeWebhook,
    pub dir: Arc<tempfile::TempDir>,
    options: Options,
    config_text: String,
    shutdown: CancellationToken,
    /// The serving task: server and, with `scheduler`, the scheduler.
    served: Option<tokio::task::JoinHandle<()>>,
    http: reqwest::Client,
}

impl TestApp {
    /// The default groups; the scheduler does not run by itself — tests call `run_jobs_at`.
    pub async fn spawn() -> Self {
        Self::spawn_with(DEFAULT_GROUPS, false).await
    }

    pub async fn spawn_with(groups: &str, scheduler: bool) -> Self {
        let options = Options {
            scheduler,
            ..Options::default()
        };
        Self::spawn_with_options(groups, options).await
    }

    pub async fn spawn_with_options(groups: &str, options: Options) -> Self {
        let slack = FakeSlack::start().await;
        let teams = FakeBotFramework::start().await;
        let graph = FakeGraph::start().await;
        let webhook = FakeWebhook::start().await;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let audit_webhook = if options.audit_webhook {
            format!("audit_webhook = \"{}\"\n", webhook.url)
        } else {
            String::new()
        };
        let audit_webhook = format!(
            "{audit_webhook}{}{}",
            if options.audit_apart {
                "audit_database_url = \"sqlite://audit.db\"\n"
            } else {
                ""
            },
            options
                .audit_retention
                .map(|keep| format!("audit_retention = \"{keep}\"\n"))
                .unwrap_or_default()
        );
        let config_text = format!(
            "{audit_webhook}database_url = \"sqlite://jitbot.db\"\n\
             [slack]\napi_url = \"{slack}\"\n\
             [teams]\nopenid_metadata_url = \"{bf}/openid\"\ntoken_url = \"{bf}/token\"\nservice_url = \"{bf}/\"\n\
             service_hosts = [\"127.0.0.1\"]\ntrial_mode = {trial}\n\
             [graph]\napi_url = \"{graph}/v1.0/\"\nauthority_url = \"{graph}/\"\n\
             {groups}",
            slack = slack.api_url(),
            bf = teams.url,
            graph = graph.url,
            groups = groups.replace("{webhook}", &webhook.url),
            trial = options.teams_trial,
        );
        Self::start(config_text, slack, teams, graph, webhook, dir, options).await
    }

    async fn start(
        config_text: String,
        slack: FakeSlack,
        teams: FakeBotFramework,
        graph: FakeGraph,
        webhook: FakeWebhook,
        dir: Arc<tempfile::TempDir>,
        options: Options,
    ) -> Self {
        std::fs::write(dir.path().join("jitbot.toml"), &config_text).unwrap();
        let config = Config::parse(&config_text, dir.path()).expect("test config is valid");
        let mut secrets = secrets(options.teams_app);
        match options.graph_credential {
            GraphCredential::Secret => {}
            GraphCredential::FederatedTokenFile => {
                let path = dir.path().join("federated-token");
                std::fs::write(&path, format!("{FEDERATED_TOKEN}\n")).unwrap();
                secrets.azure_client_secret = None;
                secrets.azure_federated_token_file = Some(path);
            }
            GraphCredential::ManagedIdentity => {
                secrets.azure_client_secret = None;
                secrets.managed_identity_url =
                    Some(format!("{}/metadata/identity/oauth2/token", graph.url));
            }
        }
        if options.slack_socket_mode {
            secrets.slack_app_token = Some(Secret::new(fake_slack::APP_TOKEN));
        }
        if !options.slack_signing_secret {
            secrets.slack_signing_secret = None;
        }
        if options.audit_webhook {
            secrets.webhook_secrets.insert(
                jitbot::config::AUDIT_WEBHOOK_SECRET_ENV.to_string(),
                Secret::new(WEBHOOK_SECRET),
            );
        }
        for (name, value) in options.webhook_secrets {
            secrets
                .webhook_secrets
                .insert(name.to_string(), Secret::new(*value));
        }
        let app = App::build(config, secrets).await.expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        // Served as `jitbot serve` serves: the same router, and with `scheduler` the same
        // background loops.
        let served = app.clone().serve_with(
            listener,
            shutdown.clone(),
            options.scheduler,
            options.connections,
        );
        let served = Some(tokio::spawn(async move { served.await.unwrap() }));
        Self {
            app,
            url,
            slack,
            teams,
            graph,
            webhook,
            dir,
            options,
            config_text,
            shutdown,
            served,
            http: reqwest::Client::new(),
        }
    }

    /// Stops this instance as SIGTERM does (the token `jitbot serve` cancels on a signal) and
    /// waits until it has: returns how long that took.
    pub async fn shut_down(&mut self) -> std::time::Duration {
        let started = std::time::Instant::now();
        self.shutdown.cancel();
        if let Some(served) = self.served.take() {
            served.await.unwrap();
        }
        started.elapsed()
    }

    /// Stops this instance (server and scheduler) and starts a new one on the same database.
    pub async fn restart(self, scheduler: bool) -> Self {
        let options = Options {
            scheduler,
            ..self.options
        };
        self.restart_with(options).await
    }

    /// Restarts on the same database with other options (a bot registered since, say).
    pub async fn restart_with(self, options: Options) -> Self {
        self.shutdown.cancel();
        let before = self.options;
        let Self {
            config_text,
            slack,
            teams,
            graph,
            webhook,
            dir,
            app,
            ..
        } = self;
        app.core.db.close().await;
        let config_text = config_text.replace(
            &format!("trial_mode = {}", before.teams_trial),
            &format!("trial_mode = {}", options.teams_trial),
        );
        Self::start(config_text, slack, teams, graph, webhook, dir, options).await
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
            if scheduler::run_due(&self.app.core, at).await.unwrap() == 0 {
                return;
            }
        }
        panic!("jobs kept coming due at {at}");
    }

    pub async fn run_jobs(&self) {
        self.run_jobs_at(Utc::now()).await
    }

    pub async fn request(&self, id: i64) -> AccessRequest {
        store::requests::get(&self.app.core.db.read().unwrap(), id)
            .unwrap()
            .expect("request exists")
    }

    /// Waits (up to 5 s) for request `id` to reach `status`, as the running scheduler moves it.
    /// Waits until request `id` passed its check: with the scheduler in the background, the
    /// check may still be running when the test's own `run_jobs` returns.
    pub async fn wait_until_confirmed(&self, id: i64) {
        for _ in 0..500 {
            if self.request(id).await.confirmed_at.is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("request #{id} was never confirmed");
    }

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

    /// A counter's value in `GET /metrics`, by its whole name (`jitbot_…_total`).
    pub async fn counter(&self, name: &str) -> u64 {
        let metrics = reqwest::get(format!("{}/metrics", self.url)).await.unwrap();
        let metrics = metrics.text().await.unwrap();
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    }

    pub async fn count(&self, table: &str) -> i64 {
        count_in(&self.app.core.db, table)
    }

    /// Jobs left other than a pending request's reminder and expiry, which wait a day.
    pub async fn jobs_left_but_timeouts(&self) -> i64 {
        query_one(
            &self.app.core.db,
            "SELECT COUNT(*) FROM jobs WHERE json_extract(payload, '$.job') \
             NOT IN ('remind_pending', 'expire_pending')",
            [],
        )
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
        store::audit::list(&self.app.core.trail.db().read().unwrap(), Some(id))
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
        store::local_memberships::members(&self.app.core.db.read().unwrap(), target).unwrap()
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

pub fn secrets(teams_app: bool) -> Secrets {
    Secrets {
        slack_signing_secret: Some(Secret::new(SIGNING_SECRET)),
        slack_bot_token: Some(Secret::new("xoxb-test-token")),
        slack_app_token: None,
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        webhook_secrets: Default::default(),
        microsoft_app_id: teams_app.then(|| fake_teams::APP_ID.to_string()),
        microsoft_app_password: teams_app.then(|| Secret::new("test-app-password")),
        microsoft_app_tenant_id: teams_app.then(|| fake_teams::TENANT_ID.to_string()),
        azure_tenant_id: Some(fake_teams::TENANT_ID.to_string()),
        azure_client_id: Some("99999999-8888-7777-6666-555555555555".to_string()),
        azure_client_secret: Some(Secret::new("test-graph-secret")),
        azure_federated_token_file: None,
        managed_identity_url: None,
        audit_key: None,
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

/// A Teams user of the fake directory by first name: (Entra id, `29:` id, name, email).
pub fn teams_user(first_name: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    *TEAMS_USERS
        .iter()
        .find(|u| u.2.to_ascii_lowercase().starts_with(first_name))
        .unwrap_or_else(|| panic!("no Teams user {first_name}"))
}

impl TestApp {
    /// An activity from `user` in `conversation` (`personal` when it starts with `a:`).
    pub fn activity(&self, kind: &str, user: &str, conversation: &str) -> Value {
        let (aad, mri, name, _) = teams_user(user);
        let conversation_type = if conversation.starts_with("a:") {
            "personal"
        } else {
            "channel"
        };
        json!({
            "type": kind,
            "id": format!("activity-{}", rand_id()),
            "timestamp": Utc::now().to_rfc3339(),
            "serviceUrl": self.teams.service_url(),
            "channelId": "msteams",
            "from": { "id": mri, "name": name, "aadObjectId": aad },
            "conversation": { "id": conversation, "conversationType": conversation_type, "tenantId": fake_teams::TENANT_ID },
            "recipient": { "id": BOT_MRI, "name": "JIT Bot" },
            "channelData": { "tenant": { "id": fake_teams::TENANT_ID } },
        })
    }

    /// Posts an activity to `/api/messages` with a valid token unless one is given.
    pub async fn post_activity(&self, activity: &Value, token: Option<&str>) -> reqwest::Response {
        let token = token
            .map(str::to_owned)
            .unwrap_or_else(|| self.teams.token(&self.teams.service_url(), json!({})));
        self.http
            .post(format!("{}/api/messages", self.url))
            .bearer_auth(token)
            .json(activity)
            .send()
            .await
            .unwrap()
    }

    /// `user` writes `text` to the bot in `conversation`, mentioning it in channels.
    pub async fn teams_say(
        &self,
        user: &str,
        conversation: &str,
        text: &str,
    ) -> reqwest::StatusCode {
        let mut activity = self.activity("message", user, conversation);
        if conversation.starts_with("a:") {
            activity["text"] = json!(text);
        } else {
            activity["text"] = json!(format!("<at>JIT Bot</at> {text}"));
            activity["entities"] = json!([{ "type": "mention", "mentioned": { "id": BOT_MRI, "name": "JIT Bot" }, "text": "<at>JIT Bot</at>" }]);
        }
        self.post_activity(&activity, None).await.status()
    }

    /// `user` clicks an `Action.Execute` button (`jit.approve`, `jit.deny`, `jit.refresh`) on
    /// request `id`'s card; returns the invoke response body.
    pub async fn teams_click(&self, user: &str, id: i64, verb: &str) -> Value {
        let mut activity = self.activity("invoke", user, TEAMS_APPROVALS);
        activity["name"] = json!("adaptiveCard/action");
        activity["value"] = json!({
            "action": { "type": "Action.Execute", "id": "button", "verb": verb, "data": { "requestId": id } },
            "trigger": "manual",
        });
        let response = self.post_activity(&activity, None).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `user` clicks the `Action.Submit` fallback of a button.
    pub async fn teams_submit(
        &self,
        user: &str,
        conversation: &str,
        id: i64,
        verb: &str,
    ) -> reqwest::StatusCode {
        let mut activity = self.activity("message", user, conversation);
        activity["value"] = json!({ "jitVerb": verb, "requestId": id });
        self.post_activity(&activity, None).await.status()
    }

    /// `user` has talked to the bot (asked for help) in `conversation`, and jitbot has read their
    /// email from Teams: from now on Teams can name them and DM them.
    pub async fn teams_user_has_talked(&self, user: &str, conversation: &str) {
        let before = self.teams.sent_to(conversation).len();
        assert_eq!(self.teams_say(user, conversation, "help").await, 200);
        self.teams.wait_for_sent(conversation, before + 1).await;
        self.wait_until_teams_email_known(user).await;
    }

    /// Waits until jitbot has read a Teams user's email from their profile.
    pub async fn wait_until_teams_email_known(&self, user: &str) {
        let (aad, ..) = teams_user(user);
        for _ in 0..500 {
            let known = store::identities::addresses_of(
                &self.app.core.db.read().unwrap(),
                jitbot::domain::Platform::Teams,
                aad,
                DateTime::<Utc>::MIN_UTC,
            )
            .unwrap();
            if known.is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("jitbot never learned {user}'s email");
    }

    /// alice asks in the Teams channel thread and the jobs that answer run; returns nothing, the
    /// request is #1 in a fresh app.
    pub async fn teams_alice_requests(&self, text: &str) {
        assert_eq!(self.teams_say("alice", TEAMS_THREAD, text).await, 200);
        self.run_jobs().await;
    }

    /// Whether this app has a Teams bot registration (else it is in local trial mode).
    pub fn has_teams_app(&self) -> bool {
        self.options.teams_app
    }
}

/// Runs one statement that changes rows, as a write transaction of its own (the writer is the
/// only connection that may write): how tests tamper with what is stored. Returns the rows
/// changed.
pub async fn execute(db: &store::Db, sql: &str, params: impl rusqlite::Params) -> usize {
    store::write(db, |tx| Ok::<_, store::Error>(tx.execute(sql, params)?))
        .await
        .unwrap()
}

/// The one value `sql` selects, read as committed now.
pub fn query_one<T: rusqlite::types::FromSql>(
    db: &store::Db,
    sql: &str,
    params: impl rusqlite::Params,
) -> T {
    db.read()
        .unwrap()
        .query_row(sql, params, |row| row.get(0))
        .unwrap()
}

/// Every value of the one column `sql` selects, read as committed now.
pub fn query_column<T: rusqlite::types::FromSql>(
    db: &store::Db,
    sql: &str,
    params: impl rusqlite::Params,
) -> Vec<T> {
    let reader = db.read().unwrap();
    let mut statement = reader.prepare(sql).unwrap();
    statement
        .query_map(params, |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The rows in `table`.
pub fn count_in(db: &store::Db, table: &str) -> i64 {
    query_one(db, &format!("SELECT COUNT(*) FROM {table}"), [])
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
