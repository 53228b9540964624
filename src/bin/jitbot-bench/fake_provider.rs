//! An embedded fake webhook provider on 127.0.0.1: answers each grant and revoke after a fixed
//! delay (a provider's API is never instant), can be taken down (503) and brought back, and
//! records every delivery with its arrival time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, Utc};

/// One event jitbot delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub action: String,
    pub request_id: i64,
    pub at: DateTime<Utc>,
    /// Whether it was answered 2xx (else the provider was down).
    pub accepted: bool,
}

struct Inner {
    deliveries: Mutex<Vec<Delivery>>,
    down: AtomicBool,
    delay: Duration,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub url: String,
    inner: Arc<Inner>,
}

impl FakeProvider {
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let inner = Arc::new(Inner {
            deliveries: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            delay,
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, inner })
    }

    /// While down, every delivery is answered 503 without `Retry-After`, as an outage looks.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// Forgets every delivery, for a fresh database whose request ids start over.
    pub fn reset(&self) {
        self.inner.deliveries.lock().unwrap().clear();
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.deliveries.lock().unwrap().clone()
    }

    /// Accepted deliveries of `action` (`grant`, `revoke`).
    pub fn accepted(&self, action: &str) -> Vec<Delivery> {
        let deliveries = self.inner.deliveries.lock().unwrap();
        deliveries
            .iter()
            .filter(|d| d.accepted && d.action == action)
            .cloned()
            .collect()
    }
}

async fn receive(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let arrived = Utc::now();
    let accepted = !inner.down.load(Ordering::SeqCst);
    if accepted {
        tokio::time::sleep(inner.delay).await;
    }
    inner.deliveries.lock().unwrap().push(Delivery {
        action: event["action"].as_str().unwrap_or_default().to_string(),
        request_id: event["request_id"].as_i64().unwrap_or_default(),
        at: arrived,
        accepted,
    });
    if accepted {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
