//! A fake Bot Framework on 127.0.0.1: OpenID metadata and signing keys (with endorsements), a
//! token endpoint, and a Bot Connector that records every call. It also mints the tokens that
//! the real Bot Framework would put on activities.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub const APP_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const TENANT_ID: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
pub const KEY_ID: &str = "test-key-1";
pub const PRIVATE_KEY: &str = include_str!("../fixtures/bot-framework-test-key.pem");
pub const PUBLIC_KEY: &str = include_str!("../fixtures/bot-framework-test-key.pub.pem");

/// Teams users: (Entra object id, `29:` id, name, email).
pub const TEAMS_USERS: &[(&str, &str, &str, &str)] = &[
    (
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "29:alice",
        "Alice Example",
        "alice@example.com",
    ),
    (
        "2a3b4c5d-6e7f-4a81-92b3-c4d5e6f7a8b9",
        "29:bob",
        "Bob Approver",
        "bob@example.com",
    ),
    (
        "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
        "29:carol",
        "Carol Owner",
        "carol@example.com",
    ),
    (
        "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a",
        "29:mallory",
        "Mallory Outsider",
        "mallory@example.com",
    ),
];

/// One call to the Bot Connector.
#[derive(Debug, Clone)]
pub struct ConnectorCall {
    pub method: String,
    /// The path after `/v3/`, percent-decoded: `conversations/19:…;messageid=1/activities`.
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
    /// The HTTP status the fake answered with.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    /// Published keys: (kid, endorsements).
    keys: Vec<(String, Vec<String>)>,
    key_fetches: usize,
    token_requests: Vec<Value>,
    calls: Vec<ConnectorCall>,
    next_id: u64,
    /// Member profiles that differ from `TEAMS_USERS`, by `29:` id.
    profiles: std::collections::HashMap<String, Value>,
    /// Members beyond `TEAMS_USERS`: (Entra object id, `29:` id, name, email).
    more_users: Vec<(String, String, String, String)>,
    /// HTTP method → how many of its next calls answer 503 before answering normally again.
    failures: std::collections::HashMap<String, usize>,
}

#[derive(Clone)]
pub struct FakeBotFramework {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeBotFramework {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            keys: vec![(KEY_ID.into(), vec!["msteams".into()])],
            next_id: 1000,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/openid", get(openid))
            .route("/keys", get(keys))
            .route("/token", post(token))
            .route("/v3/{*path}", axum::routing::any(connector))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// The `serviceUrl` activities carry: this fake's Bot Connector.
    pub fn service_url(&self) -> String {
        format!("{}/", self.url)
    }

    /// Publishes the test key under `kid` with these endorsements, replacing the key set.
    pub fn publish_keys(&self, keys: &[(&str, &[&str])]) {
        self.inner.lock().unwrap().keys = keys
            .iter()
            .map(|(kid, endorsements)| {
                (
                    kid.to_string(),
                    endorsements.iter().map(|e| e.to_string()).collect(),
                )
            })
            .collect();
    }

    /// From now on the Bot Connector shows `user`'s profile as `profile` (email, UPN, role …).
    pub fn set_profile(&self, user: &str, profile: Value) {
        let mri = TEAMS_USERS
            .iter()
            .find(|u| u.2.to_ascii_lowercase().starts_with(user))
            .unwrap_or_else(|| panic!("no Teams user {user}"))
            .1;
        let mut inner = self.inner.lock().unwrap();
        inner.profiles.insert(mri.to_string(), profile);
    }

    /// Adds a member to the directory beyond `TEAMS_USERS`, for tests that need many people.
    pub fn add_user(&self, aad: &str, mri: &str, name: &str, email: &str) {
        let user = (aad.into(), mri.into(), name.into(), email.into());
        self.inner.lock().unwrap().more_users.push(user);
    }

    /// Answers the next `count` Bot Connector calls with this HTTP method (`PUT`) with 503.
    pub fn fail_next(&self, method: &str, count: usize) {
        let mut inner = self.inner.lock().unwrap();
        *inner.failures.entry(method.to_string()).or_default() += count;
    }

    pub fn key_fetches(&self) -> usize {
        self.inner.lock().unwrap().key_fetches
    }

    pub fn token_requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().token_requests.clone()
    }

    pub fn calls(&self) -> Vec<ConnectorCall> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Messages sent into a conversation (POSTs to its activities), oldest first.
    pub fn sent_to(&self, conversation: &str) -> Vec<Value> {
        let path = format!("conversations/{conversation}/activities");
        self.calls()
            .into_iter()
            .filter(|c| {
                c.method == "POST" && (c.path == path || c.path.starts_with(&format!("{path}/")))
            })
            .map(|c| c.body)
            .collect()
    }

    /// The last PUT (update for everyone) of a message in a conversation.
    pub fn last_update_in(&self, conversation: &str) -> Value {
        let prefix = format!("conversations/{conversation}/activities/");
        self.calls()
            .into_iter()
            .rev()
            .find(|c| c.method == "PUT" && c.path.starts_with(&prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no message in {conversation} was updated: {:#?}",
                    self.calls()
                )
            })
            .body
    }

