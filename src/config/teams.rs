//! The `[teams]` section: where the Bot Framework is, local trial mode, the tenants and the
//! Bot Connector hosts jitbot trusts.

use std::net::SocketAddr;

use serde::Deserialize;

use super::place::{Mistake, at};
use super::urls::base_url;
use super::{DEFAULT_OPENID_METADATA_URL, DEFAULT_TEAMS_SERVICE_URL, TeamsConfig};
use crate::domain::identity::{Guid, is_guid};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeams {
    openid_metadata_url: Option<String>,
    token_url: Option<String>,
    service_url: Option<String>,
    #[serde(default)]
    trial_mode: bool,
    #[serde(default)]
    allowed_tenants: Vec<String>,
    service_hosts: Option<Vec<String>>,
}

pub(super) fn teams_config(
    raw: RawTeams,
    listen: SocketAddr,
    problems: &mut Vec<Mistake>,
) -> TeamsConfig {
    let metadata = raw
        .openid_metadata_url
        .as_deref()
        .unwrap_or(DEFAULT_OPENID_METADATA_URL);
    let service_url = base_url(
        "teams.service_url",
        raw.service_url
            .as_deref()
            .unwrap_or(DEFAULT_TEAMS_SERVICE_URL),
        problems,
    );
    let service_hosts = raw.service_hosts.unwrap_or_else(|| {
        crate::teams::service_hosts::DEFAULT
            .iter()
            .map(|h| h.to_string())
            .collect()
    });
    if !crate::teams::service_hosts::ServiceHosts::new(service_hosts.clone()).permits(&service_url)
    {
        problems.push(at(
            "teams.service_url",
            format!("`{service_url}` is not on teams.service_hosts, so jitbot would never call it"),
        ));
    }
    if raw.trial_mode && !listen.ip().is_loopback() {
        problems.push(at(
            "teams.trial_mode",
            format!("local trial mode accepts activities without a token, so it needs `listen` on a loopback address such as 127.0.0.1:3978, not {listen}"),
        ));
    }
    for tenant in &raw.allowed_tenants {
        if !is_guid(tenant) {
            problems.push(at(
                "teams.allowed_tenants",
                format!("`{tenant}` is not a tenant id (a GUID)"),
            ));
        }
    }
    TeamsConfig {
        openid_metadata_url: base_url("teams.openid_metadata_url", metadata, problems)
            .trim_end_matches('/')
            .to_string(),
        token_url: raw.token_url.map(|url| {
            base_url("teams.token_url", &url, problems)
                .trim_end_matches('/')
                .to_string()
        }),
        service_url,
        trial_mode: raw.trial_mode,
        allowed_tenants: raw
            .allowed_tenants
            .iter()
            .filter_map(|t| Guid::parse(t))
            .collect(),
        service_hosts,
    }
}
