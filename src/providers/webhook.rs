//! The `webhook` provider: a signed JSON event to a URL for anything jitbot has no provider for.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::{Change, Grant, Provider};
use crate::domain::ProviderKind;
use crate::metrics::{ApiErrorKind, ApiErrors};
use crate::secrets::Secret;

pub const SIGNATURE_HEADER: &str = "x-jitbot-signature";
pub const TIMESTAMP_HEADER: &str = "x-jitbot-timestamp";

pub struct WebhookProvider {
    http: reqwest::Client,
    /// The signing secrets, by the environment variable they were read from at start
    /// (`webhook_secret_env`, or `JITBOT_WEBHOOK_SECRET`): keyed by variable rather than by
    /// group so that a group added by a reload, or one removed while its access is active,
    /// still signs with its own secret.
    secrets: HashMap<String, Secret>,
    errors: ApiErrors,
}

#[derive(Serialize)]
struct Event<'a> {
    action: &'a str,
    request_id: i64,
    group: &'a str,
    target: &'a str,
    user: &'a str,
    user_email: Option<&'a str>,
    expires_at: Option<String>,
}

impl WebhookProvider {
    pub fn new(secrets: HashMap<String, Secret>) -> anyhow::Result<Self> {
        // A redirect would carry the signed event to an address nobody configured.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            secrets,
            errors: ApiErrors::default(),
        })
    }

    /// The same provider counting failed deliveries into `errors` (`GET /metrics`).
    pub fn counting_errors(self, errors: ApiErrors) -> Self {
        Self { errors, ..self }
    }

    /// Whether the secret in this variable (`None`: `JITBOT_WEBHOOK_SECRET`) was read at start.
    pub fn holds_secret(&self, secret_env: Option<&str>) -> bool {
        self.secrets.contains_key(secret_variable(secret_env))
    }

    async fn send(&self, action: &str, grant: &Grant<'_>) -> anyhow::Result<()> {
        let ProviderKind::Webhook { url, secret_env } = &grant.group.provider else {
            bail!(
                "group {} does not use the webhook provider",
                grant.group.name
            );
        };
        let variable = secret_variable(secret_env.as_deref());
        let secret = self.secrets.get(variable).with_context(|| {
            format!(
                "no webhook secret for group {}: {variable} was not set when jitbot started",
                grant.group.name
            )
        })?;
        let body = serde_json::to_vec(&Event {
            action,
            request_id: grant.request_id,
            group: &grant.group.name,
            target: &grant.group.target,
            user: grant.user_key,
            user_email: grant.user_email,
            expires_at: grant.expires_at.map(|at| at.to_rfc3339()),
        })?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, sign(secret.expose(), &timestamp, &body))
            .body(body)
            .send()
            .await
            // Webhook addresses often carry a token in the path or query; reqwest's error would
            // print it into the logs along with the grant's failure.
            .inspect_err(|e| self.errors.count("webhook", ApiErrorKind::of_send(e)))
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("webhook {action} for request #{}", grant.request_id))?;
        let status = response.status();
        if !status.is_success() {
            self.errors
                .count("webhook", ApiErrorKind::of_status(status.as_u16()));
        }
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|to| to.to_str().ok())
                .unwrap_or("nowhere");
            bail!(
                "webhook {action} answered {status} (a redirect to {to}); jitbot refused the \
                 redirect and sends events only to webhook_url: set it to the final address"
            );
        }
        if !status.is_success() {
            bail!("webhook {action} answered {status}");
        }
        Ok(())
    }
}

fn secret_variable(secret_env: Option<&str>) -> &str {
    secret_env.unwrap_or(crate::secrets::WEBHOOK_SECRET_ENV)
}

/// `v1=<hex HMAC-SHA256 of "v1:{timestamp}:{body}">`, the scheme receivers verify.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"v1:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl Provider for WebhookProvider {
    /// A webhook cannot be asked; the receiver is told the request id and decides itself.
    async fn is_member(&self, _grant: &Grant<'_>) -> anyhow::Result<bool> {
        Ok(false)
    }

    async fn grant(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        self.send("grant", grant).await.map(|()| Change::Made)
    }

    async fn revoke(&self, grant: &Grant<'_>) -> anyhow::Result<Change> {
        self.send("revoke", grant).await.map(|()| Change::Made)
    }

    async fn extend(&self, grant: &Grant<'_>) -> anyhow::Result<()> {
        self.send("extend", grant).await
    }
}
