//! OAuth 2.0 client-credentials tokens from Entra ID, cached until shortly before they expire:
//! what the Bot Connector and Microsoft Graph both want.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::secrets::Secret;

/// A token is replaced this long before it expires, so that no call carries a dying one.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

pub struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: &'static str,
    cached: Mutex<Option<(Secret, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl TokenSource {
    pub fn new(
        http: reqwest::Client,
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: &'static str,
    ) -> Self {
        Self {
            http,
            token_url,
            client_id,
            client_secret,
            scope,
            cached: Mutex::new(None),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A valid token: the cached one, or a new one from the token endpoint.
    pub async fn token(&self) -> anyhow::Result<Secret> {
        let mut cached = self.cached.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("scope", self.scope),
            ])
            .send()
            .await
            .with_context(|| format!("requesting a token for {}", self.scope))?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let reason = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("-");
            return Err(anyhow!("the token endpoint answered {status}: {reason}"));
        }
        let token: TokenResponse = response.json().await.context("reading the token")?;
        let lifetime = Duration::from_secs(token.expires_in);
        let refresh_at = Instant::now()
            + lifetime
                .saturating_sub(TOKEN_MARGIN)
                .max(Duration::from_secs(30));
        let secret = Secret::new(token.access_token);
        *cached = Some((secret.clone(), refresh_at));
        Ok(secret)
    }
}
