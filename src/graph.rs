//! Microsoft Graph: app-only token (cached), users, group membership, owners, paging, PIM for
//! Groups. Errors keep Graph's code and honour `Retry-After`.

use crate::metrics::{ApiErrorKind, ApiErrors};
use std::time::Duration;

use anyhow::{Context, anyhow};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client_credentials::TokenSource;
use crate::config::GraphConfig;
use crate::domain::identity::Guid;
use crate::retry::RetryAfter;
use crate::secrets::{Secret, Secrets};

const CALL_TIMEOUT: Duration = Duration::from_secs(15);
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const MAX_PAGES: usize = 1000;

/// A user as jitbot needs them from Entra ID.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    pub id: String,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    /// Absent when Graph was not asked for it; treated as enabled.
    pub account_enabled: Option<bool>,
}

impl DirectoryUser {
    pub fn is_enabled(&self) -> bool {
        self.account_enabled != Some(false)
    }

    /// The addresses the directory vouches for: mail and UPN of a member of our tenant. A guest's
    /// (`#EXT#` in the UPN) come from another tenant and say nothing about who they are here.
    pub fn verified_addresses(&self) -> Vec<String> {
        let guest = self
            .user_principal_name
            .as_deref()
            .is_some_and(|upn| upn.to_ascii_lowercase().contains("#ext#"));
        if guest {
            return Vec::new();
        }
        [&self.mail, &self.user_principal_name]
            .into_iter()
            .flatten()
            .map(|address| address.to_ascii_lowercase())
            .collect()
    }

    /// Whether this is the person with `email` (their mail or their UPN).
    pub fn has_email(&self, email: &str) -> bool {
        [&self.mail, &self.user_principal_name]
            .into_iter()
            .flatten()
            .any(|address| address.eq_ignore_ascii_case(email))
    }
}

/// A failed Graph call, with the parts jitbot decides on.
#[derive(Debug, thiserror::Error)]
#[error("Graph {method} {path} answered {status} {code}: {message}")]
pub struct GraphError {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

pub struct Graph {
    http: reqwest::Client,
    api_url: String,
    tokens: Option<TokenSource>,
    errors: ApiErrors,
}

const USER_FIELDS: &str = "id,userPrincipalName,mail,displayName,accountEnabled";

impl Graph {
    pub fn new(config: &GraphConfig, secrets: &Secrets) -> anyhow::Result<Graph> {
        let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?;
        let credential = secrets.credential(secrets.azure_client_secret.as_ref());
        let tokens = match (
            &secrets.azure_tenant_id,
            &secrets.azure_client_id,
            credential,
        ) {
            (Some(tenant_id), Some(client_id), Some(credential)) => Some(TokenSource::new(
                http.clone(),
                format!("{}{tenant_id}/oauth2/v2.0/token", config.authority_url),
                client_id.clone(),
                credential,
                GRAPH_SCOPE,
            )),
            // A federated token file or managed identity may be there for something else.
            (None, None, _) if secrets.azure_client_secret.is_none() => None,
            _ => anyhow::bail!(
                "set AZURE_TENANT_ID and AZURE_CLIENT_ID with one of AZURE_CLIENT_SECRET, \
                 AZURE_FEDERATED_TOKEN_FILE or AZURE_USE_MANAGED_IDENTITY=true — or none of them"
            ),
        };
        Ok(Graph {
            http,
            api_url: config.api_url.clone(),
            tokens,
            errors: ApiErrors::default(),
        })
    }

    /// The same client counting its failed calls into `errors` (`GET /metrics`).
    pub fn counting_errors(mut self, errors: ApiErrors) -> Graph {
        if let Some(tokens) = &mut self.tokens {
            tokens.count_errors_in(errors.clone());
        }
        Graph { errors, ..self }
    }

    pub fn is_configured(&self) -> bool {
        self.tokens.is_some()
    }

    async fn token(&self) -> anyhow::Result<Secret> {
        self.tokens
            .as_ref()
            .context("Microsoft Graph is not configured: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET")?
            .token()
            .await
    }

