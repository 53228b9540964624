//! A fake Microsoft Graph (and its token endpoint) on 127.0.0.1. It keeps users and group
//! membership, pages member lists, records every call, and can be told to fail.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use serde_json::{Value, json};

/// Directory users: (object id, UPN, mail, display name, enabled). Dave is a B2B guest whose UPN
/// is not his mail; Erin's account is disabled.
pub const DIRECTORY: &[(&str, &str, &str, &str, bool)] = &[
    (
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "alice@example.com",
        "alice@example.com",
        "Alice Example",
        true,
    ),
    (
        "2a3b4c5d-6e7f-4a81-92b3-c4d5e6f7a8b9",
        "bob@example.com",
        "bob@example.com",
        "Bob Approver",
        true,
    ),
    (
        "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
        "carol@example.com",
        "carol@example.com",
        "Carol Owner",
        true,
    ),
    (
        "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
        "dave_partner.org#EXT#@example.onmicrosoft.com",
        "dave@example.com",
        "Dave Guest",
        true,
    ),
    (
        "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e",
        "erin@example.com",
        "erin@example.com",
        "Erin Disabled",
        false,
    ),
];

pub fn directory_id(email: &str) -> &'static str {
    DIRECTORY
        .iter()
        .find(|u| u.2 == email)
        .unwrap_or_else(|| panic!("{email} is not in the fake directory"))
        .0
}

#[derive(Debug, Clone)]
pub struct GraphCall {
    pub method: String,
    /// Path after `/v1.0/`, percent-decoded, without the query.
    pub path: String,
    pub query: String,
    pub body: Value,
}

struct Failure {
    method: String,
    path_contains: String,
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

#[derive(Default)]
struct Inner {
    /// group id → display name and direct members.
    groups: HashMap<String, (String, BTreeSet<String>)>,
    owners: HashMap<String, Vec<String>>,
    /// user id → their manager's id.
    managers: HashMap<String, String>,
    /// (user, group) pairs that hold through nested groups.
    transitive: BTreeSet<(String, String)>,
    calls: Vec<GraphCall>,
    token_requests: Vec<HashMap<String, String>>,
    /// Token requests still to refuse, as Entra ID does a wrong client secret.
    refuse_tokens: usize,
    failures: Vec<Failure>,
    roles: Vec<String>,
    page_size: usize,
    /// Calls whose path contains the text are answered only after the wait.
    delays: Vec<(String, std::time::Duration)>,
}

#[derive(Clone)]
pub struct FakeGraph {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGraph {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            page_size: 100,
            roles: vec!["GroupMember.ReadWrite.All".into(), "User.Read.All".into()],
            ..Default::default()
        }));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route(
                "/metadata/identity/oauth2/token",
                get(managed_identity_token),
            )
            .route("/v1.0/{*path}", any(graph))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    pub fn add_group(&self, id: &str, name: &str, members: &[&str]) {
        let members = members.iter().map(|m| m.to_string()).collect();
        self.inner
            .lock()
            .unwrap()
            .groups
            .insert(id.into(), (name.into(), members));
    }

    pub fn set_owners(&self, group: &str, owners: &[&str]) {
        self.inner
            .lock()
            .unwrap()
            .owners
            .insert(group.into(), owners.iter().map(|o| o.to_string()).collect());
    }

    /// Makes `manager` the manager of `user` in the directory (both by object id).
    pub fn set_manager(&self, user: &str, manager: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.managers.insert(user.to_string(), manager.to_string());
    }

    pub fn add_transitive_member(&self, user: &str, group: &str) {
        self.inner
            .lock()
            .unwrap()
            .transitive
            .insert((user.into(), group.into()));
    }

    pub fn remove_transitive_member(&self, user: &str, group: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner
            .transitive
            .remove(&(user.to_string(), group.to_string()));
    }

    pub fn members(&self, group: &str) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .groups
            .get(group)
            .map(|g| g.1.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn set_roles(&self, roles: &[&str]) {
        self.inner.lock().unwrap().roles = roles.iter().map(|r| r.to_string()).collect();
    }

    /// Answers calls whose path contains `path_contains` only after `wait`: a slow Graph.
    pub fn delay(&self, path_contains: &str, wait: std::time::Duration) {
        self.inner
            .lock()
            .unwrap()
            .delays
            .push((path_contains.into(), wait));
    }

    pub fn set_page_size(&self, size: usize) {
        self.inner.lock().unwrap().page_size = size;
    }

    /// Answers the next `count` calls whose method is `method` and whose path contains
    /// `path_contains` with `status` (and `Retry-After`, when given).
    pub fn fail_next(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        retry_after: Option<u64>,
        count: usize,
    ) {
        let mut inner = self.inner.lock().unwrap();
        for _ in 0..count {
            inner.failures.push(Failure {
                method: method.into(),
                path_contains: path_contains.into(),
                status,
                retry_after,
                body: json!({ "error": { "code": "serviceUnavailable", "message": "try later" } }),
            });
        }
    }

    /// Answers the next call matching `method` and `path_contains` with a Graph error.
    pub fn answer_next(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        code: &str,
        message: &str,
    ) {
        self.inner.lock().unwrap().failures.push(Failure {
            method: method.into(),
            path_contains: path_contains.into(),
            status,
            retry_after: None,
            body: json!({ "error": { "code": code, "message": message } }),
        });
    }

    pub fn calls(&self) -> Vec<GraphCall> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_to(&self, method: &str, path_contains: &str) -> Vec<GraphCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.path.contains(path_contains))
            .collect()
    }

    /// Refuses the next `count` token requests (401 `invalid_client`).
    pub fn refuse_next_tokens(&self, count: usize) {
        self.inner.lock().unwrap().refuse_tokens = count;
    }

    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.lock().unwrap().token_requests.clone()
    }
}

