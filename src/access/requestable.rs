//! Which groups a person may request right now, as far as jitbot knows without asking Slack,
//! Teams or Graph: what the request form offers on every platform.

use chrono::{DateTime, Duration, Utc};

use super::Core;
use crate::domain::{GroupPolicy, Principal};
use crate::store::{self, requests};

/// How long a passed check counts as knowing that someone is eligible for a group.
const ELIGIBLE_KNOWN_FOR: Duration = Duration::days(30);

/// The groups to offer `person`: not those they already have an open request for, not those
/// that could never gather enough approvals, and not those limited to eligible people unless a
/// request of theirs for it passed its check lately. Only the database is asked — the form must
/// open within Slack's 3 seconds — so this is an offer, not a permission: whatever is submitted
/// goes through `submit` and its check, which ask the directory about eligibility again.
pub async fn requestable(
    core: &Core,
    person: &Principal,
    now: DateTime<Utc>,
) -> store::Result<Vec<GroupPolicy>> {
    let db = core.db.read()?;
    let open = requests::open_of(&db, person)?;
    let mut offered = Vec::new();
    for group in &core.policy().groups {
        if open.iter().any(|request| request.group == group.name) {
            continue;
        }
        // Entra owners are only known once Graph is asked: the check judges those.
        if !group.owners.from_entra() && group.check_approvable(person).is_err() {
            continue;
        }
        if !group.eligible.is_empty()
            && !requests::passed_check_since(&db, person, &group.name, now - ELIGIBLE_KNOWN_FOR)?
        {
            continue;
        }
        offered.push(group.clone());
    }
    Ok(offered)
}
