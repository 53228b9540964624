//! The `requests` table.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteExecutor};

use super::{from_ms, to_ms};
use crate::domain::{
    AccessDuration, AccessRequest, Account, EarlyEnd, GrantTarget, Principal, RequestKind,
    RequestStatus,
};

pub struct NewRequest<'a> {
    pub group: &'a str,
    pub requester: &'a Principal,
    pub justification: &'a str,
    pub duration: AccessDuration,
    pub origin_channel: &'a str,
    pub requested_at: DateTime<Utc>,
    pub kind: RequestKind,
    /// A scheduled start as typed, read in the requester's time zone by the check.
    pub start_spec: Option<&'a str>,
    /// Who asked on the requester's behalf, with the facts known when they asked.
    pub submitted_by: Option<&'a Principal>,
    /// What it grants (`grant_targets`), fixed now so that a reload later changes neither what
    /// it gets nor what is removed; an extension grants what the request it extends does.
    pub grant_target: Option<&'a GrantTarget>,
}

const COLUMNS: &str = "id, group_name, requester_platform, requester_id, requester_email, \
     requester_addresses, justification, duration_minutes, status, origin_channel, requested_at, \
     decided_at, granted_at, expires_at, ended_at, already_member, failure, directory_user_id, \
     owner_snapshot, confirmed_at, kind, extends_id, start_spec, starts_at, submitted_by, \
     submitter_addresses, submitter_entra_id, end_reason, ended_by, end_note, acknowledged_by, acknowledged_at, \
     provider, provider_target, webhook_url, webhook_secret_env";

pub async fn insert(db: impl SqliteExecutor<'_>, new: NewRequest<'_>) -> sqlx::Result<i64> {
    let target = new.grant_target;
    let (url, secret_env) = target.map_or((None, None), |t| {
        super::grant_targets::webhook_parts(&t.provider)
    });
    let row = sqlx::query(
        "INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
         requester_addresses, directory_user_id, justification, duration_minutes, status, \
         origin_channel, requested_at, kind, extends_id, start_spec, submitted_by, \
         submitter_addresses, submitter_entra_id, provider, provider_target, webhook_url, \
         webhook_secret_env) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(new.group)
    .bind(new.requester.account.platform.as_str())
    .bind(&new.requester.account.id)
    .bind(new.requester.email())
    .bind(addresses(new.requester))
    .bind(&new.requester.entra_id)
    .bind(new.justification)
    .bind(new.duration.minutes())
    .bind(new.origin_channel)
    .bind(to_ms(new.requested_at))
    .bind(new.kind.as_str())
    .bind(match new.kind {
        RequestKind::Extension { of } => Some(of),
        _ => None,
    })
    .bind(new.start_spec)
    .bind(new.submitted_by.map(|s| s.account.key()))
    .bind(new.submitted_by.map(addresses))
    .bind(new.submitted_by.and_then(|s| s.entra_id.as_deref()))
    .bind(target.map(|target| target.provider.name()))
    .bind(target.map(|target| target.target.as_str()))
    .bind(url)
    .bind(secret_env)
    .fetch_one(db)
    .await?;
    row.try_get(0)
}

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<AccessRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM requests WHERE id = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .try_map(|row: SqliteRow| from_row(&row))
        .fetch_optional(db)
        .await
}

/// The statuses of an open request, written exactly as the partial indexes of migration 0011 are.
const OPEN: &str = "status IN ('pending', 'approved', 'active', 'revoking')";

/// The ids of this person's requests that match `filter`, looked up by account (`?1`, `?2`) in
/// index `{by}_account` and by verified email (`?3`) in index `{by}_email`: an `OR` of the two
/// would defeat both indexes. `INDEXED BY` makes a lost index an error rather than a slow scan.
fn ids_of_person(by: &str, filter: &str) -> String {
    format!(
        "SELECT id FROM requests INDEXED BY {by}_account \
         WHERE requester_platform = ?1 AND requester_id = ?2 AND {filter} \
         UNION SELECT id FROM requests INDEXED BY {by}_email \
         WHERE requester_email = ?3 AND {filter}"
    )
}

