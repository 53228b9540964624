//! An embedded fake of Slack's Web API on 127.0.0.1. It answers every method jitbot calls with
//! a plausible success and records, per access request, when its approval card arrived and when
//! that card was first updated away from "pending" — the two moments the bench times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{any, post};
use serde_json::{Value, json};

/// The workspace the bench's jitbot is installed in.
pub const TEAM_ID: &str = "T0BENCH";
/// Where approval cards go (the group's `approval_channel`).
pub const APPROVAL_CHANNEL: &str = "C0APPROVALS";
/// The owner who clicks Approve; Slack tells jitbot their email is `u0owner@bench.example`.
pub const OWNER: &str = "U0OWNER";

/// What happened to one request's card.
#[derive(Debug, Clone, Copy, Default)]
pub struct CardEvents {
    pub posted: Option<Instant>,
    /// The first `chat.update` of the card whose status is no longer `pending`.
    pub decided: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    cards: HashMap<i64, CardEvents>,
    next_ts: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeSlack {
    pub async fn start() -> anyhow::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/respond/{id}", post(|| async { "ok" }))
            .with_state(inner.clone());
        let address = crate::fakes_runtime::serve(|listener| async move {
            let _ = axum::serve(listener, app).await;
        })?;
        let url = format!("http://{address}");
        Ok(Self { url, inner })
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/", self.url)
    }

    /// Forgets every card: each step's fresh database numbers its requests from the same id.
    pub fn reset(&self) {
        self.inner.lock().unwrap().cards.clear();
    }

    pub fn card(&self, request_id: i64) -> CardEvents {
        let inner = self.inner.lock().unwrap();
        inner.cards.get(&request_id).copied().unwrap_or_default()
    }

    /// Ids of every request whose card has arrived, oldest card first.
    pub fn carded(&self) -> Vec<i64> {
        let inner = self.inner.lock().unwrap();
        let mut ids: Vec<(Instant, i64)> = inner
            .cards
            .iter()
            .filter_map(|(id, events)| events.posted.map(|at| (at, *id)))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

async fn api(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> axum::Json<Value> {
    let mut args = args_of(&body);
    // slack-morphism sends the arguments of reads (`users.info`) in the query string.
    if let (Some(query), Value::Object(fields)) = (query, &mut args) {
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            fields.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    let now = Instant::now();
    let mut inner = inner.lock().unwrap();
    let reply = match method.as_str() {
        "chat.postMessage" => {
            inner.next_ts += 1;
            let ts = format!("{}.000100", 1_700_000_000 + inner.next_ts);
            if let Some(id) = card_request(&args) {
                inner.cards.entry(id).or_default().posted.get_or_insert(now);
            }
            json!({ "ok": true, "channel": args["channel"], "ts": ts, "message": { "ts": ts } })
        }
        "chat.update" => {
            if let Some(id) = card_request(&args) {
                let decided = !text_of(&args).trim_end().ends_with("pending");
                if decided {
                    inner
                        .cards
                        .entry(id)
                        .or_default()
                        .decided
                        .get_or_insert(now);
                }
            }
            json!({ "ok": true, "channel": args["channel"], "ts": args["ts"], "message": { "text": args["text"] } })
        }
        "conversations.open" => {
            let user = args["users"]
                .as_str()
                .unwrap_or("U0NOBODY")
                .split(',')
                .next()
                .unwrap_or_default()
                .to_string();
            json!({ "ok": true, "channel": { "id": format!("D{user}") } })
        }
        "auth.test" => {
            json!({ "ok": true, "team_id": TEAM_ID, "team": "Bench", "user_id": "U0JITBOT",
                               "url": "https://bench.slack.com/" })
        }
        "users.info" => {
            let user = args["user"].as_str().unwrap_or_default();
            json!({ "ok": true, "user": { "id": user, "team_id": TEAM_ID, "is_email_confirmed": true,
                    "profile": { "email": email_of(user) } } })
        }
        "users.lookupByEmail" => {
            let email = args["email"].as_str().unwrap_or_default();
            let user = email
                .split('@')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            json!({ "ok": true, "user": { "id": user } })
        }
        _ => json!({ "ok": true }),
    };
    axum::Json(reply)
}

/// The bench's people are `U…` ids whose confirmed email is the id in lower case.
pub fn email_of(user: &str) -> String {
    format!("{}@bench.example", user.to_ascii_lowercase())
}

/// The request a message in the approval channel is a card of: its text starts
/// `Access request #N:`.
fn card_request(args: &Value) -> Option<i64> {
    if args["channel"] != APPROVAL_CHANNEL {
        return None;
    }
    let rest = text_of(args).strip_prefix("Access request #")?.to_string();
    rest.split(':').next()?.parse().ok()
}

fn text_of(args: &Value) -> &str {
    args["text"].as_str().unwrap_or_default()
}

/// slack-morphism posts JSON; other calls are forms. Either becomes one JSON object.
fn args_of(body: &[u8]) -> Value {
    if let Ok(value @ Value::Object(_)) = serde_json::from_slice::<Value>(body) {
        return value;
    }
    let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Value::Object(fields)
}
