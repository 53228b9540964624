//! The `decisions` table: each owner's approve or deny on a request, with the keys it counts under.

use std::collections::BTreeSet;

use super::{Connection, Result, decode_error, from_ms, to_ms};
use crate::domain::{Account, Decision, PersonKey, Verdict};

/// Records a decision. False when this account had already decided on this request.
pub fn insert(db: &Connection, request_id: i64, decision: &Decision) -> Result<bool> {
    let counted_as: Vec<String> = decision
        .counted_as
        .iter()
        .map(PersonKey::to_string)
        .collect();
    let inserted = db
        .prepare_cached(
            "INSERT INTO decisions (request_id, decider_key, verdict, decided_at, counted_as) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id, decider_key) DO NOTHING",
        )?
        .execute((
            request_id,
            decision.decider.key(),
            decision.verdict.as_str(),
            to_ms(decision.decided_at),
            serde_json::to_string(&counted_as).expect("strings serialize"),
        ))?;
    Ok(inserted == 1)
}

pub const OF_REQUEST: &str = "SELECT decider_key, verdict, decided_at, counted_as FROM decisions WHERE request_id = ? ORDER BY decided_at, rowid";

pub fn of_request(db: &Connection, request_id: i64) -> Result<Vec<Decision>> {
    let mut statement = db.prepare_cached(OF_REQUEST)?;
    let rows = statement.query_map([request_id], |row| {
        let verdict: String = row.get("verdict")?;
        let decider: String = row.get("decider_key")?;
        let counted_as: String = row.get("counted_as")?;
        let counted_as: Vec<String> =
            serde_json::from_str(&counted_as).map_err(|e| decode_error("counted_as", e))?;
        Ok(Decision {
            decider: decider
                .parse::<Account>()
                .map_err(|e| decode_error("decider_key", e))?,
            verdict: if verdict == "deny" {
                Verdict::Deny
            } else {
                Verdict::Approve
            },
            decided_at: from_ms(row.get("decided_at")?),
            counted_as: counted_as
                .iter()
                .map(|key| key.parse())
                .collect::<std::result::Result<BTreeSet<PersonKey>, _>>()
                .map_err(|e| decode_error("counted_as", e))?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
