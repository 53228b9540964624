//! Bot Framework authentication: every activity carries a JWT signed with a key that the Bot
//! Framework publishes, and the key must be endorsed for the activity's channel. A verified
//! activity is also pinned: to Teams, to our tenant, to a Bot Framework service URL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::activity::Activity;
use super::service_hosts::{ServiceHosts, is_loopback};

pub const ISSUER: &str = "https://api.botframework.com";
/// Keys are fetched again at least this often; new ones can appear at any time.
const KEYS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// An unknown `kid` triggers a fetch, but not more often than this: random kids must not turn
/// jitbot into a load generator against the Bot Framework.
const UNKNOWN_KEY_REFETCH: Duration = Duration::from_secs(60);
/// The Bot Framework SDKs allow five minutes of clock skew.
const CLOCK_SKEW_SECONDS: u64 = 300;
/// The only channel jitbot serves: Web Chat, Direct Line and the rest are other front doors.
pub const TEAMS_CHANNEL: &str = "msteams";
/// Headers a proxy adds: their presence means the peer address is not the sender's.
const PROXY_HEADERS: &[&str] = &["forwarded", "x-real-ip"];

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot check tokens now: {0:#}")]
    Unavailable(anyhow::Error),
}

fn unauthorized(reason: impl Into<String>) -> AuthError {
    AuthError::Unauthorized(reason.into())
}

/// Who sent a verified activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    BotFramework,
    /// Local trial mode: no app id is configured and the request came from this machine.
    LocalEmulator,
}

pub struct BotAuthenticator {
    app_id: Option<String>,
    /// Local trial mode: no app id, and `[teams] trial_mode = true`.
    trial: bool,
    /// Our tenant and any others the config allows.
    tenants: Vec<String>,
    service_hosts: ServiceHosts,
    metadata_url: String,
    http: reqwest::Client,
    keys: Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, PublishedKey>,
    fetched_at: Option<Instant>,
    refetched_for_unknown_at: Option<Instant>,
}

#[derive(Clone)]
struct PublishedKey {
    key: DecodingKey,
    endorsements: Vec<String>,
}

#[derive(Deserialize)]
struct OpenIdMetadata {
    jwks_uri: String,
}

/// jsonwebtoken's `JwkSet` drops `endorsements`, so the key set is read with our own types.
#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    n: Option<String>,
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    serviceurl: Option<String>,
}

/// What the authenticator is told at start.
pub struct AuthSettings {
    pub app_id: Option<String>,
    pub trial_mode: bool,
    pub tenants: Vec<String>,
    pub service_hosts: ServiceHosts,
    pub metadata_url: String,
}

impl BotAuthenticator {
    pub fn new(settings: AuthSettings) -> anyhow::Result<Self> {
        let trial = settings.app_id.is_none() && settings.trial_mode;
        Ok(Self {
            app_id: settings.app_id,
            trial,
            tenants: settings
                .tenants
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
            service_hosts: if trial {
                ServiceHosts::loopback_only()
            } else {
                settings.service_hosts
            },
            metadata_url: settings.metadata_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            keys: Mutex::new(KeyCache::default()),
        })
    }

    pub fn trial_mode(&self) -> bool {
        self.trial
    }

    /// Where Bot Connector calls may go: Bot Framework hosts, or this machine in trial mode.
    pub fn service_hosts(&self) -> &ServiceHosts {
        &self.service_hosts
    }

    /// Checks an activity: its token as the Bot Framework requires (or, in local trial mode, that
    /// it truly comes from this machine), then that it is pinned to Teams, our tenant and a Bot
    /// Framework service URL.
    pub async fn verify(
        &self,
        headers: &http::HeaderMap,
        activity: &Activity,
        peer: Option<SocketAddr>,
    ) -> Result<Caller, AuthError> {
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = match &self.app_id {
            Some(app_id) => {
                self.verify_token(app_id, authorization, activity).await?;
                Caller::BotFramework
            }
            None if self.trial => {
                verify_local(headers, authorization, peer)?;
                Caller::LocalEmulator
            }
            None => {
                return Err(unauthorized(
                    "no Teams bot is registered (MICROSOFT_APP_ID), so no activity is accepted",
                ));
            }
        };
        self.verify_pins(activity)?;
        Ok(caller)
    }

    /// The activity is from Teams, from a tenant we serve, with a service URL of the Bot
    /// Framework: anything else could send jitbot's token, or a claimed identity, elsewhere.
    fn verify_pins(&self, activity: &Activity) -> Result<(), AuthError> {
        if activity.channel_id != TEAMS_CHANNEL {
            return Err(AuthError::Forbidden(format!(
                "activities from channel `{}` are not accepted; jitbot serves Microsoft Teams only",
                activity.channel_id
            )));
        }
        if !self.trial {
            let tenant = activity.tenant_id().map(str::to_ascii_lowercase);
            if !tenant.as_ref().is_some_and(|t| self.tenants.contains(t)) {
                return Err(AuthError::Forbidden(
                    "the activity is not from a tenant jitbot serves".into(),
                ));
            }
        }
        if !self.service_hosts.permits(&activity.service_url) {
            return Err(AuthError::Forbidden(
                "the activity's serviceUrl is not a Bot Framework host".into(),
            ));
        }
        Ok(())
    }

