//! An embedded fake webhook provider on 127.0.0.1: answers each grant and revoke after a fixed
//! delay (a provider's API is never instant), can be taken down (503) and brought back, and
//! records every delivery with its arrival time. It speaks HTTP/1.1 and, without TLS, HTTP/2
//! (`webhook_http2`), with up to `STREAMS` events in flight on one connection.

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

/// Events in flight on one HTTP/2 connection: as many as jitbot's workers. hyper allows 200 by
/// default; a service mesh's sidecar (Envoy) sets no limit of its own.
const STREAMS: u32 = 1024;

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
        let address = crate::fakes_runtime::serve(|listener| serve(listener, app))?;
        let url = format!("http://{address}/hook");
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

/// `axum::serve`, with the HTTP/2 stream limit set (axum's cannot be).
async fn serve(listener: tokio::net::TcpListener, app: Router) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of files, say: try again shortly rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(STREAMS);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
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
