//! The `decisions` table: each owner's approve or deny on a request, with the keys it counts under.

use std::collections::BTreeSet;

use sqlx::{Row, SqliteExecutor};

use super::{from_ms, to_ms};
use crate::domain::{Account, Decision, PersonKey, Verdict};

/// Records a decision. False when this account had already decided on this request.
pub async fn insert(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
    decision: &Decision,
) -> sqlx::Result<bool> {
    let counted_as: Vec<String> = decision
        .counted_as
        .iter()
        .map(PersonKey::to_string)
        .collect();
    let done = sqlx::query(
        "INSERT INTO decisions (request_id, decider_key, verdict, decided_at, counted_as) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (request_id, decider_key) DO NOTHING",
    )
    .bind(request_id)
    .bind(decision.decider.key())
    .bind(decision.verdict.as_str())
    .bind(to_ms(decision.decided_at))
    .bind(serde_json::to_string(&counted_as).expect("strings serialize"))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub const OF_REQUEST: &str = "SELECT decider_key, verdict, decided_at, counted_as FROM decisions WHERE request_id = ? ORDER BY decided_at, rowid";

pub async fn of_request(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
) -> sqlx::Result<Vec<Decision>> {
    sqlx::query(OF_REQUEST)
        .bind(request_id)
        .try_map(|row: sqlx::sqlite::SqliteRow| {
            let decode = |column: &str, message: String| sqlx::Error::ColumnDecode {
                index: column.to_string(),
                source: message.into(),
            };
            let verdict: String = row.try_get("verdict")?;
            let decider: String = row.try_get("decider_key")?;
            let counted_as: String = row.try_get("counted_as")?;
            let counted_as: Vec<String> = serde_json::from_str(&counted_as)
                .map_err(|e| decode("counted_as", e.to_string()))?;
            Ok(Decision {
                decider: decider
                    .parse::<Account>()
                    .map_err(|e| decode("decider_key", e))?,
                verdict: if verdict == "deny" {
                    Verdict::Deny
                } else {
                    Verdict::Approve
                },
                decided_at: from_ms(row.try_get("decided_at")?),
                counted_as: counted_as
                    .iter()
                    .map(|key| key.parse())
                    .collect::<Result<BTreeSet<PersonKey>, _>>()
                    .map_err(|e| decode("counted_as", e))?,
            })
        })
        .fetch_all(db)
        .await
}
