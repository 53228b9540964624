//! The floor: the least a Slack slash-command server must do — check the signature over the raw
//! body and store the request with one SQLite insert (same SQLite settings as jitbot's store) —
//! so that every jitbot figure can be read as a multiple of it.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

#[derive(Deserialize)]
struct SlashCommand {
    user_id: String,
    channel_id: String,
    #[serde(default)]
    text: String,
}

pub async fn serve(listen: SocketAddr, database: &Path) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", database.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let db = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS floor_requests (id INTEGER PRIMARY KEY AUTOINCREMENT, \
         user_id TEXT NOT NULL, channel_id TEXT NOT NULL, text TEXT NOT NULL, at INTEGER NOT NULL)",
    )
    .execute(&db)
    .await?;
    let app = Router::new()
        .route("/slack/commands", post(command))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn command(State(db): State<SqlitePool>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let now = chrono::Utc::now();
    let verified = jitbot::slack::verify::verify(
        crate::server::SIGNING_SECRET,
        header("x-slack-request-timestamp"),
        &body,
        header("x-slack-signature"),
        now.timestamp(),
    );
    if let Err(rejection) = verified {
        return rejection.into_response();
    }
    let Ok(form) = serde_urlencoded::from_bytes::<SlashCommand>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed slash command\n").into_response();
    };
    let inserted = sqlx::query(
        "INSERT INTO floor_requests (user_id, channel_id, text, at) VALUES (?, ?, ?, ?)",
    )
    .bind(&form.user_id)
    .bind(&form.channel_id)
    .bind(&form.text)
    .bind(now.timestamp_millis())
    .execute(&db)
    .await;
    match inserted {
        Ok(done) => axum::Json(serde_json::json!({
            "response_type": "ephemeral",
            "text": format!("Request #{} is received.", done.last_insert_rowid()),
        }))
        .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