fn graph_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "innerError": { "request-id": "fake-request-id" } } });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn user_json(id: &str) -> Option<Value> {
    DIRECTORY.iter().find(|u| u.0 == id || u.1.eq_ignore_ascii_case(id)).map(|(id, upn, mail, name, enabled)| {
        json!({ "id": id, "userPrincipalName": upn, "mail": mail, "displayName": name, "accountEnabled": enabled })
    })
}

/// Azure's instance metadata endpoint: a token for the managed identity `client_id`, only with
/// the `Metadata: true` header (which a browser cannot send), `expires_in` as a string.
async fn managed_identity_token(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let mut request: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok());
    request.insert(
        "metadata_header".into(),
        metadata.unwrap_or_default().into(),
    );
    let mut answer = token_for(&mut inner.lock().unwrap(), request);
    if metadata != Some("true") {
        return (
            StatusCode::BAD_REQUEST,
            "Required metadata header not specified",
        )
            .into_response();
    }
    answer["expires_in"] = json!("3599");
    axum::Json(answer).into_response()
}

async fn token(State(inner): State<Arc<Mutex<Inner>>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut inner = inner.lock().unwrap();
    if inner.refuse_tokens > 0 {
        inner.refuse_tokens -= 1;
        inner.token_requests.push(form);
        let refusal = json!({ "error": "invalid_client", "error_description": "AADSTS7000215" });
        return (StatusCode::UNAUTHORIZED, axum::Json(refusal)).into_response();
    }
    axum::Json(token_for(&mut inner, form)).into_response()
}

/// Records a token request and answers it with a token carrying the granted roles.
fn token_for(inner: &mut Inner, request: HashMap<String, String>) -> Value {
    inner.token_requests.push(request);
    let claims = json!({ "aud": "https://graph.microsoft.com", "roles": inner.roles });
    let encode = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.fake-signature",
        encode(&json!({ "alg": "RS256", "typ": "JWT" })),
        encode(&claims)
    );
    json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": token })
}

