//! Slack's Web API, through slack-morphism: post and update messages, open DMs, look up users.

use crate::metrics::{ApiErrorKind, ApiErrors};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use hashlink::LruCache;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::secrets::Secret;

/// How many users' DM channel ids are remembered (the least recently used are forgotten).
const DM_CHANNELS_KEPT: usize = 10_000;

/// How long any one Slack call may take before it counts as failed (and is retried by its job).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackHyperClient>,
    token: Option<SlackApiToken>,
    http: reqwest::Client,
    /// The workspace the bot token belongs to (`auth.test`), learned once.
    team_id: Arc<tokio::sync::OnceCell<String>>,
    /// User id → the id of the bot's DM channel with them. Slack keeps that channel for good, so
    /// `conversations.open` is asked once per user, not once per card.
    dm_channels: Arc<Mutex<LruCache<String, String>>>,
    /// Failed calls, counted for `GET /metrics`.
    errors: ApiErrors,
}

/// What `users.info` says about a user, as far as jitbot relies on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    /// The user's own workspace: another one for Slack Connect users.
    pub team_id: Option<String>,
    pub email: Option<String>,
    /// Whether Slack confirmed that the user controls `email`.
    pub email_confirmed: bool,
    pub deleted: bool,
    /// The user's time zone (IANA name), as set in Slack.
    pub time_zone: Option<String>,
}

/// `users.info`'s answer: slack-morphism's `SlackUser` has no `is_email_confirmed`.
#[derive(serde::Deserialize)]
struct UsersInfo {
    user: UserInfo,
}

#[derive(serde::Deserialize)]
struct UserInfo {
    team_id: Option<String>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    is_email_confirmed: bool,
    profile: Option<UserProfile>,
    tz: Option<String>,
}

#[derive(serde::Deserialize)]
struct UserProfile {
    email: Option<String>,
}