/// The open request (pending, approved, active or revoking) of this person for this group, if any.
pub async fn open_for(
    db: impl SqliteExecutor<'_>,
    person: &Principal,
    group: &str,
) -> sqlx::Result<Option<AccessRequest>> {
    let sql = open_for_sql();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(person.account.platform.as_str())
        .bind(&person.account.id)
        .bind(person.email())
        .bind(group)
        .try_map(|row: SqliteRow| from_row(&row))
        .fetch_optional(db)
        .await
}

/// A break-glass use of this person's for `group` that no owner has reviewed yet.
pub async fn unreviewed_break_glass(
    db: impl SqliteExecutor<'_>,
    person: &Principal,
    group: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(UNREVIEWED_BREAK_GLASS)
        .bind(group)
        .bind(person.account.platform.as_str())
        .bind(&person.account.id)
        .bind(person.email())
        .fetch_optional(db)
        .await
}

/// Whether a failed grant of this person's for any of `groups` still waits to be undone: any
/// membership it left is jitbot's, not access the person had before.
pub async fn failed_awaiting_undo(
    db: impl SqliteExecutor<'_>,
    person: &Principal,
    groups: &[String],
) -> sqlx::Result<bool> {
    let groups = serde_json::to_string(groups).expect("names serialize");
    let sql = failed_awaiting_undo_sql();
    let found: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(person.account.platform.as_str())
        .bind(&person.account.id)
        .bind(person.email())
        .bind(groups)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// The Entra object ids that requests for any of `groups` hold or are about to: approved,
/// active or being revoked.
pub async fn holding_directory_users(
    db: impl SqliteExecutor<'_>,
    groups: &[String],
) -> sqlx::Result<Vec<String>> {
    let groups = serde_json::to_string(groups).expect("names serialize");
    sqlx::query_scalar(
        "SELECT DISTINCT directory_user_id FROM requests WHERE directory_user_id IS NOT NULL \
         AND status IN ('approved', 'active', 'revoking') AND group_name IN (SELECT value FROM json_each(?))",
    )
    .bind(groups)
    .fetch_all(db)
    .await
}

/// Every open request of this person, oldest first.
pub async fn open_of(
    db: impl SqliteExecutor<'_>,
    person: &Principal,
) -> sqlx::Result<Vec<AccessRequest>> {
    let sql = open_of_sql();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(person.account.platform.as_str())
        .bind(&person.account.id)
        .bind(person.email())
        .try_map(|row: SqliteRow| from_row(&row))
        .fetch_all(db)
        .await
}

/// Requests for any of `groups` in `status`, oldest first, at most `limit`: what owners are
/// shown (index `requests_by_group_status`).
pub async fn in_groups(
    db: impl SqliteExecutor<'_>,
    groups: &[String],
    status: RequestStatus,
    limit: i64,
) -> sqlx::Result<Vec<AccessRequest>> {
    let groups = serde_json::to_string(groups).expect("names serialize");
    let sql = format!(
        "SELECT {COLUMNS} FROM requests WHERE status = ? \
         AND group_name IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(groups)
        .bind(limit)
        .try_map(|row: SqliteRow| from_row(&row))
        .fetch_all(db)
        .await
}

/// Whether a request of this person's for `group` passed its check (which asks the directory
/// about eligibility) since `since`.
pub async fn passed_check_since(
    db: impl SqliteExecutor<'_>,
    person: &Principal,
    group: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let sql = passed_check_since_sql();
    let found: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(person.account.platform.as_str())
        .bind(&person.account.id)
        .bind(person.email())
        .bind(group)
        .bind(to_ms(since))
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// How many requests are in `status` now (index `requests_by_status`).
pub async fn count_in(db: impl SqliteExecutor<'_>, status: RequestStatus) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM requests WHERE status = ?")
        .bind(status.as_str())
        .fetch_one(db)
        .await
}

/// The newest requests, optionally only those in one status.
pub async fn list(
    db: impl SqliteExecutor<'_>,
    status: Option<RequestStatus>,
    limit: i64,
) -> sqlx::Result<Vec<AccessRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM requests WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.map(RequestStatus::as_str))
        .bind(limit)
        .try_map(|row: SqliteRow| from_row(&row))
        .fetch_all(db)
        .await
}

/// Records the requester's verified facts and that the request passed its checks — once, and
/// only while it is still pending. False when it had moved on (or was confirmed already).
pub async fn confirm(
    db: impl SqliteExecutor<'_>,
    id: i64,
    requester: &Principal,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET requester_email = ?, requester_addresses = ?, directory_user_id = ?, \
         confirmed_at = ? WHERE id = ? AND status = 'pending' AND confirmed_at IS NULL",
    )
    .bind(requester.email())
    .bind(addresses(requester))
    .bind(&requester.entra_id)
    .bind(to_ms(at))
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the submitter's facts as the check verified them, before it confirms the request.
pub async fn set_submitter(
    db: impl SqliteExecutor<'_>,
    id: i64,
    submitter: &Principal,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE requests SET submitter_addresses = ?, submitter_entra_id = ? \
         WHERE id = ? AND submitted_by = ?",
    )
    .bind(addresses(submitter))
    .bind(&submitter.entra_id)
    .bind(id)
    .bind(submitter.account.key())
    .execute(db)
    .await?;
    Ok(())
}

