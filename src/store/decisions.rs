//! The `decisions` table: each owner's approve or deny on a request.

use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteExecutor};

use super::{from_ms, to_ms};
use crate::domain::Verdict;

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `slack:U024BE7LH`: the decider as their platform knows them.
    pub decider_key: String,
    pub verdict: Verdict,
    pub decided_at: DateTime<Utc>,
}

/// Records a decision. False when this owner had already decided on this request.
pub async fn insert(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
    decider_key: &str,
    verdict: Verdict,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO decisions (request_id, decider_key, verdict, decided_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (request_id, decider_key) DO NOTHING",
    )
    .bind(request_id)
    .bind(decider_key)
    .bind(verdict.as_str())
    .bind(to_ms(at))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn of_request(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
) -> sqlx::Result<Vec<Decision>> {
    sqlx::query(
        "SELECT decider_key, verdict, decided_at FROM decisions WHERE request_id = ? ORDER BY decided_at, rowid",
    )
    .bind(request_id)
    .try_map(|row: sqlx::sqlite::SqliteRow| {
        let verdict: String = row.try_get("verdict")?;
        Ok(Decision {
            decider_key: row.try_get("decider_key")?,
            verdict: if verdict == "deny" {
                Verdict::Deny
            } else {
                Verdict::Approve
            },
            decided_at: from_ms(row.try_get("decided_at")?),
        })
    })
    .fetch_all(db)
    .await
}
