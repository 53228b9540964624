//! `apps.connections.open`: asks Slack, with the app-level token, for a WebSocket URL.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::secrets::Secret;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Opened {
    ok: bool,
    url: Option<String>,
    error: Option<String>,
}

/// A fresh, single-use WebSocket URL. It carries a ticket that lets whoever holds it receive
/// jitbot's traffic, so it is never logged.
pub async fn connection_url(api_url: &str, token: &Secret) -> anyhow::Result<String> {
    check_api_url(api_url)?;
    let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?;
    let endpoint = format!("{}/apps.connections.open", api_url.trim_end_matches('/'));
    let opened: Opened = http
        .post(endpoint)
        .bearer_auth(token.expose())
        .send()
        .await
        .context("asking Slack for a Socket Mode connection (apps.connections.open)")?
        .error_for_status()
        .context("apps.connections.open")?
        .json()
        .await
        .context("reading apps.connections.open's answer")?;
    if !opened.ok {
        let error = opened.error.unwrap_or_else(|| "no reason given".into());
        bail!("Slack refused to open a Socket Mode connection: {error} (check SLACK_APP_TOKEN)");
    }
    let url = opened
        .url
        .context("apps.connections.open answered no URL")?;
    check_url(&url, api_url)?;
    Ok(url)
}

/// Whether a URL points at this machine, where tests run their fake Slack.
fn is_loopback(parsed: &url::Url) -> bool {
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        _ => false,
    }
}

/// In Socket Mode the channel to `api_url` is what authenticates every command and click, and it
/// carries the app token: `https://` only, but plain HTTP to this machine.
fn check_api_url(api_url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(api_url).context("slack.api_url is not a URL")?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        other => bail!("Socket Mode needs an https:// slack.api_url, not {other}://"),
    }
}

/// Whether `host` shares `api`'s parent domain (`wss-primary.slack-gov.com` beside
/// `api.slack-gov.com`). A parent of one label (`com`) is no domain of Slack's.
fn is_sibling(host: &str, api: &str) -> bool {
    api.split_once('.')
        .is_some_and(|(_, parent)| parent.contains('.') && host.ends_with(&format!(".{parent}")))
}

/// `wss://` to Slack only (its own hosts, or the host `api_url` names, as for GovSlack), but
/// `ws://` to this machine: whoever answers the WebSocket speaks as Slack, so an answer that
/// points elsewhere is refused.
fn check_url(url: &str, api_url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).context("apps.connections.open answered a malformed URL")?;
    let api_host = url::Url::parse(api_url)
        .ok()
        .and_then(|api| api.host_str().map(str::to_owned));
    let slack_host = parsed.host_str().is_some_and(|host| {
        host == "slack.com"
            || host.ends_with(".slack.com")
            || api_host
                .as_deref()
                .is_some_and(|api| host == api || is_sibling(host, api))
    });
    match parsed.scheme() {
        "wss" if slack_host => Ok(()),
        "wss" => bail!("apps.connections.open answered a host that is not Slack's"),
        "ws" if is_loopback(&parsed) => Ok(()),
        other => bail!("apps.connections.open answered a {other}:// URL; only wss:// is used"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_encrypted_urls_to_slack_are_used_except_on_this_machine() {
        let api = "https://slack.com/api";
        assert!(check_url("wss://wss-primary.slack.com/link/?ticket=x", api).is_ok());
        assert!(check_url("ws://127.0.0.1:4000/link", api).is_ok());
        assert!(check_url("ws://[::1]:4000/link", api).is_ok());
        assert!(check_url("ws://wss-primary.slack.com/link/", api).is_err());
        assert!(check_url("wss://attacker.example/link", api).is_err());
        assert!(check_url("wss://slack.com.attacker.example/link", api).is_err());
        assert!(check_url("wss://attacker.com/link", api).is_err());
        assert!(check_url("https://slack.com/", api).is_err());
        assert!(check_url("not a url", api).is_err());
        // GovSlack: the socket is on the host api_url names, or a sibling of it.
        let gov = "https://slack-gov.com/api";
        assert!(
            check_url(
                "wss://wss-primary.slack-gov.com/link/",
                "https://api.slack-gov.com/api"
            )
            .is_ok()
        );
        assert!(check_url("wss://slack-gov.com/link/", gov).is_ok());
    }

    #[test]
    fn the_app_token_travels_over_https_only_except_on_this_machine() {
        assert!(check_api_url("https://slack.com/api").is_ok());
        assert!(check_api_url("http://127.0.0.1:9000/api").is_ok());
        assert!(check_api_url("http://slack.example/api").is_err());
        assert!(check_api_url("nonsense").is_err());
    }
}
