//! OAuth 2.0 app-only tokens from Entra ID, cached until shortly before they expire: what the Bot
//! Connector and Microsoft Graph both want — from a client secret, a federated token (workload
//! identity, as on AKS), or a user-assigned managed identity.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::metrics::{ApiErrorKind, ApiErrors};
use crate::secrets::Secret;

/// A token is replaced this long before it expires, so that no call carries a dying one.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

pub struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    credential: Credential,
    scope: &'static str,
    cached: Mutex<Option<(Secret, Instant)>>,
    /// Failed token requests, as service `token` (`GET /metrics`): a call that needs a token
    /// fails before it reaches its service.
    errors: ApiErrors,
}

/// How jitbot proves who it is to Entra ID.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client secret of the app registration.
    Secret(Secret),
    /// Workload identity federation: a token the platform writes to this file and renews
    /// (`AZURE_FEDERATED_TOKEN_FILE` on AKS), read afresh for every token request and sent as a
    /// client assertion. No secret is stored anywhere.
    FederatedTokenFile(PathBuf),
    /// A user-assigned managed identity (its client id is the `client_id`): tokens come from the
    /// instance metadata endpoint at this URL, with no credential at all.
    ManagedIdentity { endpoint: String },
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// A number from Entra ID, a string from the instance metadata endpoint.
    #[serde(deserialize_with = "number_or_string")]
    expires_in: u64,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("expires_in")),
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom(
            "expires_in is neither a number nor a string",
        )),
    }
}

impl TokenSource {
    pub fn new(
        http: reqwest::Client,
        token_url: String,
        client_id: String,
        credential: Credential,
        scope: &'static str,
    ) -> Self {
        Self {
            http,
            token_url,
            client_id,
            credential,
            scope,
            cached: Mutex::new(None),
            errors: ApiErrors::default(),
        }
    }

    /// Counts failed token requests into `errors` from now on.
    pub fn count_errors_in(&mut self, errors: ApiErrors) {
        self.errors = errors;
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
            .request()
            .await?
            .send()
            .await
            .inspect_err(|e| self.errors.count("token", ApiErrorKind::of_send(e)))
            .with_context(|| format!("requesting a token for {}", self.scope))?;
        let status = response.status();
        if !status.is_success() {
            self.errors
                .count("token", ApiErrorKind::of_status(status.as_u16()));
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

    /// The token request this credential makes.
    async fn request(&self) -> anyhow::Result<reqwest::RequestBuilder> {
        let client_id = self.client_id.as_str();
        Ok(match &self.credential {
            Credential::Secret(secret) => self.http.post(&self.token_url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret.expose()),
                ("scope", self.scope),
            ]),
            Credential::FederatedTokenFile(path) => {
                let assertion = tokio::fs::read_to_string(path).await.with_context(|| {
                    format!("reading the federated token file {}", path.display())
                })?;
                self.http.post(&self.token_url).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.trim()),
                    ("scope", self.scope),
                ])
            }
            Credential::ManagedIdentity { endpoint } => {
                // The metadata endpoint speaks OAuth v1: a resource, not a scope.
                let resource = self.scope.trim_end_matches(".default");
                self.http.get(endpoint).header("Metadata", "true").query(&[
                    ("api-version", "2018-02-01"),
                    ("resource", resource),
                    ("client_id", client_id),
                ])
            }
        })
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The instance metadata endpoint of Azure VMs, AKS nodes and container hosts.
pub const DEFAULT_MANAGED_IDENTITY_URL: &str =
    "http://169.254.169.254/metadata/identity/oauth2/token";
