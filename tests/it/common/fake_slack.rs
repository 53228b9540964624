//! A fake Slack on 127.0.0.1: answers the Web API methods jitbot uses and records every call,
//! plus `response_url` posts under `/respond/…`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{any, post};
use serde_json::{Value, json};

use super::fake_socket_mode::FakeSocketMode;

/// One call jitbot made: the method (`chat.postMessage`, or `respond` for response_url posts)
/// and its arguments, from the query string and the JSON or form body merged.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub args: Value,
    /// What the fake answered.
    pub reply: Value,
}

#[derive(Default)]
struct State_ {
    calls: Vec<Call>,
    next_ts: u64,
    /// method → error codes to answer with, one per call, before answering normally again.
    failures: HashMap<String, Vec<String>>,
    /// Users whose email Slack has not confirmed.
    unconfirmed: Vec<String>,
    /// Users of another workspace (Slack Connect): user id → their team.
    teams: HashMap<String, String>,
    /// Profile emails that differ from `USERS`.
    emails: HashMap<String, String>,
    /// Users' time zones (IANA names), when set.
    time_zones: HashMap<String, String>,
    /// Channels whose `chat.postMessage` calls wait for a permit: a Slack slow to answer there.
    held: HashMap<String, Arc<tokio::sync::Semaphore>>,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    /// The Socket Mode server that `apps.connections.open` hands out.
    pub socket: FakeSocketMode,
    state: Arc<Mutex<State_>>,
}

/// The app-level token that `apps.connections.open` accepts.
pub const APP_TOKEN: &str = "xapp-1-A0JITBOT-1-test-app-token";

/// The workspace jitbot is installed in.
pub const TEAM_ID: &str = "T0ACME";

/// The workspace's people: user id and email.
pub const USERS: &[(&str, &str)] = &[
    ("U0ALICE", "alice@example.com"),
    ("U0BOB", "bob@example.com"),
    ("U0CAROL", "carol@example.com"),
    ("U0DAVE", "dave@example.com"),
    ("U0MALLORY", "mallory@example.com"),
    ("U0ERIN", "erin@example.com"),
];

