//! The audit collector (a SIEM or log pipeline) as jitbot reaches it: each event as signed JSON,
//! with its id for deduplication. A plain struct: a URL, a signing secret and a timeout.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;

use crate::domain::is_plain_http;
use crate::providers::sign_webhook;
use crate::secrets::Secret;
use crate::store::audit::Event;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct AuditSink {
    http: reqwest::Client,
    url: String,
    secret: Secret,
}

impl AuditSink {
    pub fn new(url: String, secret: Secret) -> anyhow::Result<AuditSink> {
        // A redirect would carry the signed trail to an address nobody configured.
        let mut http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if is_plain_http(&url) {
            http = http.no_proxy();
        }
        let http = http.build()?;
        Ok(AuditSink { http, url, secret })
    }

    /// Sends one event; success is a 2xx answer. Signed like the webhook provider's events
    /// (`X-Jitbot-Signature: v1=<hmac>` over `v1:<timestamp>:<body>`).
    pub async fn send(&self, event: &Event) -> anyhow::Result<()> {
        let detail: serde_json::Value =
            serde_json::from_str(&event.detail).unwrap_or(serde_json::Value::Null);
        let at = chrono::DateTime::from_timestamp_millis(event.at).map(|at| at.to_rfc3339());
        let body = serde_json::to_vec(&json!({
            "event_id": event.id,
            "at": at,
            "request_id": event.request_id,
            "actor": event.actor,
            "action": event.action,
            "platform": event.platform,
            "channel": event.channel,
            "detail": detail,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
        }))?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = sign_webhook(self.secret.expose(), &timestamp, &body);
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-jitbot-timestamp", &timestamp)
            .header("x-jitbot-signature", signature)
            .body(body)
            .send()
            .await
            .with_context(|| format!("forwarding audit event {}", event.id))?;
        if !response.status().is_success() {
            bail!(
                "the audit collector answered {} to event {}",
                response.status(),
                event.id
            );
        }
        Ok(())
    }
}