    /// The application permissions the token carries (its `roles` claim).
    pub async fn token_roles(&self) -> anyhow::Result<Vec<String>> {
        let token = self.token().await?;
        let payload = token
            .expose()
            .split('.')
            .nth(1)
            .context("the Graph token is not a JWT")?;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .context("decoding the Graph token")?,
        )?;
        Ok(claims["roles"]
            .as_array()
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// One call. `path` is relative to the API URL, or a full `@odata.nextLink`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.api_url)
        };
        let client_request_id = format!("jitbot-{:016x}", rand::random::<u64>());
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.token().await?.expose())
            .header("client-request-id", &client_request_id)
            // Advanced queries ($filter on members, $count) need it; it is harmless elsewhere.
            .header("ConsistencyLevel", "eventual");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .inspect_err(|e| self.errors.count("graph", ApiErrorKind::of_send(e)))
            .with_context(|| format!("Graph {method} {path}"))?;
        let status = response.status();
        if !status.is_success() {
            self.errors
                .count("graph", ApiErrorKind::of_status(status.as_u16()));
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let error = GraphError {
            method: method.to_string(),
            path: path.split('?').next().unwrap_or(path).to_string(),
            status: status.as_u16(),
            code: body["error"]["code"].as_str().unwrap_or("-").to_string(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or(&text)
                .chars()
                .take(300)
                .collect(),
        };
        tracing::warn!(%error, client_request_id, request_id = body["error"]["innerError"]["request-id"].as_str(), "Graph call failed");
        let throttled = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        );
        match (throttled, retry_after) {
            (true, Some(wait)) => Err(anyhow::Error::new(error).context(RetryAfter(wait))),
            _ => Err(error.into()),
        }
    }

