//! The `requests` table.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rusqlite::Row;

use super::{Connection, OptionalExtension, Result, decode_error, from_ms, to_ms};
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

pub fn insert(db: &Connection, new: NewRequest<'_>) -> Result<i64> {
    let target = new.grant_target;
    let (url, secret_env) = target.map_or((None, None), |t| {
        super::grant_targets::webhook_parts(&t.provider)
    });
    let id = db.prepare_cached(
        "INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
         requester_addresses, directory_user_id, justification, duration_minutes, status, \
         origin_channel, requested_at, kind, extends_id, start_spec, submitted_by, \
         submitter_addresses, submitter_entra_id, provider, provider_target, webhook_url, \
         webhook_secret_env) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )?
    .query_row(
        rusqlite::params![
            new.group,
            new.requester.account.platform.as_str(),
            new.requester.account.id,
            new.requester.email(),
            addresses(new.requester),
            new.requester.entra_id,
            new.justification,
            new.duration.minutes(),
            new.origin_channel,
            to_ms(new.requested_at),
            new.kind.as_str(),
            match new.kind {
                RequestKind::Extension { of } => Some(of),
                _ => None,
            },
            new.start_spec,
            new.submitted_by.map(|s| s.account.key()),
            new.submitted_by.map(addresses),
            new.submitted_by.and_then(|s| s.entra_id.as_deref()),
            target.map(|target| target.provider.name()),
            target.map(|target| target.target.as_str()),
            url,
            secret_env,
        ],
        |row| row.get(0),
    )?;
    Ok(id)
}