    /// Conversations started (channel threads and 1:1 chats).
    pub fn started(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path == "conversations")
            .map(|c| c.body)
            .collect()
    }

    /// Waits until `count` messages were sent into `conversation`, or panics after 5 s.
    pub async fn wait_for_sent(&self, conversation: &str, count: usize) -> Vec<Value> {
        for _ in 0..500 {
            let sent = self.sent_to(conversation);
            if sent.len() >= count {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {count} message(s) in {conversation}; calls: {:#?}",
            self.calls()
        );
    }

    /// A token as the Bot Framework signs it for an activity to `serviceurl`; `claims` are merged
    /// over the valid defaults (null removes one), `header` over RS256 with the test key.
    pub fn token(&self, service_url: &str, claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({
            "iss": "https://api.botframework.com",
            "aud": APP_ID,
            "exp": now + 3600,
            "nbf": now - 60,
            "serviceurl": service_url,
        });
        merge(&mut all, claims);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KEY_ID.into());
        encode(
            &header,
            &all,
            &EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    /// A valid token signed with the test key but naming another key id.
    pub fn token_with_kid(&self, service_url: &str, kid: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({ "iss": "https://api.botframework.com", "aud": APP_ID, "exp": now + 3600, "serviceurl": service_url });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

fn merge(base: &mut Value, over: Value) {
    if let (Value::Object(base), Value::Object(over)) = (base, over) {
        for (key, value) in over {
            if value.is_null() {
                base.remove(&key);
            } else {
                base.insert(key, value);
            }
        }
    }
}

async fn openid(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> axum::Json<Value> {
    let _ = inner;
    let host = headers["host"].to_str().unwrap().to_string();
    axum::Json(json!({
        "issuer": "https://api.botframework.com",
        "jwks_uri": format!("http://{host}/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn keys(State(inner): State<Arc<Mutex<Inner>>>) -> axum::Json<Value> {
    let mut inner = inner.lock().unwrap();
    inner.key_fetches += 1;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(PRIVATE_KEY).unwrap();
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    let keys: Vec<Value> = inner
        .keys
        .iter()
        .map(|(kid, endorsements)| json!({ "kty": "RSA", "use": "sig", "kid": kid, "n": n, "e": e, "endorsements": endorsements }))
        .collect();
    axum::Json(json!({ "keys": keys }))
}

async fn token(State(inner): State<Arc<Mutex<Inner>>>, body: Bytes) -> axum::Json<Value> {
    let form: Value = serde_json::to_value(
        url::form_urlencoded::parse(&body)
            .into_owned()
            .collect::<std::collections::HashMap<String, String>>(),
    )
    .unwrap();
    let mut inner = inner.lock().unwrap();
    inner.token_requests.push(form);
    let n = inner.token_requests.len();
    axum::Json(
        json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": format!("connector-token-{n}") }),
    )
}

async fn connector(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = inner.lock().unwrap();
    inner.next_id += 1;
    let id = inner.next_id.to_string();
    let failing = inner
        .failures
        .get_mut(method.as_str())
        .filter(|left| **left > 0)
        .map(|left| *left -= 1)
        .is_some();
    inner.calls.push(ConnectorCall {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string()),
        status: if failing { 503 } else { 200 },
    });
    if failing {
        let error = json!({ "error": { "code": "ServiceError", "message": "unavailable" } });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(error));
    }
    let segments: Vec<&str> = path.split('/').collect();
    let reply = match (method.as_str(), segments.as_slice()) {
        ("POST", ["conversations"]) => {
            // A channel thread gets `;messageid=`, a 1:1 chat an `a:` id.
            match body["channelData"]["channel"]["id"].as_str() {
                Some(channel) => {
                    json!({ "id": format!("{channel};messageid={id}"), "activityId": id })
                }
                None => {
                    json!({ "id": format!("a:personal-{}", body["members"][0]["id"].as_str().unwrap_or("?")) })
                }
            }
        }
        ("GET", ["conversations", _, "members", member]) => {
            let more = inner.more_users.iter().find(|u| u.1 == *member);
            let more = more.map(|(a, m, n, e)| (a.as_str(), m.as_str(), n.as_str(), e.as_str()));
            match TEAMS_USERS
                .iter()
                .copied()
                .find(|u| u.1 == *member)
                .or(more)
            {
                Some((aad, mri, name, email)) => {
                    let mut profile = json!({ "id": mri, "name": name, "aadObjectId": aad, "email": email,
                                              "userPrincipalName": email, "tenantId": TENANT_ID, "userRole": "user" });
                    if let Some(Value::Object(changes)) = inner.profiles.get(mri) {
                        for (key, value) in changes {
                            profile[key] = value.clone();
                        }
                    }
                    profile
                }
                None => json!({}),
            }
        }
        _ => json!({ "id": id }),
    };
    (StatusCode::OK, axum::Json(reply))
}
