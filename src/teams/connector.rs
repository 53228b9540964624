//! The Bot Connector REST API: send, reply, update and start conversations in Teams, with a
//! client-credentials token cached until shortly before it expires.

use crate::metrics::{ApiErrorKind, ApiErrors};
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde::Deserialize;
use serde_json::{Value, json};

use super::service_hosts::ServiceHosts;
use crate::client_credentials::{Credential, TokenSource};
use crate::secrets::Secret;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECTOR_SCOPE: &str = "https://api.botframework.com/.default";

/// The bot's own identity towards the Bot Connector.
pub struct Credentials {
    pub app_id: String,
    /// `MICROSOFT_APP_PASSWORD`, a federated token file or a managed identity.
    pub credential: Credential,
    /// The single-tenant token endpoint of the bot's registration.
    pub token_url: String,
}

pub struct Connector {
    http: reqwest::Client,
    /// Calls (and the token) go only to these hosts, whatever `serviceUrl` a row holds.
    hosts: ServiceHosts,
    /// `None` in local trial mode: emulators accept calls without a token.
    tokens: Option<TokenSource>,
    /// Failed calls, counted for `GET /metrics`.
    errors: ApiErrors,
}

/// A member's profile, as the Bot Connector returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub name: Option<String>,
    pub aad_object_id: Option<String>,
    pub email: Option<String>,
    pub user_principal_name: Option<String>,
    /// The tenant the profile comes from.
    pub tenant_id: Option<String>,
    /// `user`, `guest` or `anonymous`.
    pub user_role: Option<String>,
}

impl Connector {
    pub fn new(credentials: Option<Credentials>, hosts: ServiceHosts) -> anyhow::Result<Self> {
        // The token must not follow a redirect to another host either.
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let tokens = credentials.map(|c| {
            TokenSource::new(
                http.clone(),
                c.token_url,
                c.app_id,
                c.credential,
                CONNECTOR_SCOPE,
            )
        });
        Ok(Self {
            http,
            hosts,
            tokens,
            errors: ApiErrors::default(),
        })
    }

    /// Counts this connector's failed calls into `errors` from now on.
    pub fn count_errors_in(&mut self, errors: ApiErrors) {
        if let Some(tokens) = &mut self.tokens {
            tokens.count_errors_in(errors.clone());
        }
        self.errors = errors;
    }

    pub fn bot_id(&self) -> Option<String> {
        self.tokens
            .as_ref()
            .map(|t| format!("28:{}", t.client_id()))
    }

    async fn bearer(&self) -> anyhow::Result<Option<Secret>> {
        match &self.tokens {
            Some(tokens) => Ok(Some(tokens.token().await?)),
            None => Ok(None),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        if !self.hosts.permits(url.as_str()) {
            return Err(anyhow!(
                "refusing to call {}: not a Bot Framework host (teams.service_hosts)",
                url.host_str().unwrap_or("a URL without a host")
            ));
        }
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = self.bearer().await? {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .inspect_err(|e| self.errors.count("teams", ApiErrorKind::of_send(e)))
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        if !status.is_success() {
            self.errors
                .count("teams", ApiErrorKind::of_status(status.as_u16()));
        }
        let correlation = response
            .headers()
            .get("x-correlating-operationid")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let excerpt: String = text.chars().take(300).collect();
            return Err(anyhow!(
                "{method} {url} answered {status} (operation {correlation}): {excerpt}"
            ));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends a message to a conversation (a reply in its thread when the id names one);
    /// returns the new activity's id.
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> anyhow::Result<String> {
        let url = endpoint(
            service_url,
            &["v3", "conversations", conversation_id, "activities"],
        )?;
        let response = self
            .call(reqwest::Method::POST, url, Some(activity))
            .await?;
        activity_id(&response)
    }

    /// Replaces a message for everyone in the conversation.
    pub async fn update(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> anyhow::Result<()> {
        let url = endpoint(
            service_url,
            &[
                "v3",
                "conversations",
                conversation_id,
                "activities",
                activity_id,
            ],
        )?;
        let mut activity = activity.clone();
        activity["id"] = json!(activity_id);
        self.call(reqwest::Method::PUT, url, Some(&activity))
            .await?;
        Ok(())
    }

    /// Starts a conversation: a new thread in a channel, or a 1:1 chat with a user. Returns the
    /// conversation id and, when a first message was sent with it, that message's id.
    pub async fn create_conversation(
        &self,
        service_url: &str,
        parameters: &Value,
    ) -> anyhow::Result<(String, Option<String>)> {
        let url = endpoint(service_url, &["v3", "conversations"])?;
        let response = self
            .call(reqwest::Method::POST, url, Some(parameters))
            .await?;
        let id = response["id"]
            .as_str()
            .context("the Bot Connector returned no conversation id")?
            .to_string();
        Ok((id, response["activityId"].as_str().map(str::to_owned)))
    }

    /// A member's profile (email, UPN) as seen from a conversation they are in.
    pub async fn member(
        &self,
        service_url: &str,
        conversation_id: &str,
        member_id: &str,
    ) -> anyhow::Result<Member> {
        let url = endpoint(
            service_url,
            &["v3", "conversations", conversation_id, "members", member_id],
        )?;
        let response = self.call(reqwest::Method::GET, url, None).await?;
        serde_json::from_value(response).context("reading a member's profile")
    }
}

fn activity_id(response: &Value) -> anyhow::Result<String> {
    response["id"]
        .as_str()
        .map(str::to_owned)
        .context("the Bot Connector returned no activity id")
}

/// `{service_url}` + path segments, each percent-encoded (conversation ids hold `:`, `@`, `;`).
fn endpoint(service_url: &str, segments: &[&str]) -> anyhow::Result<reqwest::Url> {
    let mut url =
        reqwest::Url::parse(service_url).with_context(|| format!("service URL `{service_url}`"))?;
    url.path_segments_mut()
        .map_err(|_| anyhow!("service URL `{service_url}` cannot have a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_connector_urls_with_encoded_ids() {
        let url = endpoint(
            "https://smba.trafficmanager.net/emea/",
            &[
                "v3",
                "conversations",
                "19:abc@thread.tacv2;messageid=1",
                "activities",
            ],
        )
        .unwrap();
        assert!(url.as_str().starts_with(
            "https://smba.trafficmanager.net/emea/v3/conversations/19:abc@thread.tacv2"
        ));
        assert!(url.as_str().ends_with("/activities"));
        let url = endpoint(
            "http://127.0.0.1:9/",
            &["v3", "conversations", "a/b?c", "activities"],
        )
        .unwrap();
        assert_eq!(url.path(), "/v3/conversations/a%2Fb%3Fc/activities");
    }
}