pub fn get(db: &Connection, id: i64) -> Result<Option<AccessRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM requests WHERE id = ?");
    Ok(db
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// An open request (pending, approved, active or revoking), written exactly as the condition of
/// the partial indexes of open requests (migration 0014: a trigger keeps `closed` in step with
/// `status`).
const OPEN: &str = "closed = 0";

/// A request holding access, or about to (approved, active or revoking). It names `closed = 0`
/// too, the condition of index `requests_live` (migration 0016): SQLite uses a partial index
/// only for a query whose condition names the index's own.
pub const HOLDING: &str = "closed = 0 AND status IN ('approved', 'active', 'revoking')";

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
pub fn open_for(db: &Connection, person: &Principal, group: &str) -> Result<Option<AccessRequest>> {
    let sql = open_for_sql();
    Ok(db
        .prepare_cached(&sql)?
        .query_row(
            (
                person.account.platform.as_str(),
                &person.account.id,
                person.email(),
                group,
            ),
            from_row,
        )
        .optional()?)
}

/// A break-glass use of this person's for `group` that no owner has reviewed yet.
pub fn unreviewed_break_glass(
    db: &Connection,
    person: &Principal,
    group: &str,
) -> Result<Option<i64>> {
    Ok(db
        .prepare_cached(UNREVIEWED_BREAK_GLASS)?
        .query_row(
            (
                group,
                person.account.platform.as_str(),
                &person.account.id,
                person.email(),
            ),
            |row| row.get(0),
        )
        .optional()?)
}

/// Whether a failed grant of this person's for any of `groups` still waits to be undone: any
/// membership it left is jitbot's, not access the person had before.
pub fn failed_awaiting_undo(
    db: &Connection,
    person: &Principal,
    groups: &[String],
) -> Result<bool> {
    let groups = serde_json::to_string(groups).expect("names serialize");
    let sql = failed_awaiting_undo_sql();
    let found: Option<i64> = db
        .prepare_cached(&sql)?
        .query_row(
            (
                person.account.platform.as_str(),
                &person.account.id,
                person.email(),
                groups,
            ),
            |row| row.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// Every open request of this person, oldest first.
pub fn open_of(db: &Connection, person: &Principal) -> Result<Vec<AccessRequest>> {
    let sql = open_of_sql();
    let mut statement = db.prepare_cached(&sql)?;
    let requests = statement.query_map(
        (
            person.account.platform.as_str(),
            &person.account.id,
            person.email(),
        ),
        from_row,
    )?;
    Ok(requests.collect::<rusqlite::Result<_>>()?)
}

/// Open requests for any of `groups` in `status` (pending or active), oldest first, at most
/// `limit`: what owners are shown (index `requests_live`).
pub fn in_groups(
    db: &Connection,
    groups: &[String],
    status: RequestStatus,
    limit: i64,
) -> Result<Vec<AccessRequest>> {
    let groups = serde_json::to_string(groups).expect("names serialize");
    let sql = format!(
        "SELECT {COLUMNS} FROM requests WHERE {OPEN} AND status = ? \
         AND group_name IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?"
    );
    let mut statement = db.prepare_cached(&sql)?;
    let requests = statement.query_map((status.as_str(), groups, limit), from_row)?;
    Ok(requests.collect::<rusqlite::Result<_>>()?)
}

/// Whether a request of this person's for `group` passed its check (which asks the directory
/// about eligibility) since `since`.
pub fn passed_check_since(
    db: &Connection,
    person: &Principal,
    group: &str,
    since: DateTime<Utc>,
) -> Result<bool> {
    let sql = passed_check_since_sql();
    let found: Option<i64> = db
        .prepare_cached(&sql)?
        .query_row(
            (
                person.account.platform.as_str(),
                &person.account.id,
                person.email(),
                group,
                to_ms(since),
            ),
            |row| row.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// How many requests are active now (index `requests_live`).
pub fn count_active(db: &Connection) -> Result<i64> {
    Ok(db
        .prepare_cached(&count_active_sql())?
        .query_row([], |row| row.get(0))?)
}

/// `count_active`'s query: `INDEXED BY` makes a lost index an error rather than a scan of the
/// whole history at every scrape.
pub fn count_active_sql() -> String {
    format!(
        "SELECT COUNT(*) FROM requests INDEXED BY requests_live WHERE {OPEN} AND status = 'active'"
    )
}

/// The newest requests, optionally only those in one status.
pub fn list(
    db: &Connection,
    status: Option<RequestStatus>,
    limit: i64,
) -> Result<Vec<AccessRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM requests WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
    );
    let mut statement = db.prepare_cached(&sql)?;
    let requests = statement.query_map((status.map(RequestStatus::as_str), limit), from_row)?;
    Ok(requests.collect::<rusqlite::Result<_>>()?)
}

/// Records the requester's verified facts and that the request passed its checks — once, and
/// only while it is still pending. False when it had moved on (or was confirmed already).
pub fn confirm(db: &Connection, id: i64, requester: &Principal, at: DateTime<Utc>) -> Result<bool> {
    let done = db
        .prepare_cached(
            "UPDATE requests SET requester_email = ?, requester_addresses = ?, directory_user_id = ?, \
             confirmed_at = ? WHERE id = ? AND status = 'pending' AND confirmed_at IS NULL",
        )?
        .execute((
            requester.email(),
            addresses(requester),
            &requester.entra_id,
            to_ms(at),
            id,
        ))?;
    Ok(done == 1)
}

/// Records the submitter's facts as the check verified them, before it confirms the request.
pub fn set_submitter(db: &Connection, id: i64, submitter: &Principal) -> Result<()> {
    db.prepare_cached(
        "UPDATE requests SET submitter_addresses = ?, submitter_entra_id = ? \
         WHERE id = ? AND submitted_by = ?",
    )?
    .execute((
        addresses(submitter),
        &submitter.entra_id,
        id,
        submitter.account.key(),
    ))?;
    Ok(())
}

fn addresses(person: &Principal) -> String {
    serde_json::to_string(&person.emails).expect("strings serialize")
}

pub fn set_owner_snapshot(db: &Connection, id: i64, owners: &str) -> Result<()> {
    db.prepare_cached("UPDATE requests SET owner_snapshot = ? WHERE id = ?")?
        .execute((owners, id))?;
    Ok(())
}

/// Compare-and-swap `pending → approved | denied`. False when someone else moved it first.
pub fn mark_decided(
    db: &Connection,
    id: i64,
    to: RequestStatus,
    at: DateTime<Utc>,
) -> Result<bool> {
    debug_assert!(RequestStatus::Pending.can_become(to));
    let done = db
        .prepare_cached(
            "UPDATE requests SET status = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
        )?
        .execute((to.as_str(), to_ms(at), id))?;
    Ok(done == 1)
}

/// Compare-and-swap `approved → active`, starting the clock at the grant.
pub fn mark_active(
    db: &Connection,
    id: i64,
    granted_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let done = db
        .prepare_cached(
            "UPDATE requests SET status = 'active', granted_at = ?, expires_at = ? \
             WHERE id = ? AND status = 'approved'",
        )?
        .execute((to_ms(granted_at), to_ms(expires_at), id))?;
    Ok(done == 1)
}

/// Records, once, whether the person was a member before the grant. Later calls keep the first
/// answer, so a grant retried after a crash does not see its own membership as prior access.
pub fn record_prior_membership(db: &Connection, id: i64, already_member: bool) -> Result<()> {
    db.prepare_cached(
        "UPDATE requests SET already_member = ? WHERE id = ? AND already_member IS NULL",
    )?
    .execute((already_member, id))?;
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
pub fn mark_revoking(
    db: &Connection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<AccessRequest>> {
    let ids = serde_json::to_string(ids).expect("ids serialize");
    let mut statement = db.prepare_cached(&mark_revoking_sql())?;
    let requests = statement.query_map((ids, to_ms(now)), from_row)?;
    Ok(requests.collect::<rusqlite::Result<_>>()?)
}

/// Each end is joined to its request by id, so the statement costs one lookup per end. (Picking
/// each end's time out of the list in a subquery cost a pass over the list per request: a batch
/// of 200 ends took 17 ms instead of 7.) The `+` keeps SQLite from starting at the index of
/// revoking requests, which leads back to a pass over the list per request. `closed` is set
/// here as the trigger of migration 0014 would set it: ten thousand ends in a second are spared
/// the trigger's second update of each row.
pub const MARK_ENDED: &str = "UPDATE requests SET status = 'ended', closed = 1, ended_at = ends.at \
     FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(?1)) AS ends \
     WHERE requests.id = ends.id AND +requests.status = 'revoking' \
     RETURNING requests.id";

/// Compare-and-swap `revoking → ended` of each request of `ends` (its id, and when it ended),
/// in one statement; a request given twice ends at its first time. Returns the ids moved.
pub fn mark_ended(db: &Connection, ends: &[(i64, DateTime<Utc>)]) -> Result<Vec<i64>> {
    let mut seen = HashSet::new();
    let ends: Vec<(i64, i64)> = ends
        .iter()
        .filter(|(id, _)| seen.insert(*id))
        .map(|(id, at)| (*id, to_ms(*at)))
        .collect();
    let ends = serde_json::to_string(&ends).expect("pairs serialize");
    let mut statement = db.prepare_cached(MARK_ENDED)?;
    let ended = statement.query_map([ends], |row| row.get(0))?;
    Ok(ended.collect::<rusqlite::Result<_>>()?)
}

/// Compare-and-swap `pending → cancelled`, or `approved → cancelled` while a scheduled start
/// is still ahead, keeping the reason.
pub fn mark_cancelled(db: &Connection, id: i64, at: DateTime<Utc>, reason: &str) -> Result<bool> {
    let done = db
        .prepare_cached(
            "UPDATE requests SET status = 'cancelled', ended_at = ?1, failure = ?2 WHERE id = ?3 \
             AND (status = 'pending' OR (status = 'approved' AND starts_at > ?4))",
        )?
        .execute((
            to_ms(at),
            reason,
            id,
            to_ms(at + crate::domain::request::CANCEL_BEFORE_START),
        ))?;
    Ok(done == 1)
}

/// Compare-and-swap `pending → expired`: nobody decided in time.
pub fn mark_expired(db: &Connection, id: i64, at: DateTime<Utc>) -> Result<bool> {
    let done = db
        .prepare_cached(
            "UPDATE requests SET status = 'expired', ended_at = ? WHERE id = ? AND status = 'pending'",
        )?
        .execute((to_ms(at), id))?;
    Ok(done == 1)
}

/// Compare-and-swap `active → revoking` before the time is up, saying why.
pub fn mark_ending_early(db: &Connection, id: i64, early: &EarlyEnd) -> Result<bool> {
    let (reason, by, note) = match early {
        EarlyEnd::Released => ("released", None, None),
        EarlyEnd::Revoked { by, reason } => ("revoked", Some(by.key()), Some(reason.as_str())),
    };
    let done = db
        .prepare_cached(
            "UPDATE requests SET status = 'revoking', end_reason = ?, ended_by = ?, end_note = ? \
             WHERE id = ? AND status = 'active'",
        )?
        .execute((reason, by, note, id))?;
    Ok(done == 1)
}

/// The scheduled start, once read in the requester's time zone.
pub fn set_starts_at(db: &Connection, id: i64, at: DateTime<Utc>) -> Result<()> {
    db.prepare_cached("UPDATE requests SET starts_at = ? WHERE id = ?")?
        .execute((to_ms(at), id))?;
    Ok(())
}

/// Moves the end of an active grant (an extension applied). False when it is no longer active.
pub fn extend_until(db: &Connection, id: i64, expires_at: DateTime<Utc>) -> Result<bool> {
    let done = db
        .prepare_cached("UPDATE requests SET expires_at = ? WHERE id = ? AND status = 'active'")?
        .execute((to_ms(expires_at), id))?;
    Ok(done == 1)
}

pub fn waiting_extensions_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM requests WHERE extends_id IN (SELECT value FROM json_each(?)) \
         AND status IN ('pending', 'approved') ORDER BY id"
    )
}

/// The extensions of the requests `of` still waiting: pending, or approved and not applied yet.
pub fn waiting_extensions(db: &Connection, of: &[i64]) -> Result<Vec<AccessRequest>> {
    let of = serde_json::to_string(of).expect("ids serialize");
    let mut statement = db.prepare_cached(&waiting_extensions_sql())?;
    let requests = statement.query_map([of], from_row)?;
    Ok(requests.collect::<rusqlite::Result<_>>()?)
}

/// Compare-and-swap `approved → ended` for an extension: its time was added to the request it
/// extends.
pub fn mark_applied(
    db: &Connection,
    id: i64,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    let done = db
        .prepare_cached(
            "UPDATE requests SET status = 'ended', granted_at = ?1, ended_at = ?1, expires_at = ?2 \
             WHERE id = ?3 AND status = 'approved' AND kind = 'extension'",
        )?
        .execute((to_ms(at), to_ms(until), id))?;
    Ok(done == 1)
}

/// Records, once, that an owner reviewed a break-glass use.
pub fn acknowledge(db: &Connection, id: i64, by: &Account, at: DateTime<Utc>) -> Result<bool> {
    let done = db
        .prepare_cached(
            "UPDATE requests SET acknowledged_by = ?, acknowledged_at = ? \
             WHERE id = ? AND kind = 'break_glass' AND acknowledged_at IS NULL",
        )?
        .execute((by.key(), to_ms(at), id))?;
    Ok(done == 1)
}

/// Compare-and-swap `approved → failed`, keeping the last error.
pub fn mark_failed(db: &Connection, id: i64, error: &str) -> Result<bool> {
    let done = db
        .prepare_cached(
            "UPDATE requests SET status = 'failed', failure = ? WHERE id = ? AND status = 'approved'",
        )?
        .execute((error, id))?;
    Ok(done == 1)
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
/// `closed` can only be the request's, `json_each` has no column of that name).
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
pub fn first_holders(
    db: &Connection,
    asked: &[HoldersOf<'_>],
    holding: Holding,
) -> Result<HashMap<i64, Holder>> {
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
    let mut statement = db.prepare_cached(FIRST_HOLDERS.as_str())?;
    let rows = statement
        .query_map((asked, holding == Holding::ActiveOrRevoking), |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<(i64, i64, Option<bool>)>>>()?;
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
pub fn first_holder(
    db: &Connection,
    request_id: i64,
    person: &Principal,
    groups: &[String],
    holding: Holding,
) -> Result<Option<Holder>> {
    let asked = HoldersOf {
        request_id,
        person,
        groups,
    };
    Ok(first_holders(db, &[asked], holding)?.remove(&request_id))
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

/// The position of a column of `COLUMNS`, found when compiling: rows are read by position.
macro_rules! col {
    ($name:literal) => {
        const { super::columns::position(COLUMNS, $name) }
    };
}

/// A row of `COLUMNS`, in that order.
fn from_row(row: &Row) -> rusqlite::Result<AccessRequest> {
    let status: String = row.get(col!("status"))?;
    let minutes: u32 = row.get(col!("duration_minutes"))?;
    let time = |column: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(row.get::<_, Option<i64>>(column)?.map(from_ms))
    };
    Ok(AccessRequest {
        id: row.get(col!("id"))?,
        group: row.get(col!("group_name"))?,
        requester: requester(row)?,
        justification: row.get(col!("justification"))?,
        duration: AccessDuration::from_minutes(minutes)
            .ok_or_else(|| decode_error("duration_minutes", format!("{minutes} minutes")))?,
        status: status.parse().map_err(|e| decode_error("status", e))?,
        origin_channel: row.get(col!("origin_channel"))?,
        requested_at: from_ms(row.get(col!("requested_at"))?),
        decided_at: time(col!("decided_at"))?,
        granted_at: time(col!("granted_at"))?,
        expires_at: time(col!("expires_at"))?,
        ended_at: time(col!("ended_at"))?,
        already_member: row.get(col!("already_member"))?,
        failure: row.get(col!("failure"))?,
        owner_snapshot: row.get(col!("owner_snapshot"))?,
        confirmed_at: time(col!("confirmed_at"))?,
        kind: kind(row)?,
        start_spec: row.get(col!("start_spec"))?,
        starts_at: time(col!("starts_at"))?,
        submitted_by: submitter(row)?,
        ended_early: ended_early(row)?,
        acknowledged: match (
            account(row, col!("acknowledged_by"), "acknowledged_by")?,
            time(col!("acknowledged_at"))?,
        ) {
            (Some(by), Some(at)) => Some((by, at)),
            _ => None,
        },
        grant_target: super::grant_targets::from_parts(
            row.get(col!("provider"))?,
            // As before snapshots were read by position: a target that does not read as text
            // is taken as none rather than making the request unreadable.
            row.get(col!("provider_target")).unwrap_or_default(),
            row.get(col!("webhook_url"))?,
            row.get(col!("webhook_secret_env"))?,
        ),
    })
}

fn kind(row: &Row) -> rusqlite::Result<RequestKind> {
    let kind: String = row.get(col!("kind"))?;
    match (
        kind.as_str(),
        row.get::<_, Option<i64>>(col!("extends_id"))?,
    ) {
        ("access", _) => Ok(RequestKind::Access),
        ("break_glass", _) => Ok(RequestKind::BreakGlass),
        ("extension", Some(of)) => Ok(RequestKind::Extension { of }),
        (other, _) => Err(decode_error(
            "kind",
            format!("unknown request kind `{other}`"),
        )),
    }
}

/// An account stored as its key (`slack:U…`), in the column at `position` named `name`.
fn account(row: &Row, position: usize, name: &str) -> rusqlite::Result<Option<Account>> {
    let Some(key) = row.get::<_, Option<String>>(position)? else {
        return Ok(None);
    };
    key.parse::<Account>()
        .map(Some)
        .map_err(|e| decode_error(name, e))
}

/// Who asked on the requester's behalf, with their verified facts as stored.
fn submitter(row: &Row) -> rusqlite::Result<Option<Principal>> {
    let Some(account) = account(row, col!("submitted_by"), "submitted_by")? else {
        return Ok(None);
    };
    let addresses: Option<String> = row.get(col!("submitter_addresses"))?;
    let addresses: Vec<String> = serde_json::from_str(addresses.as_deref().unwrap_or("[]"))
        .map_err(|e| decode_error("submitter_addresses", e))?;
    Ok(Some(
        Principal::new(account)
            .with_emails(addresses)
            .with_entra_id(row.get(col!("submitter_entra_id"))?),
    ))
}

fn ended_early(row: &Row) -> rusqlite::Result<Option<EarlyEnd>> {
    let reason: Option<String> = row.get(col!("end_reason"))?;
    match reason.as_deref() {
        None => Ok(None),
        Some("released") => Ok(Some(EarlyEnd::Released)),
        Some("revoked") => Ok(Some(EarlyEnd::Revoked {
            by: account(row, col!("ended_by"), "ended_by")?
                .ok_or_else(|| decode_error("ended_by", "a revocation names who revoked"))?,
            reason: row
                .get::<_, Option<String>>(col!("end_note"))?
                .unwrap_or_default(),
        })),
        Some(other) => Err(decode_error("end_reason", format!("unknown end `{other}`"))),
    }
}

/// The requester as stored: account, verified addresses (the preferred first) and Entra id.
fn requester(row: &Row) -> rusqlite::Result<Principal> {
    let column = |position: usize| -> rusqlite::Result<Option<String>> { row.get(position) };
    let platform = column(col!("requester_platform"))?.unwrap_or_default();
    let account = Account::new(
        platform
            .parse()
            .map_err(|e| decode_error("requester_platform", e))?,
        column(col!("requester_id"))?.unwrap_or_default(),
    );
    let addresses: Vec<String> =
        serde_json::from_str(&column(col!("requester_addresses"))?.unwrap_or_else(|| "[]".into()))
            .map_err(|e| decode_error("requester_addresses", e))?;
    let preferred = column(col!("requester_email"))?;
    Ok(Principal::new(account)
        .with_emails(preferred.into_iter().chain(addresses))
        .with_entra_id(column(col!("directory_user_id"))?))
}