    /// A user by object id or user principal name; `None` when Entra has no such user.
    pub async fn user(&self, id_or_upn: &str) -> anyhow::Result<Option<DirectoryUser>> {
        let path = format!("users/{}?$select={USER_FIELDS}", encode(id_or_upn));
        match self.call(Method::GET, &path, None).await {
            Ok(user) => Ok(Some(serde_json::from_value(user)?)),
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The user's manager in Entra ID; `None` when they have none (Graph answers 404).
    pub async fn manager(&self, user_id: &str) -> anyhow::Result<Option<DirectoryUser>> {
        let path = format!("users/{}/manager?$select={USER_FIELDS}", encode(user_id));
        match self.call(Method::GET, &path, None).await {
            Ok(user) => Ok(Some(serde_json::from_value(user)?)),
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The user with this email: by UPN first, then by `mail` (guests' UPNs differ from their mail).
    pub async fn user_by_email(&self, email: &str) -> anyhow::Result<Option<DirectoryUser>> {
        if let Some(user) = self.user(email).await? {
            return Ok(Some(user));
        }
        let filter = format!("mail eq '{}'", email.replace('\'', "''"));
        let path = format!("users?$filter={}&$select={USER_FIELDS}", encode(&filter));
        let page = self.call(Method::GET, &path, None).await?;
        let users: Vec<DirectoryUser> =
            serde_json::from_value(page["value"].clone()).unwrap_or_default();
        Ok(users.into_iter().next())
    }

    /// Whether the user is a direct member of the group.
    pub async fn is_direct_member(&self, group_id: &str, user_id: &str) -> anyhow::Result<bool> {
        let filter = format!("id eq '{user_id}'");
        let path = format!(
            "groups/{group_id}/members?$filter={}&$select=id&$count=true",
            encode(&filter)
        );
        let page = self.call(Method::GET, &path, None).await?;
        Ok(page["value"]
            .as_array()
            .is_some_and(|members| members.iter().any(|m| m["id"] == user_id)))
    }

    /// Adds a member. `false`: they were a member already, which is success too.
    pub async fn add_member(&self, group_id: &str, user_id: &str) -> anyhow::Result<bool> {
        let body = json!({ "@odata.id": format!("{}directoryObjects/{user_id}", self.api_url) });
        match self
            .call(
                Method::POST,
                &format!("groups/{group_id}/members/$ref"),
                Some(&body),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if is_already_member(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Removes a member — with `/$ref`, never the form that deletes the user. `false`: they were
    /// not a member (checked: the group exists), which is success too.
    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> anyhow::Result<bool> {
        match self
            .call(
                Method::DELETE,
                &format!("groups/{group_id}/members/{user_id}/$ref"),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if status_of(&error) == Some(404) => {
                // 404 also means "no such group": only an existing group makes it "not a member".
                if self.group(group_id).await?.is_some() {
                    Ok(false)
                } else {
                    Err(error.context(format!("Entra group {group_id} does not exist")))
                }
            }
            Err(error) => Err(error),
        }
    }

    /// A group's display name, or `None` when it does not exist.
    pub async fn group(&self, group_id: &str) -> anyhow::Result<Option<String>> {
        match self
            .call(
                Method::GET,
                &format!("groups/{group_id}?$select=id,displayName"),
                None,
            )
            .await
        {
            Ok(group) => Ok(Some(
                group["displayName"]
                    .as_str()
                    .unwrap_or(group_id)
                    .to_string(),
            )),
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every member of a group, following `@odata.nextLink` to the end.
    pub async fn members(&self, group_id: &str) -> anyhow::Result<Vec<DirectoryUser>> {
        self.all_pages(&format!(
            "groups/{group_id}/members?$select={USER_FIELDS}&$top=999"
        ))
        .await
    }

    /// A group's owners.
    pub async fn owners(&self, group_id: &str) -> anyhow::Result<Vec<DirectoryUser>> {
        self.all_pages(&format!(
            "groups/{group_id}/owners?$select={USER_FIELDS}&$top=999"
        ))
        .await
    }

    async fn all_pages(&self, first: &str) -> anyhow::Result<Vec<DirectoryUser>> {
        let mut users = Vec::new();
        let mut next = Some(first.to_string());
        for _ in 0..MAX_PAGES {
            let Some(path) = next.take() else {
                return Ok(users);
            };
            let page = self.call(Method::GET, &path, None).await?;
            for item in page["value"].as_array().into_iter().flatten() {
                // Groups and devices can be members too; jitbot only deals with users.
                if let Ok(user) = serde_json::from_value::<DirectoryUser>(item.clone()) {
                    users.push(user);
                }
            }
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        Err(anyhow!("{first}: more than {MAX_PAGES} pages"))
    }

    /// Which of `group_ids` the user is a member of, transitively.
    pub async fn member_groups(
        &self,
        user_id: &str,
        group_ids: &[Guid],
    ) -> anyhow::Result<Vec<String>> {
        let mut found = Vec::new();
        // checkMemberGroups takes at most 20 ids per call.
        for chunk in group_ids.chunks(20) {
            let ids: Vec<&str> = chunk.iter().map(Guid::as_str).collect();
            let body = json!({ "groupIds": ids });
            let result = self
                .call(
                    Method::POST,
                    &format!("users/{user_id}/checkMemberGroups"),
                    Some(&body),
                )
                .await?;
            found.extend(
                result["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned)),
            );
        }
        Ok(found)
    }

    /// A PIM for Groups assignment schedule request (`adminAssign` or `adminRemove`).
    pub async fn pim_request(&self, body: &Value) -> anyhow::Result<Value> {
        self.call(
            Method::POST,
            "identityGovernance/privilegedAccess/group/assignmentScheduleRequests",
            Some(body),
        )
        .await
    }
}

/// The HTTP status of a failed Graph call, if Graph answered.
pub fn status_of(error: &anyhow::Error) -> Option<u16> {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<GraphError>())
        .map(|e| e.status)
}

pub fn graph_error(error: &anyhow::Error) -> Option<&GraphError> {
    error.chain().find_map(|e| e.downcast_ref::<GraphError>())
}

fn is_already_member(error: &anyhow::Error) -> bool {
    graph_error(error).is_some_and(|e| {
        e.status == 400
            && e.code == "Request_BadRequest"
            && e.message.contains("added object references already exist")
    })
}

/// Percent-encodes one path segment or query value.
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
