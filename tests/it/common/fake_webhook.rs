//! A fake webhook receiver on 127.0.0.1 that records each event and can be told to fail or to
//! redirect; calls to any other path are recorded too. It speaks HTTP/1.1 and, without TLS,
//! HTTP/2 (`webhook_http2`).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Bytes,
    pub headers: HeaderMap,
    /// The protocol it came over.
    pub version: Version,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_string()
    }
}

#[derive(Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    failures_left: usize,
    /// Deliveries still answered 200 before one is answered 500.
    fail_after: Option<usize>,
    /// Answers for the next deliveries: a 3xx status and its `Location`.
    redirects: Vec<(StatusCode, String)>,
    /// `METHOD /path` of every call to a path other than `/hook`.
    elsewhere: Vec<String>,
    /// How long the next delivery is held before it is answered (it is recorded at once).
    delay_next: Option<std::time::Duration>,
}

#[derive(Clone)]
pub struct FakeWebhook {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeWebhook {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .fallback(elsewhere)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// Answers the next `count` deliveries with 500.
    pub fn fail_next(&self, count: usize) {
        self.inner.lock().unwrap().failures_left = count;
    }

    /// Answers 200 to the next `ok` deliveries, then 500 to one.
    pub fn fail_one_after(&self, ok: usize) {
        self.inner.lock().unwrap().fail_after = Some(ok);
    }

    /// Answers the next deliveries with these redirects (301, 302, 307, 308 …), one each, all
    /// pointing at `path` on this fake.
    pub fn redirect_next(&self, statuses: &[u16], path: &str) {
        let location = self.url.replace("/hook", path);
        self.inner.lock().unwrap().redirects = statuses
            .iter()
            .rev()
            .map(|s| (StatusCode::from_u16(*s).unwrap(), location.clone()))
            .collect();
    }

    /// Holds the next delivery this long before answering, like a slow receiver.
    pub fn delay_next(&self, wait: std::time::Duration) {
        self.inner.lock().unwrap().delay_next = Some(wait);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().unwrap().deliveries.clone()
    }

    /// `METHOD /path` of every call to a path other than `/hook`.
    pub fn elsewhere(&self) -> Vec<String> {
        self.inner.lock().unwrap().elsewhere.clone()
    }
}

async fn elsewhere(State(inner): State<Arc<Mutex<Inner>>>, method: Method, uri: Uri) -> StatusCode {
    let call = format!("{method} {}", uri.path());
    inner.lock().unwrap().elsewhere.push(call);
    StatusCode::OK
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = {
        let mut inner = inner.lock().unwrap();
        inner.deliveries.push(Delivery {
            body,
            headers,
            version,
        });
        inner.delay_next.take()
    };
    if let Some(wait) = delay {
        tokio::time::sleep(wait).await;
    }
    let mut inner = inner.lock().unwrap();
    if let Some((status, location)) = inner.redirects.pop() {
        (status, [(header::LOCATION, location)]).into_response()
    } else if inner.failures_left > 0 {
        inner.failures_left -= 1;
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    } else if let Some(ok) = inner.fail_after {
        inner.fail_after = ok.checked_sub(1);
        if ok == 0 {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        } else {
            StatusCode::OK.into_response()
        }
    } else {
        StatusCode::OK.into_response()
    }
}
