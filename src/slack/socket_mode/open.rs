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
    check_url(&url)?;
    Ok(url)
}

/// `wss://` only, but `ws://` to this machine, where tests run their fake Slack.
fn check_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).context("apps.connections.open answered a malformed URL")?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        _ => false,
    };
    match parsed.scheme() {
        "wss" => Ok(()),
        "ws" if loopback => Ok(()),
        other => bail!("apps.connections.open answered a {other}:// URL; only wss:// is used"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_encrypted_urls_are_used_except_on_this_machine() {
        assert!(check_url("wss://wss-primary.slack.com/link/?ticket=x").is_ok());
        assert!(check_url("ws://127.0.0.1:4000/link").is_ok());
        assert!(check_url("ws://[::1]:4000/link").is_ok());
        assert!(check_url("ws://wss-primary.slack.com/link/").is_err());
        assert!(check_url("https://slack.com/").is_err());
        assert!(check_url("not a url").is_err());
    }
}