fn addresses(person: &Principal) -> String {
    serde_json::to_string(&person.emails).expect("strings serialize")
}

pub async fn set_owner_snapshot(
    db: impl SqliteExecutor<'_>,
    id: i64,
    owners: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE requests SET owner_snapshot = ? WHERE id = ?")
        .bind(owners)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Compare-and-swap `pending → approved | denied`. False when someone else moved it first.
pub async fn mark_decided(
    db: impl SqliteExecutor<'_>,
    id: i64,
    to: RequestStatus,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    debug_assert!(RequestStatus::Pending.can_become(to));
    let done = sqlx::query(
        "UPDATE requests SET status = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
    )
    .bind(to.as_str())
    .bind(to_ms(at))
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Compare-and-swap `approved → active`, starting the clock at the grant.
pub async fn mark_active(
    db: impl SqliteExecutor<'_>,
    id: i64,
    granted_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET status = 'active', granted_at = ?, expires_at = ? \
         WHERE id = ? AND status = 'approved'",
    )
    .bind(to_ms(granted_at))
    .bind(to_ms(expires_at))
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records, once, whether the person was a member before the grant. Later calls keep the first
/// answer, so a grant retried after a crash does not see its own membership as prior access.
pub async fn record_prior_membership(
    db: impl SqliteExecutor<'_>,
    id: i64,
    already_member: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE requests SET already_member = ? WHERE id = ? AND already_member IS NULL")
        .bind(already_member)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub fn mark_revoking_sql() -> String {
    format!(
        "UPDATE requests SET status = 'revoking' \
         WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'active' AND expires_at <= ?2 \
         RETURNING {COLUMNS}"
    )
}

/// Compare-and-swap `active → revoking` of each of `ids` whose time is up, in one statement (the
/// scheduler starts every revocation due in a pass at once): an extension applied meanwhile (a
/// later `expires_at`) keeps the access. Returns the requests moved, as they are now.
pub async fn mark_revoking(
    db: impl SqliteExecutor<'_>,
    ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<AccessRequest>> {
    let ids = serde_json::to_string(ids).expect("ids serialize");
    sqlx::query(sqlx::AssertSqlSafe(mark_revoking_sql()))
        .bind(ids)
        .bind(to_ms(now))
        .try_map(|row: SqliteRow| from_row(&row))
        .fetch_all(db)
        .await
}

/// Each end is joined to its request by id, so the statement costs one lookup per end. (Picking
/// each end's time out of the list in a subquery cost a pass over the list per request: a batch
/// of 200 ends took 17 ms instead of 7.) The `+` keeps SQLite from starting at the index of
/// revoking requests, which leads back to a pass over the list per request.
pub const MARK_ENDED: &str = "UPDATE requests SET status = 'ended', ended_at = ends.at \
     FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(?1)) AS ends \
     WHERE requests.id = ends.id AND +requests.status = 'revoking' \
     RETURNING requests.id";

/// Compare-and-swap `revoking → ended` of each request of `ends` (its id, and when it ended),
/// in one statement; a request given twice ends at its first time. Returns the ids moved.
pub async fn mark_ended(
    db: impl SqliteExecutor<'_>,
    ends: &[(i64, DateTime<Utc>)],
) -> sqlx::Result<Vec<i64>> {
    let mut seen = HashSet::new();
    let ends: Vec<(i64, i64)> = ends
        .iter()
        .filter(|(id, _)| seen.insert(*id))
        .map(|(id, at)| (*id, to_ms(*at)))
        .collect();
    let ends = serde_json::to_string(&ends).expect("pairs serialize");
    sqlx::query_scalar(MARK_ENDED)
        .bind(ends)
        .fetch_all(db)
        .await
}

/// Compare-and-swap `pending → cancelled`, or `approved → cancelled` while a scheduled start
/// is still ahead, keeping the reason.
pub async fn mark_cancelled(
    db: impl SqliteExecutor<'_>,
    id: i64,
    at: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET status = 'cancelled', ended_at = ?1, failure = ?2 WHERE id = ?3 \
         AND (status = 'pending' OR (status = 'approved' AND starts_at > ?4))",
    )
    .bind(to_ms(at))
    .bind(reason)
    .bind(id)
    .bind(to_ms(at + crate::domain::request::CANCEL_BEFORE_START))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Compare-and-swap `pending → expired`: nobody decided in time.
pub async fn mark_expired(
    db: impl SqliteExecutor<'_>,
    id: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET status = 'expired', ended_at = ? WHERE id = ? AND status = 'pending'",
    )
    .bind(to_ms(at))
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Compare-and-swap `active → revoking` before the time is up, saying why.
pub async fn mark_ending_early(
    db: impl SqliteExecutor<'_>,
    id: i64,
    early: &EarlyEnd,
) -> sqlx::Result<bool> {
    let (reason, by, note) = match early {
        EarlyEnd::Released => ("released", None, None),
        EarlyEnd::Revoked { by, reason } => ("revoked", Some(by.key()), Some(reason.as_str())),
    };
    let done = sqlx::query(
        "UPDATE requests SET status = 'revoking', end_reason = ?, ended_by = ?, end_note = ? \
         WHERE id = ? AND status = 'active'",
    )
    .bind(reason)
    .bind(by)
    .bind(note)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The scheduled start, once read in the requester's time zone.
pub async fn set_starts_at(
    db: impl SqliteExecutor<'_>,
    id: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE requests SET starts_at = ? WHERE id = ?")
        .bind(to_ms(at))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Moves the end of an active grant (an extension applied). False when it is no longer active.
pub async fn extend_until(
    db: impl SqliteExecutor<'_>,
    id: i64,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE requests SET expires_at = ? WHERE id = ? AND status = 'active'")
        .bind(to_ms(expires_at))
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub fn waiting_extensions_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM requests WHERE extends_id IN (SELECT value FROM json_each(?)) \
         AND status IN ('pending', 'approved') ORDER BY id"
    )
}

/// The extensions of the requests `of` still waiting: pending, or approved and not applied yet.
pub async fn waiting_extensions(
    db: impl SqliteExecutor<'_>,
    of: &[i64],
) -> sqlx::Result<Vec<AccessRequest>> {
    let of = serde_json::to_string(of).expect("ids serialize");
    sqlx::query(sqlx::AssertSqlSafe(waiting_extensions_sql()))
        .bind(of)
        .try_map(|row: SqliteRow| from_row(&row))
        .fetch_all(db)
        .await
}

/// Compare-and-swap `approved → ended` for an extension: its time was added to the request it
/// extends.
pub async fn mark_applied(
    db: impl SqliteExecutor<'_>,
    id: i64,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET status = 'ended', granted_at = ?1, ended_at = ?1, expires_at = ?2 \
         WHERE id = ?3 AND status = 'approved' AND kind = 'extension'",
    )
    .bind(to_ms(at))
    .bind(to_ms(until))
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records, once, that an owner reviewed a break-glass use.
pub async fn acknowledge(
    db: impl SqliteExecutor<'_>,
    id: i64,
    by: &Account,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET acknowledged_by = ?, acknowledged_at = ? \
         WHERE id = ? AND kind = 'break_glass' AND acknowledged_at IS NULL",
    )
    .bind(by.key())
    .bind(to_ms(at))
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Compare-and-swap `approved → failed`, keeping the last error.
pub async fn mark_failed(db: impl SqliteExecutor<'_>, id: i64, error: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET status = 'failed', failure = ? WHERE id = ? AND status = 'approved'",
    )
    .bind(error)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub const UNREVIEWED_BREAK_GLASS: &str = "SELECT id FROM requests INDEXED BY requests_unreviewed_break_glass \
         WHERE group_name = ? AND kind = 'break_glass' \
         AND acknowledged_at IS NULL AND status IN ('approved', 'active', 'revoking', 'ended') \
         AND ((requester_platform = ? AND requester_id = ?) OR (requester_email IS NOT NULL AND requester_email = ?)) \
         ORDER BY id LIMIT 1";

// The SQL of the person look-ups, for the queries above and for the query-plan test.

pub fn open_for_sql() -> String {
    let ids = ids_of_person("requests_open_by", &format!("group_name = ?4 AND {OPEN}"));
    format!("SELECT {COLUMNS} FROM requests WHERE id IN ({ids}) ORDER BY id LIMIT 1")
}

/// Another request of the same person holding the same membership (see [`Holding`]): while
/// active, it keeps the membership when a request of theirs ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub id: i64,
    /// Whether the person was a member before that request's grant.
    pub already_member: Option<bool>,
}

/// Which of a person's requests count as holding a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// Active ones: what keeps a membership when another request of theirs ends.
    Active,
    /// Active ones and those being revoked: where a membership there now came from. (A
    /// revocation in progress has not removed its membership yet.)
    ActiveOrRevoking,
}

/// One request asked about in [`first_holders`]: its person, and the groups that share its
/// membership.
pub struct HoldersOf<'a> {
    pub request_id: i64,
    pub person: &'a Principal,
    pub groups: &'a [String],
}

/// Every holder of each asked request, in one statement: looked up by account and by verified
/// email in the partial indexes of open requests (`OPEN` as well, so that they apply; its
/// `status` can only be the request's, `json_each` has no column of that name).
pub fn first_holders_sql() -> String {
    let holders = |by: &str, person: &str| {
        format!(
            "SELECT asked.value ->> 0, r.id, r.already_member FROM json_each(?1) AS asked \
             JOIN requests r INDEXED BY requests_open_by_{by} ON {person} \
             AND r.group_name IN (SELECT value FROM json_each(asked.value -> 4)) \
             WHERE {OPEN} AND (r.status = 'active' OR (?2 AND r.status = 'revoking')) \
             AND r.id != asked.value ->> 0"
        )
    };
    let by_account = holders(
        "account",
        "r.requester_platform = asked.value ->> 1 AND r.requester_id = asked.value ->> 2",
    );
    let by_email = holders("email", "r.requester_email = asked.value ->> 3");
    format!("{by_account} UNION ALL {by_email}")
}

static FIRST_HOLDERS: LazyLock<String> = LazyLock::new(first_holders_sql);

/// For each asked request that another request of its person's holds the same membership for
/// (as `holding` counts them), the first of those (the lowest id). Many revocations starting
/// together ask once.
pub async fn first_holders(
    db: impl SqliteExecutor<'_>,
    asked: &[HoldersOf<'_>],
    holding: Holding,
) -> sqlx::Result<HashMap<i64, Holder>> {
    if asked.is_empty() {
        return Ok(HashMap::new());
    }
    let asked: Vec<serde_json::Value> = asked
        .iter()
        .map(|asked| {
            let account = &asked.person.account;
            serde_json::json!([
                asked.request_id,
                account.platform.as_str(),
                account.id,
                asked.person.email(),
                asked.groups
            ])
        })
        .collect();
    let asked = serde_json::to_string(&asked).expect("questions serialize");
    let rows: Vec<(i64, i64, Option<bool>)> = sqlx::query_as(FIRST_HOLDERS.as_str())
        .bind(asked)
        .bind(holding == Holding::ActiveOrRevoking)
        .fetch_all(db)
        .await?;
    let mut first: HashMap<i64, Holder> = HashMap::new();
    for (asked, id, already_member) in rows {
        let holder = Holder { id, already_member };
        first
            .entry(asked)
            .and_modify(|known| {
                if holder.id < known.id {
                    *known = holder;
                }
            })
            .or_insert(holder);
    }
    Ok(first)
}

/// The first holder of `request_id`'s membership ([`first_holders`] for one request).
pub async fn first_holder(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
    person: &Principal,
    groups: &[String],
    holding: Holding,
) -> sqlx::Result<Option<Holder>> {
    let asked = HoldersOf {
        request_id,
        person,
        groups,
    };
    Ok(first_holders(db, &[asked], holding)
        .await?
        .remove(&request_id))
}

pub fn failed_awaiting_undo_sql() -> String {
    let ids = ids_of_person(
        "requests_by",
        "group_name IN (SELECT value FROM json_each(?4)) AND status = 'failed' AND already_member = 0",
    );
    format!(
        "SELECT r.id FROM requests r WHERE r.id IN ({ids}) \
         AND EXISTS (SELECT 1 FROM jobs j WHERE j.request_id = r.id AND json_extract(j.payload, '$.job') = 'revoke') \
         LIMIT 1"
    )
}

pub fn open_of_sql() -> String {
    let ids = ids_of_person("requests_open_by", OPEN);
    format!("SELECT {COLUMNS} FROM requests WHERE id IN ({ids}) ORDER BY id")
}

pub fn passed_check_since_sql() -> String {
    let ids = ids_of_person(
        "requests_by",
        "group_name = ?4 AND confirmed_at IS NOT NULL AND confirmed_at >= ?5",
    );
    format!("{ids} LIMIT 1")
}

fn from_row(row: &SqliteRow) -> sqlx::Result<AccessRequest> {
    let decode = |column: &str, message: String| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: message.into(),
    };
    let status: String = row.try_get("status")?;
    let minutes: u32 = row.try_get("duration_minutes")?;
    let time = |column: &str| -> sqlx::Result<Option<DateTime<Utc>>> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_ms))
    };
    Ok(AccessRequest {
        id: row.try_get("id")?,
        group: row.try_get("group_name")?,
        requester: requester(row).map_err(|e| decode("requester", e))?,
        justification: row.try_get("justification")?,
        duration: AccessDuration::from_minutes(minutes)
            .ok_or_else(|| decode("duration_minutes", format!("{minutes} minutes")))?,
        status: status.parse().map_err(|e| decode("status", e))?,
        origin_channel: row.try_get("origin_channel")?,
        requested_at: from_ms(row.try_get("requested_at")?),
        decided_at: time("decided_at")?,
        granted_at: time("granted_at")?,
        expires_at: time("expires_at")?,
        ended_at: time("ended_at")?,
        already_member: row.try_get("already_member")?,
        failure: row.try_get("failure")?,
        owner_snapshot: row.try_get("owner_snapshot")?,
        confirmed_at: time("confirmed_at")?,
        kind: kind(row)?,
        start_spec: row.try_get("start_spec")?,
        starts_at: time("starts_at")?,
        submitted_by: submitter(row)?,
        ended_early: ended_early(row)?,
        acknowledged: match (account(row, "acknowledged_by")?, time("acknowledged_at")?) {
            (Some(by), Some(at)) => Some((by, at)),
            _ => None,
        },
        grant_target: super::grant_targets::from_row(row)?,
    })
}

