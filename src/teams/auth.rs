//! Bot Framework authentication: every activity carries a JWT signed with a key that the Bot
//! Framework publishes, and the key must be endorsed for the activity's channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::activity::Activity;

pub const ISSUER: &str = "https://api.botframework.com";
/// Keys are fetched again at least this often; new ones can appear at any time.
const KEYS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// An unknown `kid` triggers a fetch, but not more often than this: random kids must not turn
/// jitbot into a load generator against the Bot Framework.
const UNKNOWN_KEY_REFETCH: Duration = Duration::from_secs(60);
/// The Bot Framework SDKs allow five minutes of clock skew.
const CLOCK_SKEW_SECONDS: u64 = 300;

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

impl BotAuthenticator {
    pub fn new(app_id: Option<String>, metadata_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            app_id,
            metadata_url: metadata_url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            keys: Mutex::new(KeyCache::default()),
        })
    }

    pub fn trial_mode(&self) -> bool {
        self.app_id.is_none()
    }

    /// Checks the `Authorization` header of an activity as the Bot Framework requires.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        activity: &Activity,
        peer: Option<SocketAddr>,
    ) -> Result<Caller, AuthError> {
        let Some(app_id) = &self.app_id else {
            return match (authorization, peer) {
                (None, Some(peer)) if peer.ip().is_loopback() => Ok(Caller::LocalEmulator),
                (None, _) => Err(unauthorized(
                    "without MICROSOFT_APP_ID, activities are accepted from this machine only",
                )),
                (Some(_), _) => Err(unauthorized(
                    "MICROSOFT_APP_ID is not set, so tokens cannot be checked",
                )),
            };
        };
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
        Ok(Caller::BotFramework)
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

/// A verified activity: handlers never see one whose token did not check out.
pub struct VerifiedActivity(pub super::activity::Activity);

impl axum::extract::FromRequest<crate::app::App> for VerifiedActivity {
    type Rejection = crate::http::EdgeError;

    async fn from_request(
        request: axum::extract::Request,
        app: &crate::app::App,
    ) -> Result<Self, Self::Rejection> {
        use crate::http::EdgeError;
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        // A token is required before anything else is read, whatever the body holds.
        if authorization.is_none() && !app.teams.auth.trial_mode() {
            return Err(EdgeError::Unauthorized("missing Bearer token".into()));
        }
        let body = axum::body::Bytes::from_request(request, app)
            .await
            .map_err(EdgeError::from_body_rejection)?;
        let activity: super::activity::Activity = serde_json::from_slice(&body)
            .map_err(|e| EdgeError::BadRequest(format!("malformed activity: {e}")))?;
        match app
            .teams
            .auth
            .verify(authorization.as_deref(), &activity, peer)
            .await
        {
            Ok(_) => Ok(Self(activity)),
            Err(AuthError::Unauthorized(reason)) => Err(EdgeError::Unauthorized(reason)),
            Err(AuthError::Forbidden(reason)) => Err(EdgeError::Forbidden(reason)),
            Err(AuthError::Unavailable(error)) => Err(EdgeError::Unavailable(format!("{error:#}"))),
        }
    }
}
