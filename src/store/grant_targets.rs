//! What each request grants (provider and target), fixed on the request when it is made.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteExecutor};

use crate::domain::{GrantTarget, Policy, ProviderKind};

/// The request's snapshot (`AccessRequest::grant_target`) in a row with the columns `provider`, `provider_target`, `webhook_url` and
/// `webhook_secret_env`.
pub(super) fn from_row(row: &SqliteRow) -> sqlx::Result<Option<GrantTarget>> {
    let Some(name) = row.try_get::<Option<String>, _>("provider")? else {
        return Ok(None);
    };
    let provider = ProviderKind::from_parts(
        &name,
        row.try_get("webhook_url")?,
        row.try_get("webhook_secret_env")?,
    );
    Ok(provider.map(|provider| GrantTarget {
        provider,
        target: row.try_get("provider_target").unwrap_or_default(),
    }))
}

/// Requests made before snapshots existed take theirs from the policy at start, once: from
/// then on a reload no longer changes what they grant. Returns how many were filled.
pub async fn fill_missing(
    db: impl SqliteExecutor<'_> + Copy,
    policy: &Policy,
) -> sqlx::Result<u64> {
    let mut filled = 0;
    for group in &policy.groups {
        let snapshot = group.grant_target();
        let (url, secret_env) = webhook_parts(&snapshot.provider);
        filled += sqlx::query(
            "UPDATE requests SET provider = ?, provider_target = ?, webhook_url = ?, \
             webhook_secret_env = ? WHERE group_name = ? AND provider IS NULL",
        )
        .bind(snapshot.provider.name())
        .bind(&snapshot.target)
        .bind(url)
        .bind(secret_env)
        .bind(&group.name)
        .execute(db)
        .await?
        .rows_affected();
    }
    Ok(filled)
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
pub async fn holding_directory_users(
    db: impl SqliteExecutor<'_>,
    snapshot: &GrantTarget,
    groups: &[String],
) -> sqlx::Result<Vec<String>> {
    let groups = serde_json::to_string(groups).expect("names serialize");
    let (url, _) = webhook_parts(&snapshot.provider);
    sqlx::query_scalar(
        "SELECT DISTINCT directory_user_id FROM requests WHERE directory_user_id IS NOT NULL \
         AND status IN ('approved', 'active', 'revoking') \
         AND ((provider = ? AND provider_target = ? AND webhook_url IS ?) \
              OR (provider IS NULL AND group_name IN (SELECT value FROM json_each(?))))",
    )
    .bind(snapshot.provider.name())
    .bind(&snapshot.target)
    .bind(url)
    .bind(groups)
    .fetch_all(db)
    .await
}