async fn graph(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    assert!(
        headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer "))
    );
    let query = query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delay = inner
        .lock()
        .unwrap()
        .delays
        .iter()
        .find(|(p, _)| path.contains(p.as_str()))
        .map(|(_, d)| *d);
    if let Some(wait) = delay {
        tokio::time::sleep(wait).await;
    }
    let mut inner = inner.lock().unwrap();
    inner.calls.push(GraphCall {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
    });
    if let Some(at) = inner
        .failures
        .iter()
        .position(|f| f.method == method.as_str() && path.contains(&f.path_contains))
    {
        let failure = inner.failures.remove(at);
        let mut response = (
            StatusCode::from_u16(failure.status).unwrap(),
            axum::Json(failure.body),
        )
            .into_response();
        if let Some(seconds) = failure.retry_after {
            response.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&seconds.to_string()).unwrap(),
            );
        }
        return response;
    }
    let segments: Vec<&str> = path.split('/').collect();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["users"]) => {
            let filter = param("$filter").unwrap_or_default();
            let mail = filter
                .strip_prefix("mail eq '")
                .and_then(|m| m.strip_suffix('\''))
                .unwrap_or_default();
            let found: Vec<Value> = DIRECTORY
                .iter()
                .filter(|u| u.2.eq_ignore_ascii_case(mail))
                .filter_map(|u| user_json(u.0))
                .collect();
            axum::Json(json!({ "value": found })).into_response()
        }
        ("GET", ["users", id]) => match user_json(id) {
            Some(user) => axum::Json(user).into_response(),
            None => graph_error(
                404,
                "Request_ResourceNotFound",
                &format!(
                    "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
                ),
            ),
        },
        ("GET", ["users", id, "manager"]) => {
            match inner.managers.get(*id).and_then(|m| user_json(m)) {
                Some(manager) => axum::Json(manager).into_response(),
                None => graph_error(
                    404,
                    "Request_ResourceNotFound",
                    "Resource 'manager' does not exist or one of its queried reference-property objects are not present.",
                ),
            }
        }
        ("POST", ["users", id, "checkMemberGroups"]) => {
            let asked: Vec<String> =
                serde_json::from_value(body["groupIds"].clone()).unwrap_or_default();
            let found: Vec<&String> = asked
                .iter()
                .filter(|g| {
                    inner.groups.get(*g).is_some_and(|(_, m)| m.contains(*id))
                        || inner.transitive.contains(&(id.to_string(), g.to_string()))
                })
                .collect();
            axum::Json(json!({ "value": found })).into_response()
        }
        ("GET", ["groups", id]) => match inner.groups.get(*id) {
            Some((name, _)) => axum::Json(json!({ "id": id, "displayName": name })).into_response(),
            None => graph_error(
                404,
                "Request_ResourceNotFound",
                &format!(
                    "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
                ),
            ),
        },
        ("GET", ["groups", id, "members"]) => {
            let Some((_, members)) = inner.groups.get(*id) else {
                return graph_error(404, "Request_ResourceNotFound", "no such group");
            };
            let members: Vec<String> = match param("$filter")
                .as_deref()
                .and_then(|f| f.strip_prefix("id eq '"))
            {
                Some(rest) => members
                    .iter()
                    .filter(|m| rest.trim_end_matches('\'') == m.as_str())
                    .cloned()
                    .collect(),
                None => members.iter().cloned().collect(),
            };
            let skip: usize = param("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
            let page: Vec<Value> = members
                .iter()
                .skip(skip)
                .take(inner.page_size)
                .filter_map(|m| user_json(m))
                .collect();
            let mut reply = json!({ "value": page });
            if skip + inner.page_size < members.len() {
                let host = headers["host"].to_str().unwrap();
                reply["@odata.nextLink"] = json!(format!(
                    "http://{host}/v1.0/groups/{id}/members?$top=999&skip={}",
                    skip + inner.page_size
                ));
            }
            axum::Json(reply).into_response()
        }
        ("GET", ["groups", id, "owners"]) => {
            let owners: Vec<Value> = inner
                .owners
                .get(*id)
                .into_iter()
                .flatten()
                .filter_map(|o| user_json(o))
                .collect();
            axum::Json(json!({ "value": owners })).into_response()
        }
        ("POST", ["groups", id, "members", "$ref"]) => {
            let user = body["@odata.id"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let Some((_, members)) = inner.groups.get_mut(*id) else {
                return graph_error(404, "Request_ResourceNotFound", "no such group");
            };
            if !members.insert(user) {
                return graph_error(
                    400,
                    "Request_BadRequest",
                    "One or more added object references already exist for the following modified properties: 'members'.",
                );
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("DELETE", ["groups", id, "members", user, "$ref"]) => {
            let removed = inner
                .groups
                .get_mut(*id)
                .is_some_and(|(_, members)| members.remove(*user));
            match removed {
                true => StatusCode::NO_CONTENT.into_response(),
                false => graph_error(
                    404,
                    "Request_ResourceNotFound",
                    &format!(
                        "Resource '{user}' does not exist or one of its queried reference-property objects are not present."
                    ),
                ),
            }
        }
        (
            "POST",
            [
                "identityGovernance",
                "privilegedAccess",
                "group",
                "assignmentScheduleRequests",
            ],
        ) => {
            let (group, user) = (
                body["groupId"].as_str().unwrap_or_default().to_string(),
                body["principalId"].as_str().unwrap_or_default().to_string(),
            );
            let Some((_, members)) = inner.groups.get_mut(&group) else {
                return graph_error(404, "Request_ResourceNotFound", "no such group");
            };
            match body["action"].as_str() {
                Some("adminAssign") => {
                    members.insert(user);
                }
                Some("adminRemove") if !members.remove(&user) => {
                    return graph_error(
                        400,
                        "ActiveDurationTooShort",
                        "There is no active assignment to remove.",
                    );
                }
                _ => {}
            }
            (
                StatusCode::CREATED,
                axum::Json(json!({ "id": "pim-request-1", "status": "Provisioned" })),
            )
                .into_response()
        }
        _ => graph_error(
            400,
            "BadRequest",
            &format!("the fake does not know {method} {path}"),
        ),
    }
}
