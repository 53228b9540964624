//! What each request grants (provider and target), fixed on the request when it is made.

use super::{Connection, Result};
use crate::domain::{GrantTarget, Policy, ProviderKind};

/// The request's snapshot (`AccessRequest::grant_target`) from its columns `provider`,
/// `provider_target`, `webhook_url` and `webhook_secret_env`.
pub(super) fn from_parts(
    provider: Option<String>,
    target: Option<String>,
    webhook_url: Option<String>,
    webhook_secret_env: Option<String>,
) -> Option<GrantTarget> {
    let provider = ProviderKind::from_parts(&provider?, webhook_url, webhook_secret_env)?;
    Some(GrantTarget {
        provider,
        target: target.unwrap_or_default(),
    })
}

/// Requests made before snapshots existed take theirs from the policy at start, once: from
/// then on a reload no longer changes what they grant. Fills those with ids in `ids`, so that
/// the caller can go through a large table in transactions of bounded size (a transaction keeps
/// a copy of every page it changes until it ends). Returns how many were filled.
pub fn fill_missing(
    db: &Connection,
    policy: &Policy,
    ids: std::ops::RangeInclusive<i64>,
) -> Result<u64> {
    let mut filled = 0;
    let mut statement = db.prepare_cached(
        "UPDATE requests SET provider = ?, provider_target = ?, webhook_url = ?, \
         webhook_secret_env = ? WHERE id BETWEEN ? AND ? AND group_name = ? AND provider IS NULL",
    )?;
    for group in &policy.groups {
        let snapshot = group.grant_target();
        let (url, secret_env) = webhook_parts(&snapshot.provider);
        filled += statement.execute((
            snapshot.provider.name(),
            &snapshot.target,
            url,
            secret_env,
            ids.start(),
            ids.end(),
            &group.name,
        ))? as u64;
    }
    Ok(filled)
}

/// The highest request id (0 when there are none): how far `fill_missing` has to go.
pub fn last_request_id(db: &Connection) -> Result<i64> {
    Ok(db
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM requests")?
        .query_row([], |row| row.get(0))?)
}

pub(super) fn webhook_parts(provider: &ProviderKind) -> (Option<&str>, Option<&str>) {
    match provider {
        ProviderKind::Webhook { url, secret_env } => (Some(url.as_str()), secret_env.as_deref()),
        _ => (None, None),
    }
}

/// The Entra users whose requests hold this target now (approved, active or revoking): by what
/// each request recorded, so that a group a reload removed or retargeted counts where it granted;
/// requests that recorded nothing count by their group's name (`groups`).
pub fn holding_directory_users(
    db: &Connection,
    snapshot: &GrantTarget,
    groups: &[String],
) -> Result<Vec<String>> {
    let groups = serde_json::to_string(groups).expect("names serialize");
    let (url, _) = webhook_parts(&snapshot.provider);
    let mut statement = db.prepare_cached(&holders_sql())?;
    let users = statement.query_map(
        (snapshot.provider.name(), &snapshot.target, url, groups),
        |row| row.get(0),
    )?;
    Ok(users.collect::<rusqlite::Result<_>>()?)
}

/// `holding_directory_users`' query: through index `requests_live`, whatever the history.
pub fn holders_sql() -> String {
    let holding = super::requests::HOLDING;
    format!(
        "SELECT DISTINCT directory_user_id FROM requests WHERE directory_user_id IS NOT NULL \
         AND {holding} \
         AND ((provider = ? AND provider_target = ? AND webhook_url IS ?) \
              OR (provider IS NULL AND group_name IN (SELECT value FROM json_each(?))))"
    )
}
