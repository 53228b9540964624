//! The router and the edge error type: what callers see when a request cannot be handled.

pub mod admission;
pub mod serve;

use std::time::Duration;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::metrics::Gauges;
use crate::store;
use crate::{slack, teams};

/// Slack's payloads and Teams' activities are a few KiB; anything much larger is not from them.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request is read and answered within this, or dropped with 408: every answer is quick (work
/// that is slow is a job), Slack gives up after 3 s and the Bot Framework after 15 s, and a
/// caller trickling its body must not hold one of the few open connections for long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

pub fn router(app: App) -> Router {
    Router::new()
        .route("/slack/commands", post(slack::commands::handle))
        .route("/slack/interactions", post(slack::interactions::handle))
        .route("/api/messages", post(teams::messages::handle))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(http_span))
        .with_state(app)
}

/// The span every line of a request's work carries. The path only, not the URI: nothing a
/// caller puts in a query string belongs in the logs. `request_id` is filled in by the handler
/// once it knows which access request the work is about ([`record_request_id`]).
fn http_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = request.uri().path(),
        request_id = tracing::field::Empty,
    )
}

/// Names the access request in the current HTTP span, so that every later line of this request's
/// work (and of the tasks it spawns `in_current_span`) can be found by it. Outside an HTTP span
/// (the scheduler's `job` span already names it) this does nothing.
pub fn record_request_id(request_id: i64) {
    tracing::Span::current().record("request_id", request_id);
}

async fn healthz(State(app): State<App>) -> Response {
    let answer = || -> store::Result<i64> {
        let db = app.core.db.read()?;
        let one = db
            .prepare_cached("SELECT 1")?
            .query_row([], |row| row.get(0))?;
        Ok(one)
    };
    match answer() {
        // Due jobs still run, in its stead (`scheduler::stand_in`), but only a restart brings it
        // back: an orchestrator's liveness probe restarts jitbot on this answer.
        Ok(_) if app.core.metrics.is_scheduler_stopped() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "scheduler stopped: due jobs run in its stead, the most urgent first; restart jitbot\n",
        )
            .into_response(),
        Ok(_) if app.teams.auth.trial_mode() => (
            StatusCode::OK,
            "ok\nteams: LOCAL TRIAL MODE — activities without a token are accepted from this machine\n",
        )
            .into_response(),
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text exposition, with the gauges read from the database now.
async fn metrics(State(app): State<App>) -> Response {
    let now = chrono::Utc::now();
    let read = || {
        let db = app.core.db.read()?;
        let active = store::requests::count_active(&db)?;
        let (queued, earliest) = store::jobs::queue(&db)?;
        Ok::<_, store::Error>((active, queued, earliest))
    };
    match read() {
        Ok((active_grants, jobs_queued, earliest)) => {
            let waited = earliest.map_or(0, |due| (now - due).num_seconds().max(0));
            let text = app.core.metrics.render(Gauges {
                active_grants,
                jobs_queued,
                oldest_due_job_seconds: waited,
            });
            let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
            ([(axum::http::header::CONTENT_TYPE, content_type)], text).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "metrics: database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Why a request was turned away at the door. Bad input gets a 4xx and a plain reason; only our
/// own failures are 5xx, logged with an id that the caller also sees.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// We cannot check the request now (a key server is down); the sender may retry.
    #[error("{0}")]
    Unavailable(String),
    #[error("request body too large")]
    TooLarge,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl EdgeError {
    pub fn from_body_rejection(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::TooLarge
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized(reason) => {
                tracing::warn!(reason, "rejected an unauthenticated request");
                (StatusCode::UNAUTHORIZED, format!("{reason}\n")).into_response()
            }
            Self::Forbidden(reason) => {
                tracing::warn!(reason, "rejected a request");
                (StatusCode::FORBIDDEN, format!("{reason}\n")).into_response()
            }
            Self::Unavailable(reason) => {
                tracing::error!(reason, "could not check a request");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot check requests now\n",
                )
                    .into_response()
            }
            Self::BadRequest(reason) => {
                (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response()
            }
            Self::TooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response()
            }
            Self::Internal(error) => {
                let id = crate::error_id::new();
                tracing::error!(error_id = %id, error = format!("{error:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error {id}\n"),
                )
                    .into_response()
            }
        }
    }
}

/// Logs a failure of ours and returns what to tell the person: an id to pass on.
pub fn report_internal(error: anyhow::Error) -> String {
    let id = crate::error_id::new();
    tracing::error!(error_id = %id, error = format!("{error:#}"), "could not handle a chat request");
    format!(
        "Something went wrong on jitbot's side (error {id}). Please try again; if it keeps happening, give this id to your administrator."
    )
}