    async fn verify_token(
        &self,
        app_id: &str,
        authorization: Option<&str>,
        activity: &Activity,
    ) -> Result<(), AuthError> {
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("missing Bearer token"))?;
        let header = decode_header(token).map_err(|_| unauthorized("malformed token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(unauthorized("the token is not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| unauthorized("the token names no signing key"))?;
        let key = self.key(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[app_id]);
        validation.leeway = CLOCK_SKEW_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| unauthorized(format!("invalid token: {e}")))?
            .claims;
        if claims.serviceurl.as_deref() != Some(activity.service_url.as_str()) {
            return Err(unauthorized(
                "the token's serviceurl does not match the activity",
            ));
        }
        if !key.endorsements.contains(&activity.channel_id) {
            return Err(AuthError::Forbidden(format!(
                "the signing key is not endorsed for channel `{}`",
                activity.channel_id
            )));
        }
        Ok(())
    }

    async fn key(&self, kid: &str) -> Result<PublishedKey, AuthError> {
        let mut cache = self.keys.lock().await;
        let stale = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() > KEYS_MAX_AGE);
        if stale {
            self.refresh(&mut cache).await?;
        }
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        let may_refetch = cache
            .refetched_for_unknown_at
            .is_none_or(|at| at.elapsed() > UNKNOWN_KEY_REFETCH);
        if !stale && may_refetch {
            cache.refetched_for_unknown_at = Some(Instant::now());
            self.refresh(&mut cache).await?;
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| unauthorized("the token is signed with an unknown key"))
    }

    async fn refresh(&self, cache: &mut KeyCache) -> Result<(), AuthError> {
        match self.fetch_keys().await {
            Ok(keys) => {
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                Ok(())
            }
            // Keys a day old are better than refusing every activity while the metadata is down.
            Err(error) if !cache.keys.is_empty() => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "could not refresh the Bot Framework keys; keeping the old ones"
                );
                Ok(())
            }
            Err(error) => Err(AuthError::Unavailable(error)),
        }
    }

    async fn fetch_keys(&self) -> anyhow::Result<HashMap<String, PublishedKey>> {
        let metadata: OpenIdMetadata = self
            .http
            .get(&self.metadata_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("reading the OpenID metadata")?;
        let set: KeySet = self
            .http
            .get(&metadata.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("reading the signing keys")?;
        let mut keys = HashMap::new();
        for jwk in set.keys {
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if jwk.kty != "RSA" {
                continue;
            }
            match DecodingKey::from_rsa_components(&n, &e) {
                Ok(key) => {
                    keys.insert(
                        kid,
                        PublishedKey {
                            key,
                            endorsements: jwk.endorsements,
                        },
                    );
                }
                Err(error) => {
                    tracing::warn!(kid, %error, "skipping a signing key that cannot be read")
                }
            }
        }
        tracing::info!(keys = keys.len(), "fetched the Bot Framework signing keys");
        Ok(keys)
    }
}

/// Local trial mode: the sender must be this machine itself — not a proxy on it, which would make
/// every request from the Internet look local — and sends no token.
fn verify_local(
    headers: &http::HeaderMap,
    authorization: Option<&str>,
    peer: Option<SocketAddr>,
) -> Result<(), AuthError> {
    let proxied = headers.keys().any(|name| {
        let name = name.as_str();
        PROXY_HEADERS.contains(&name) || name.starts_with("x-forwarded-")
    });
    if proxied {
        return Err(unauthorized(
            "local trial mode refuses requests that came through a proxy",
        ));
    }
    if authorization.is_some() {
        return Err(unauthorized(
            "MICROSOFT_APP_ID is not set, so tokens cannot be checked",
        ));
    }
    match peer {
        Some(peer) if is_loopback(&peer.ip().to_string()) => Ok(()),
        _ => Err(unauthorized(
            "local trial mode accepts activities from this machine only",
        )),
    }
}

/// A verified activity: handlers never see one whose token did not check out.
pub struct VerifiedActivity(pub super::activity::Activity);

impl axum::extract::FromRequest<crate::app::App> for VerifiedActivity {
    type Rejection = crate::http::EdgeError;

    async fn from_request(
        request: axum::extract::Request,
        app: &crate::app::App,
    ) -> Result<Self, Self::Rejection> {
        use crate::http::EdgeError;
        let headers = request.headers().clone();
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        // A token is required before anything else is read, whatever the body holds.
        if !app.teams.auth.trial_mode() && !headers.contains_key(http::header::AUTHORIZATION) {
            return Err(EdgeError::Unauthorized(
                "missing Bearer token (and no Teams bot is registered without one)".into(),
            ));
        }
        let body = axum::body::Bytes::from_request(request, app)
            .await
            .map_err(EdgeError::from_body_rejection)?;
        let activity: super::activity::Activity = serde_json::from_slice(&body)
            .map_err(|e| EdgeError::BadRequest(format!("malformed activity: {e}")))?;
        match app.teams.auth.verify(&headers, &activity, peer).await {
            Ok(_) => Ok(Self(activity)),
            Err(AuthError::Unauthorized(reason)) => Err(EdgeError::Unauthorized(reason)),
            Err(AuthError::Forbidden(reason)) => Err(EdgeError::Forbidden(reason)),
            Err(AuthError::Unavailable(error)) => Err(EdgeError::Unavailable(format!("{error:#}"))),
        }
    }
}
