//! Slack request signing: v0 HMAC-SHA256 over the raw body, a 5-minute window, constant-time compare.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::app::App;
use crate::http::EdgeError;

const SIGNATURE_HEADER: &str = "x-slack-signature";
const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Slack's own SDKs reject requests older (or newer) than five minutes, which defeats replays.
const MAX_AGE_SECONDS: u64 = 300;

/// The raw body of a request that Slack signed. Handlers only ever see verified bytes.
pub struct VerifiedSlackBody(pub Bytes);

impl FromRequest<App> for VerifiedSlackBody {
    type Rejection = EdgeError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        let secret = app
            .secrets
            .slack_signing_secret
            .clone()
            .ok_or_else(|| rejected("Slack is not configured on this jitbot"))?;
        let headers = request.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (signature, timestamp) = (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER));
        let signature = signature.ok_or_else(|| rejected("missing Slack signature"))?;
        let timestamp = timestamp.ok_or_else(|| rejected("missing Slack timestamp"))?;
        let body = Bytes::from_request(request, app)
            .await
            .map_err(EdgeError::from_body_rejection)?;
        let now = chrono::Utc::now().timestamp();
        verify(secret.expose(), &timestamp, &body, &signature, now)?;
        Ok(Self(body))
    }
}

fn rejected(reason: &str) -> EdgeError {
    EdgeError::Unauthorized(reason.to_string())
}

/// Checks one request's signature as Slack specifies it.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<(), EdgeError> {
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| rejected("malformed Slack timestamp"))?;
    // abs_diff cannot overflow, whatever timestamp a caller sends.
    if now.abs_diff(sent_at) > MAX_AGE_SECONDS {
        return Err(rejected("stale Slack timestamp"));
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or_else(|| rejected("malformed Slack signature"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| rejected("bad Slack signature"))
}

/// The signature Slack would send: for tests and tools that play Slack.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    #[test]
    fn accepts_a_fresh_correct_signature() {
        let body = b"token=x&text=help";
        let signature = sign(SECRET, "1000", body);
        assert!(verify(SECRET, "1000", body, &signature, 1100).is_ok());
    }

    #[test]
    fn rejects_tampering_staleness_and_garbage() {
        let body = b"token=x&text=help";
        let signature = sign(SECRET, "1000", body);
        assert!(verify(SECRET, "1000", b"token=x&text=hel", &signature, 1000).is_err());
        assert!(verify(SECRET, "1000", body, &signature, 1000 + 301).is_err());
        assert!(verify(SECRET, "1000", body, &signature, 1000 - 301).is_err());
        assert!(verify("other", "1000", body, &signature, 1000).is_err());
        assert!(verify(SECRET, "abc", body, &signature, 1000).is_err());
        assert!(verify(SECRET, "1000", body, "v0=zz", 1000).is_err());
        assert!(verify(SECRET, "1000", body, &signature.replace("v0=", "v1="), 1000).is_err());
    }
}