impl FakeSlack {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State_ {
            next_ts: 1_700_000_000,
            ..Default::default()
        }));
        let socket = FakeSocketMode::start().await;
        let app = Router::new()
            .route("/api/apps.connections.open", post(open_connection))
            .with_state(socket.clone())
            .route("/api/{method}", any(api))
            .route("/respond/{id}", post(respond))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, socket, state }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/", self.url)
    }

    /// Answers the next `count` calls of `method` with `{"ok": false, "error": code}`.
    pub fn fail_next(&self, method: &str, count: usize, code: &str) {
        let mut state = self.state.lock().unwrap();
        let queue = state.failures.entry(method.to_string()).or_default();
        queue.extend(std::iter::repeat_n(code.to_string(), count));
    }

    /// From now on `user` belongs to another workspace (a Slack Connect user).
    pub fn move_to_team(&self, user: &str, team: &str) {
        let mut state = self.state.lock().unwrap();
        state.teams.insert(user.to_string(), team.to_string());
    }

    /// From now on `user`'s profile shows `email` — confirmed by Slack or not.
    pub fn set_email(&self, user: &str, email: &str, confirmed: bool) {
        let mut state = self.state.lock().unwrap();
        state.emails.insert(user.to_string(), email.to_string());
        state.unconfirmed.retain(|u| u != user);
        if !confirmed {
            state.unconfirmed.push(user.to_string());
        }
    }

    /// From now on `user`'s profile says they live in `zone` (`Europe/Berlin`).
    pub fn set_time_zone(&self, user: &str, zone: &str) {
        let mut state = self.state.lock().unwrap();
        state.time_zones.insert(user.to_string(), zone.to_string());
    }

    /// What jitbot told `user` in their direct messages with it, outside any thread.
    pub fn direct_messages(&self, user: &str) -> Vec<String> {
        self.posts_in(&format!("D{user}"), None)
            .iter()
            .map(|post| post["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Every call but `auth.test`, which jitbot makes once at start to learn its workspace:
    /// what a request or a click made jitbot do.
    pub fn calls(&self) -> Vec<Call> {
        let state = self.state.lock().unwrap();
        state
            .calls
            .iter()
            .filter(|c| c.method != "auth.test")
            .cloned()
            .collect()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .map(|c| c.args)
            .collect()
    }

    /// Messages posted to a channel, optionally only those in one thread.
    pub fn posts_in(&self, channel: &str, thread_ts: Option<&str>) -> Vec<Value> {
        self.calls_to("chat.postMessage")
            .into_iter()
            .filter(|m| m["channel"] == channel)
            .filter(|m| thread_ts.is_none_or(|ts| m["thread_ts"] == ts))
            .collect()
    }

    /// The `ts` of the first top-level message posted to `channel`: the thread jitbot replies in.
    pub fn thread_in(&self, channel: &str) -> String {
        self.calls()
            .into_iter()
            .find(|c| {
                c.method == "chat.postMessage"
                    && c.args["channel"] == channel
                    && c.args["thread_ts"].is_null()
                    && c.reply["ok"] == true
            })
            .unwrap_or_else(|| panic!("nothing was posted to {channel}"))
            .reply["ts"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The texts of the replies in a thread, oldest first.
    pub fn replies_in(&self, channel: &str, thread_ts: &str) -> Vec<String> {
        self.posts_in(channel, Some(thread_ts))
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The last `chat.update` of messages in `channel`, as JSON text.
    pub fn last_update_in(&self, channel: &str) -> String {
        self.calls_to("chat.update")
            .iter()
            .rev()
            .find(|u| u["channel"] == channel)
            .unwrap_or_else(|| panic!("no message in {channel} was updated"))
            .to_string()
    }

    /// Posts to `channel` wait, unanswered and unrecorded, until `release_posts_in`.
    pub fn hold_posts_in(&self, channel: &str) {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.state.lock().unwrap().held.insert(channel.into(), gate);
    }

    /// Lets the posts held in `channel` (and every later one) through.
    pub fn release_posts_in(&self, channel: &str) {
        if let Some(gate) = self.state.lock().unwrap().held.remove(channel) {
            gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS);
        }
    }

    /// Waits until `method` has been called at least `count` times, or panics after 5 s.
    pub async fn wait_for(&self, method: &str, count: usize) -> Vec<Value> {
        for _ in 0..500 {
            let calls = self.calls_to(method);
            if calls.len() >= count {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {count} call(s) to {method}; got {:#?}",
            self.calls()
        );
    }
}

async fn api(
    State(state): State<Arc<Mutex<State_>>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> axum::Json<Value> {
    let args = merge_args(query.as_deref(), &body);
    let gate = match (method.as_str(), args["channel"].as_str()) {
        ("chat.postMessage", Some(channel)) => state.lock().unwrap().held.get(channel).cloned(),
        _ => None,
    };
    if let Some(gate) = gate {
        let _ = gate.acquire().await;
    }
    let mut state = state.lock().unwrap();
    let reply = answer(&mut state, &method, &args);
    state.calls.push(Call {
        method,
        args,
        reply: reply.clone(),
    });
    axum::Json(reply)
}

fn answer(state: &mut State_, method: &str, args: &Value) -> Value {
    if let Some(code) = state
        .failures
        .get_mut(method)
        .and_then(|q| (!q.is_empty()).then(|| q.remove(0)))
    {
        return json!({ "ok": false, "error": code });
    }
    match method {
        "chat.postMessage" => {
            state.next_ts += 1;
            let ts = format!("{}.000100", state.next_ts);
            json!({ "ok": true, "channel": args["channel"], "ts": ts,
                    "message": { "ts": ts, "text": args["text"] } })
        }
        "chat.update" => json!({ "ok": true, "channel": args["channel"], "ts": args["ts"],
                                  "message": { "text": args["text"] } }),
        "conversations.open" => {
            let user = match &args["users"] {
                Value::Array(users) => users[0].as_str().unwrap_or_default().to_string(),
                Value::String(users) => users.split(',').next().unwrap_or_default().to_string(),
                _ => String::new(),
            };
            json!({ "ok": true, "channel": { "id": format!("D{user}") } })
        }
        // The view as opened, with what Slack adds to it.
        "views.open" => {
            let mut view = args["view"].clone();
            if let Value::Object(fields) = &mut view {
                fields.insert("id".into(), json!("V0FORM"));
                fields.insert("team_id".into(), json!(TEAM_ID));
                fields.insert("hash".into(), json!("1700000000.abcdef"));
            }
            json!({ "ok": true, "view": view })
        }
        "auth.test" => json!({ "ok": true, "team_id": TEAM_ID, "team": "Acme",
                               "user_id": "U0JITBOT", "url": "https://acme.slack.com/" }),
        "users.info" => {
            let user = args["user"].as_str().unwrap_or_default();
            match USERS.iter().find(|(id, _)| *id == user) {
                Some((id, email)) => {
                    let confirmed = !state.unconfirmed.contains(&id.to_string());
                    let team = state.teams.get(*id).map(String::as_str).unwrap_or(TEAM_ID);
                    let email = state.emails.get(*id).map(String::as_str).unwrap_or(email);
                    let tz = state.time_zones.get(*id);
                    json!({ "ok": true, "user": { "id": id, "team_id": team, "tz": tz,
                            "is_email_confirmed": confirmed, "profile": { "email": email } } })
                }
                None => json!({ "ok": false, "error": "user_not_found" }),
            }
        }
        "users.lookupByEmail" => {
            let email = args["email"].as_str().unwrap_or_default();
            match USERS.iter().find(|(_, e)| *e == email) {
                Some((id, _)) => json!({ "ok": true, "user": { "id": id } }),
                None => json!({ "ok": false, "error": "users_not_found" }),
            }
        }
        _ => json!({ "ok": false, "error": "unknown_method" }),
    }
}

/// Hands out the Socket Mode URL, only for the app-level token (never a bot token).
async fn open_connection(
    State(socket): State<FakeSocketMode>,
    headers: HeaderMap,
) -> axum::Json<Value> {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if authorization != Some(&format!("Bearer {APP_TOKEN}")) {
        return axum::Json(json!({ "ok": false, "error": "invalid_auth" }));
    }
    axum::Json(json!({ "ok": true, "url": socket.url }))
}

async fn respond(State(state): State<Arc<Mutex<State_>>>, body: Bytes) -> &'static str {
    let args = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.lock().unwrap().calls.push(Call {
        method: "respond".into(),
        args,
        reply: Value::Null,
    });
    "ok"
}

fn merge_args(query: Option<&str>, body: &[u8]) -> Value {
    let mut args = serde_json::Map::new();
    let form = |text: &str, args: &mut serde_json::Map<String, Value>| {
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            args.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    };
    if let Some(query) = query {
        form(query, &mut args);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => args.extend(fields),
        _ => form(std::str::from_utf8(body).unwrap_or_default(), &mut args),
    }
    Value::Object(args)
}