impl SlackApi {
    /// `api_url` is the Web API base (`https://slack.com/api/`); tests point it at a fake.
    pub fn new(api_url: &str, bot_token: Option<&Secret>) -> anyhow::Result<Self> {
        // https_or_http: production URLs are https; tests use a fake on http://127.0.0.1.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .context("loading the system's TLS roots")?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let connector = SlackClientHyperConnector::with_connector(connector)
            .with_slack_api_url(api_url.trim_end_matches('/'));
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            token: bot_token
                .map(|t| SlackApiToken::new(SlackApiTokenValue(t.expose().to_string()))),
            http: reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?,
            team_id: Arc::new(tokio::sync::OnceCell::new()),
            dm_channels: Arc::new(Mutex::new(LruCache::new(DM_CHANNELS_KEPT))),
            errors: ApiErrors::default(),
        })
    }

    /// The same client counting its failed calls into `errors` (`GET /metrics`).
    pub fn counting_errors(self, errors: ApiErrors) -> Self {
        Self { errors, ..self }
    }

    fn token(&self) -> anyhow::Result<&SlackApiToken> {
        self.token
            .as_ref()
            .ok_or_else(|| anyhow!("SLACK_BOT_TOKEN is not set"))
    }

    /// Posts a message (in a thread when `thread_ts` is given) and returns its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: String,
        blocks: Option<Vec<SlackBlock>>,
    ) -> anyhow::Result<String> {
        let token = self.token()?;
        let session = self.client.open_session(token);
        let mut content = SlackMessageContent::new().with_text(text);
        content.blocks = blocks;
        let mut request = SlackApiChatPostMessageRequest::new(channel.into(), content);
        request.thread_ts = thread_ts.map(|ts| SlackTs(ts.to_string()));
        let response = timed(
            &self.errors,
            "chat.postMessage",
            session.chat_post_message(&request),
        )
        .await?;
        Ok(response.ts.0)
    }

    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: String,
        blocks: Vec<SlackBlock>,
    ) -> anyhow::Result<()> {
        let token = self.token()?;
        let session = self.client.open_session(token);
        let content = SlackMessageContent::new()
            .with_text(text)
            .with_blocks(blocks);
        let request =
            SlackApiChatUpdateRequest::new(channel.into(), content, SlackTs(ts.to_string()));
        timed(&self.errors, "chat.update", session.chat_update(&request)).await?;
        Ok(())
    }

    /// The DM channel with a user, opened if needed (asked of Slack once per user).
    pub async fn open_dm(&self, user_id: &str) -> anyhow::Result<String> {
        if let Some(channel) = self.dm_channels.lock().expect("not poisoned").get(user_id) {
            return Ok(channel.clone());
        }
        let token = self.token()?;
        let session = self.client.open_session(token);
        let request = SlackApiConversationsOpenRequest::new().with_users(vec![user_id.into()]);
        let response = timed(
            &self.errors,
            "conversations.open",
            session.conversations_open(&request),
        )
        .await?;
        let channel = response.channel.id.0;
        self.dm_channels
            .lock()
            .expect("not poisoned")
            .insert(user_id.to_string(), channel.clone());
        Ok(channel)
    }

    /// What Slack says about a user: their workspace, email and whether it is confirmed (needs
    /// the `users:read.email` scope for the email).
    pub async fn user(&self, user_id: &str) -> anyhow::Result<UserFacts> {
        let token = self.token()?;
        let session = self.client.open_session(token);
        let params = vec![("user", Some(user_id))];
        let call =
            session
                .http_session_api
                .http_get::<UsersInfo, _, _>("users.info", &params, None);
        let info = timed(&self.errors, "users.info", call).await?.user;
        Ok(UserFacts {
            team_id: info.team_id,
            email: info
                .profile
                .and_then(|profile| profile.email)
                .map(|email| email.trim().to_ascii_lowercase())
                .filter(|email| !email.is_empty()),
            email_confirmed: info.is_email_confirmed,
            deleted: info.deleted,
            time_zone: info.tz,
        })
    }

    /// The workspace of the bot token, asked of Slack (`auth.test`) once and then remembered.
    pub async fn team_id(&self) -> anyhow::Result<String> {
        let team = self
            .team_id
            .get_or_try_init(|| async {
                let token = self.token()?;
                let session = self.client.open_session(token);
                let answer = timed(&self.errors, "auth.test", session.auth_test()).await?;
                anyhow::Ok(answer.team_id.0)
            })
            .await?;
        Ok(team.clone())
    }

    /// The workspace, if already learned: for answers that must not wait on Slack.
    pub fn known_team_id(&self) -> Option<String> {
        self.team_id.get().cloned()
    }

    /// The user with this email, or `None` when the workspace has nobody with it.
    pub async fn user_by_email(&self, email: &str) -> anyhow::Result<Option<String>> {
        let token = self.token()?;
        let session = self.client.open_session(token);
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_string()));
        match tokio::time::timeout(CALL_TIMEOUT, session.users_lookup_by_email(&request)).await {
            Ok(Ok(response)) => Ok(Some(response.user.id.0)),
            Ok(Err(SlackClientError::ApiError(e))) if e.code == "users_not_found" => Ok(None),
            Ok(Err(e)) => Err(anyhow!("users.lookupByEmail: {e}")),
            Err(_) => Err(anyhow!("users.lookupByEmail timed out")),
        }
    }

    /// Opens a modal for the person whose action gave `trigger_id` (valid for 3 seconds, once).
    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> anyhow::Result<()> {
        let token = self.token()?;
        let session = self.client.open_session(token);
        let request = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.to_string()), view);
        timed(&self.errors, "views.open", session.views_open(&request)).await?;
        Ok(())
    }

    /// A private reply through an interaction's `response_url`.
    pub async fn respond_ephemeral(&self, response_url: &str, text: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(response_url)
            .json(&serde_json::json!({
                "response_type": "ephemeral",
                "replace_original": false,
                "text": text,
            }))
            .send()
            .await
            // A response_url lets anyone post into the person's conversation for half an hour:
            // reqwest's error would print it, and this error is logged.
            .map_err(|error| anyhow!("posting to the response_url: {}", error.without_url()))?;
        if !response.status().is_success() {
            return Err(anyhow!("response_url answered {}", response.status()));
        }
        Ok(())
    }
}

async fn timed<T>(
    errors: &ApiErrors,
    method: &str,
    call: impl Future<Output = Result<T, SlackClientError>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            errors.count("slack", kind_of(&error));
            Err(anyhow!("{method}: {error}"))
        }
        Err(_) => {
            errors.count("slack", ApiErrorKind::Timeout);
            Err(anyhow!("{method} timed out after {CALL_TIMEOUT:?}"))
        }
    }
}

/// How a Web API call failed, for the metrics.
fn kind_of(error: &SlackClientError) -> ApiErrorKind {
    match error {
        SlackClientError::RateLimitError(_) => ApiErrorKind::Throttled,
        SlackClientError::ApiError(e) if e.code == "ratelimited" => ApiErrorKind::Throttled,
        SlackClientError::ApiError(_) => ApiErrorKind::Api,
        SlackClientError::HttpError(e) => ApiErrorKind::of_status(e.status_code.as_u16()),
        _ => ApiErrorKind::Connect,
    }
}
