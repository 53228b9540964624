//! The `webhook` provider: a signed JSON event to a URL for anything jitbot has no provider for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

use super::{Change, Grant, Provider};
use crate::domain::{ProviderKind, is_plain_http};
use crate::metrics::{ApiErrorKind, ApiErrors};
use crate::secrets::Secret;

pub const SIGNATURE_HEADER: &str = "x-jitbot-signature";
pub const TIMESTAMP_HEADER: &str = "x-jitbot-timestamp";

/// At most this many events in flight to each endpoint of groups without `webhook_http2`. Over
/// HTTP/1.1 each holds a connection of its own (about 25 KiB of memory, and a file): as many as
/// the scheduler had workers before it kept more for revocations, whose calls over HTTP/2 share
/// one.
pub const HTTP1_CALLS: usize = 512;

pub struct WebhookProvider {
    /// For https: HTTP/1.1, or HTTP/2 where the endpoint offers it in the TLS handshake; through
    /// the proxy the environment names (`HTTPS_PROXY`), if any.
    https: reqwest::Client,
    /// For plain http, which only goes to this machine: never through a proxy, which would
    /// carry the event and its signature unencrypted over the network.
    loopback: reqwest::Client,
    /// The same, speaking HTTP/2 from the first byte, for the endpoints with `webhook_http2`.
    loopback_http2: reqwest::Client,
    http1_calls: Http1Calls,
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
        let client = || {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
        };
        Ok(Self {
            https: client().build()?,
            loopback: client().no_proxy().build()?,
            loopback_http2: client().no_proxy().http2_prior_knowledge().build()?,
            http1_calls: Http1Calls::new(HTTP1_CALLS),
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
        let (http, _connection) = match (is_plain_http(url), grant.group.webhook_http2) {
            (true, true) => (&self.loopback_http2, None),
            // Held until the answer is read and the connection is free for the next call.
            (true, false) => (&self.loopback, Some(self.http1_calls.acquire(url).await?)),
            (false, _) => (&self.https, Some(self.http1_calls.acquire(url).await?)),
        };
        let response = http
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
                .map_or_else(|| "nowhere".to_string(), |to| where_it_points(url, to));
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

/// Where a redirect's `Location` points (read against `from`, the address that answered with
/// it), without what may be a secret: its scheme, host and port only. The error is logged and
/// kept with the job, and a receiver's redirect may carry a token in its path or query as its
/// address does.
fn where_it_points(from: &str, location: &str) -> String {
    let to = reqwest::Url::parse(from).and_then(|from| from.join(location));
    match to {
        Ok(to) if matches!(to.scheme(), "http" | "https") => to.origin().ascii_serialization(),
        Ok(_) => "an address that is not http(s)".to_string(),
        Err(_) => "an address that could not be read".to_string(),
    }
}

/// Events in flight to each endpoint (scheme, host and port): one endpoint that hangs holds its
/// own connections, and the other groups' events go on.
struct Http1Calls {
    each: usize,
    by_endpoint: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Http1Calls {
    fn new(each: usize) -> Self {
        Self {
            each,
            by_endpoint: Mutex::default(),
        }
    }

    /// Waits for room to call `url`; the call may go on while the permit is held. Fails only if
    /// the room were closed, which nothing does.
    async fn acquire(&self, url: &str) -> Result<OwnedSemaphorePermit, AcquireError> {
        let endpoint = url::Url::parse(url)
            .map(|url| url.origin().ascii_serialization())
            .unwrap_or_else(|_| url.to_string());
        let room = {
            // A panic while holding it leaves a whole map: inserts are single moves.
            let mut by_endpoint = self
                .by_endpoint
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let room = by_endpoint
                .entry(endpoint)
                .or_insert_with(|| Arc::new(Semaphore::new(self.each)));
            room.clone()
        };
        room.acquire_owned().await
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::{ConnectInfo, State};
    use axum::http::{StatusCode, Version};
    use axum::routing::post;
    use chrono::Utc;
    use tokio::sync::Notify;
    use tokio::task::JoinSet;

    use super::*;
    use crate::domain::{GrantTarget, GroupPolicy};

    /// A receiver that holds every event until `release`, counting those in flight and noting
    /// the protocol each came over.
    #[derive(Default)]
    struct Holding {
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
        versions: std::sync::Mutex<Vec<Version>>,
        /// The client's end of each event's connection.
        peers: std::sync::Mutex<std::collections::HashSet<SocketAddr>>,
        release: Notify,
    }

    async fn hold(
        State(receiver): State<Arc<Holding>>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        version: Version,
    ) -> StatusCode {
        // Told of a release from here on, before it counts as in flight.
        let released = receiver.release.notified();
        receiver.versions.lock().unwrap().push(version);
        receiver.peers.lock().unwrap().insert(peer);
        let now = receiver.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        receiver.most_in_flight.fetch_max(now, Ordering::SeqCst);
        released.await;
        receiver.in_flight.fetch_sub(1, Ordering::SeqCst);
        StatusCode::OK
    }

    async fn receiver() -> (String, Arc<Holding>) {
        let receiver = Arc::new(Holding::default());
        let app = Router::new()
            .route("/hook", post(hold))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, receiver)
    }

    fn group(url: &str, http2: bool) -> GroupPolicy {
        let target = GrantTarget {
            provider: ProviderKind::Webhook {
                url: url.into(),
                secret_env: None,
            },
            target: "billing-admins".into(),
        };
        GroupPolicy {
            webhook_http2: http2,
            ..GroupPolicy::retired("billing", &target)
        }
    }

    /// Sends `count` revocations at once, each from a task of its own.
    fn send_at_once(
        provider: &Arc<WebhookProvider>,
        group: &GroupPolicy,
        count: i64,
    ) -> JoinSet<anyhow::Result<Change>> {
        let mut sent = JoinSet::new();
        for request_id in 0..count {
            let (provider, group) = (provider.clone(), group.clone());
            sent.spawn(async move {
                let grant = Grant {
                    request_id,
                    group: &group,
                    user_key: "slack:U0ALICE",
                    user_email: None,
                    directory_id: None,
                    justification: "month-end close",
                    granted_at: Utc::now(),
                    expires_at: None,
                };
                provider.revoke(&grant).await
            });
        }
        sent
    }

    async fn wait_for(receiver: &Holding, in_flight: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while receiver.in_flight.load(Ordering::SeqCst) < in_flight {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {in_flight} in flight"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Lets the receiver answer until every event `sent` is answered, each done (`Made`); those
    /// still waiting for a connection arrive, and are let go, in the rounds after.
    async fn release_all(receiver: &Holding, mut sent: JoinSet<anyhow::Result<Change>>) {
        while !sent.is_empty() {
            receiver.release.notify_waiters();
            tokio::time::sleep(Duration::from_millis(10)).await;
            while let Some(done) = sent.try_join_next() {
                assert!(matches!(done.unwrap(), Ok(Change::Made)));
            }
        }
    }

    fn provider_allowing(http1_calls: usize) -> Arc<WebhookProvider> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let secrets = HashMap::from([(
            crate::secrets::WEBHOOK_SECRET_ENV.to_string(),
            Secret::new("test-secret"),
        )]);
        let provider = WebhookProvider::new(secrets).unwrap();
        Arc::new(WebhookProvider {
            http1_calls: Http1Calls::new(http1_calls),
            ..provider
        })
    }

    #[test]
    fn a_redirect_is_told_by_where_it_points_without_its_userinfo_path_or_query() {
        let from = "https://hooks.example/t/s3cr3t-hook";
        assert_eq!(
            where_it_points(
                from,
                "https://user:pass@relay.example:8443/t/s3cr3t?sig=s3cr3t#x"
            ),
            "https://relay.example:8443"
        );
        assert_eq!(
            where_it_points(from, "/elsewhere?token=s3cr3t"),
            "https://hooks.example"
        );
        assert_eq!(
            where_it_points(from, "//other.example/s3cr3t"),
            "https://other.example"
        );
        assert_eq!(
            where_it_points(from, "data:s3cr3t"),
            "an address that is not http(s)"
        );
        assert_eq!(
            where_it_points(from, "http://[::1"),
            "an address that could not be read"
        );
    }

    #[tokio::test]
    async fn http1_events_beyond_the_connections_allowed_wait_for_one() {
        let (url, receiver) = receiver().await;
        let provider = provider_allowing(2);
        let sent = send_at_once(&provider, &group(&url, false), 5);
        wait_for(&receiver, 2).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            receiver.in_flight.load(Ordering::SeqCst),
            2,
            "the others wait"
        );
        release_all(&receiver, sent).await;
        assert_eq!(receiver.most_in_flight.load(Ordering::SeqCst), 2);
        let versions = receiver.versions.lock().unwrap().clone();
        assert_eq!(versions, [Version::HTTP_11; 5]);
    }

    #[tokio::test]
    async fn an_endpoint_holding_all_its_connections_does_not_hold_another_s_events() {
        let (slow_url, slow) = receiver().await;
        let (other_url, other) = receiver().await;
        let provider = provider_allowing(2);
        let held = send_at_once(&provider, &group(&slow_url, false), 3);
        wait_for(&slow, 2).await;
        let sent = send_at_once(&provider, &group(&other_url, false), 2);
        wait_for(&other, 2).await;
        assert_eq!(
            slow.in_flight.load(Ordering::SeqCst),
            2,
            "the third still waits"
        );
        release_all(&other, sent).await;
        release_all(&slow, held).await;
    }

    #[tokio::test]
    async fn http2_events_share_a_connection_and_are_not_held_to_that_limit() {
        let (url, receiver) = receiver().await;
        let provider = provider_allowing(2);
        let sent = send_at_once(&provider, &group(&url, true), 5);
        wait_for(&receiver, 5).await;
        release_all(&receiver, sent).await;
        let versions = receiver.versions.lock().unwrap().clone();
        assert_eq!(versions, [Version::HTTP_2; 5]);
        assert_eq!(receiver.peers.lock().unwrap().len(), 1, "one connection");
    }
}