fn decode_error(column: &str, message: impl Into<String>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: message.into().into(),
    }
}

fn kind(row: &SqliteRow) -> sqlx::Result<RequestKind> {
    let kind: String = row.try_get("kind")?;
    match (kind.as_str(), row.try_get::<Option<i64>, _>("extends_id")?) {
        ("access", _) => Ok(RequestKind::Access),
        ("break_glass", _) => Ok(RequestKind::BreakGlass),
        ("extension", Some(of)) => Ok(RequestKind::Extension { of }),
        (other, _) => Err(decode_error(
            "kind",
            format!("unknown request kind `{other}`"),
        )),
    }
}

/// An account stored as its key (`slack:U…`).
fn account(row: &SqliteRow, column: &str) -> sqlx::Result<Option<Account>> {
    let Some(key) = row.try_get::<Option<String>, _>(column)? else {
        return Ok(None);
    };
    key.parse::<Account>()
        .map(Some)
        .map_err(|e| decode_error(column, e))
}

/// Who asked on the requester's behalf, with their verified facts as stored.
fn submitter(row: &SqliteRow) -> sqlx::Result<Option<Principal>> {
    let Some(account) = account(row, "submitted_by")? else {
        return Ok(None);
    };
    let addresses: Option<String> = row.try_get("submitter_addresses")?;
    let addresses: Vec<String> = serde_json::from_str(addresses.as_deref().unwrap_or("[]"))
        .map_err(|e| decode_error("submitter_addresses", e.to_string()))?;
    Ok(Some(
        Principal::new(account)
            .with_emails(addresses)
            .with_entra_id(row.try_get("submitter_entra_id")?),
    ))
}

fn ended_early(row: &SqliteRow) -> sqlx::Result<Option<EarlyEnd>> {
    let reason: Option<String> = row.try_get("end_reason")?;
    match reason.as_deref() {
        None => Ok(None),
        Some("released") => Ok(Some(EarlyEnd::Released)),
        Some("revoked") => Ok(Some(EarlyEnd::Revoked {
            by: account(row, "ended_by")?
                .ok_or_else(|| decode_error("ended_by", "a revocation names who revoked"))?,
            reason: row
                .try_get::<Option<String>, _>("end_note")?
                .unwrap_or_default(),
        })),
        Some(other) => Err(decode_error("end_reason", format!("unknown end `{other}`"))),
    }
}

/// The requester as stored: account, verified addresses (the preferred first) and Entra id.
fn requester(row: &SqliteRow) -> Result<Principal, String> {
    let column = |name: &str| -> Result<Option<String>, String> {
        row.try_get(name).map_err(|e| e.to_string())
    };
    let platform = column("requester_platform")?.unwrap_or_default();
    let account = Account::new(
        platform.parse()?,
        column("requester_id")?.unwrap_or_default(),
    );
    let addresses: Vec<String> =
        serde_json::from_str(&column("requester_addresses")?.unwrap_or_else(|| "[]".into()))
            .map_err(|e| e.to_string())?;
    let preferred = column("requester_email")?;
    Ok(Principal::new(account)
        .with_emails(preferred.into_iter().chain(addresses))
        .with_entra_id(column("directory_user_id")?))
}
