//! The `audit_events` table: an append-only, hash-chained record of every transition.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::Row;

use super::audit_hash::{Content, installed_key};
use super::{Connection, OptionalExtension, Result, from_ms, to_ms};
use crate::domain::AuditAction;
use crate::secrets::Secret;

pub use super::audit_hash::{HashKind, install_key};

/// The actor jitbot's own events (the scheduler's, the sweep's) are recorded under.
pub const JITBOT: &str = "jitbot";

/// The hash the first event chains from.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: DateTime<Utc>,
    pub request_id: Option<i64>,
    /// Who caused it: `slack:U…`, or `jitbot` for the scheduler.
    pub actor: &'a str,
    pub action: AuditAction,
    pub platform: Option<&'a str>,
    pub channel: Option<&'a str>,
    /// A JSON object, as text: recorded, hashed and forwarded as it is. Text rather than a
    /// `serde_json::Value`: an event may wait in memory before it is recorded (ten thousand ends
    /// at once, `access::ends`), and a value of a few fields is a tree of a dozen allocations,
    /// about 1.5 KiB, where its text is a fifth of that.
    pub detail: String,
}

impl NewEvent<'static> {
    /// An event of jitbot's own (the scheduler's), outside any chat.
    pub fn by_jitbot(
        request_id: Option<i64>,
        action: AuditAction,
        detail: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self::by_jitbot_as_text(request_id, action, detail.to_string(), at)
    }

    /// The same, with its detail already written as JSON text.
    pub fn by_jitbot_as_text(
        request_id: Option<i64>,
        action: AuditAction,
        detail: String,
        at: DateTime<Utc>,
    ) -> Self {
        NewEvent {
            at,
            request_id,
            actor: JITBOT,
            action,
            platform: None,
            channel: None,
            detail,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub request_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub platform: Option<String>,
    pub channel: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
    pub hash_kind: String,
}

impl Event {
    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Event {
            id: row.get("id")?,
            at: row.get("at")?,
            request_id: row.get("request_id")?,
            actor: row.get("actor")?,
            action: row.get("action")?,
            platform: row.get("platform")?,
            channel: row.get("channel")?,
            detail: row.get("detail")?,
            prev_hash: row.get("prev_hash")?,
            hash: row.get("hash")?,
            hash_kind: row.get("hash_kind")?,
        })
    }

    pub fn at(&self) -> DateTime<Utc> {
        from_ms(self.at)
    }

    pub fn hash_kind(&self) -> HashKind {
        HashKind::parse(&self.hash_kind)
    }

    fn content(&self) -> Content<'_> {
        Content {
            prev_hash: &self.prev_hash,
            at: self.at,
            request_id: self.request_id,
            actor: &self.actor,
            action: &self.action,
            platform: self.platform.as_deref(),
            channel: self.channel.as_deref(),
            detail: &self.detail,
        }
    }
}

/// Appends an event chained to the last one, keyed with the process's audit key when `jitbot
/// serve` installed one. Call it inside the transaction that makes the change it records, which
/// also serialises appends. When the trail lives apart (`audit_database_url`), the event waits in
/// the main database's outbox instead, committed with the change, until it is moved.
pub fn append(conn: &Connection, event: NewEvent<'_>) -> Result<()> {
    let recorded = Recorded::of(&event);
    if chain_after_guess(conn, installed_key(), &recorded, Apart::Checked)? {
        return Ok(());
    }
    if super::audit_outbox::trail_is_apart(conn)? {
        return super::audit_outbox::put(conn, &recorded.event_uid, &event);
    }
    chain(conn, installed_key(), &recorded)
}

/// Appends `events` in order, as `append` appends each: all after the guessed head, checked
/// once, when the guess holds (the scheduler records hundreds of ends together), else one by one.
pub fn append_all(conn: &Connection, events: &[NewEvent<'_>]) -> Result<()> {
    let recorded: Vec<Recorded> = events.iter().map(Recorded::of).collect();
    if chain_all_after_guess(conn, installed_key(), &recorded)? {
        return Ok(());
    }
    for event in events {
        append(conn, event.clone())?;
    }
    Ok(())
}

/// `append` with an explicit key (`None`: plain SHA-256), always into this database's chain.
pub fn append_with(conn: &Connection, key: Option<&Secret>, event: NewEvent<'_>) -> Result<()> {
    chain(conn, key, &Recorded::of(&event))
}

/// An event as recorded, before it is chained: what the outbox holds.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Unique, given once: moving the same event twice finds it already chained.
    pub event_uid: String,
    pub at: i64,
    pub request_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub platform: Option<String>,
    pub channel: Option<String>,
    pub detail: String,
}

impl Recorded {
    /// Reads the recorded event's columns of `row` (the outbox's, or the trail's with
    /// `event_uid`).
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Recorded {
            event_uid: row.get("event_uid")?,
            at: row.get("at")?,
            request_id: row.get("request_id")?,
            actor: row.get("actor")?,
            action: row.get("action")?,
            platform: row.get("platform")?,
            channel: row.get("channel")?,
            detail: row.get("detail")?,
        })
    }

    /// What its hash covers, chained after `prev_hash`.
    fn content<'a>(&'a self, prev_hash: &'a str) -> Content<'a> {
        Content {
            prev_hash,
            at: self.at,
            request_id: self.request_id,
            actor: &self.actor,
            action: &self.action,
            platform: self.platform.as_deref(),
            channel: self.channel.as_deref(),
            detail: &self.detail,
        }
    }

    /// `event` as it is recorded, under a fresh id.
    fn of(event: &NewEvent<'_>) -> Recorded {
        Recorded {
            event_uid: new_uid(),
            at: to_ms(event.at),
            request_id: event.request_id,
            actor: event.actor.to_string(),
            action: event.action.as_str().to_string(),
            platform: event.platform.map(str::to_owned),
            channel: event.channel.map(str::to_owned),
            detail: event.detail.clone(),
        }
    }
}

/// A fresh event id, 32 hex digits: the time in milliseconds (48 bits), then 80 random bits.
/// Time first, so that the unique index of ids grows at its end like the trail itself: with
/// random ids every event changed a page of the index of its own, which each commit then wrote.
fn new_uid() -> String {
    let millis = Utc::now().timestamp_millis() as u64 & 0xffff_ffff_ffff;
    format!("{millis:012x}{}", hex::encode(rand::random::<[u8; 10]>()))
}

/// Chains a recorded event after the last one of this database's trail.
pub(super) fn chain(conn: &Connection, key: Option<&Secret>, event: &Recorded) -> Result<()> {
    if chain_after_guess(conn, key, event, Apart::Unchecked)? {
        return Ok(());
    }
    let prev_hash: Option<String> = conn
        .prepare_cached("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let prev_hash = prev_hash.unwrap_or_else(|| GENESIS.to_string());
    if let Some(hash) = insert(conn, key, event, &prev_hash, INSERT)? {
        guess_last_hash(hash);
    }
    Ok(())
}

/// The hash of the event this process chained last: nearly always the head of the trail it
/// appends to next. An append first chains after it in one statement that checks it still is
/// the head, instead of reading the head first: one statement instead of three (with the check
/// that the trail is not apart). A wrong guess (a member of a group rolled
/// back, another database of the same process) inserts nothing, and the append reads the head.
static LAST_HASH: Mutex<Option<String>> = Mutex::new(None);

fn last_hash_guess() -> Option<String> {
    LAST_HASH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn guess_last_hash(hash: String) {
    *LAST_HASH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(hash);
}

/// Whether the statement also checks that this database's trail does not live apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Apart {
    Checked,
    Unchecked,
}

const INSERT: &str = "INSERT INTO audit_events (at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind, event_uid) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// `INSERT`, when `?8` (the previous hash) is the head of the trail.
const INSERT_AFTER_HEAD: &str = "INSERT INTO audit_events (at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind, event_uid) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
     WHERE (SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1) = ?8";

/// `INSERT_AFTER_HEAD`, when the trail is not kept apart either (`audit_outbox::trail_is_apart`).
const INSERT_AFTER_HEAD_HERE: &str = "INSERT INTO audit_events (at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind, event_uid) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
     WHERE (SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1) = ?8 \
     AND NOT EXISTS (SELECT 1 FROM settings WHERE key = 'audit_trail' AND value = 'apart')";

/// Chains `event` after the guessed head, if it is the head. True when the event was chained.
fn chain_after_guess(
    conn: &Connection,
    key: Option<&Secret>,
    event: &Recorded,
    apart: Apart,
) -> Result<bool> {
    let Some(guess) = last_hash_guess() else {
        return Ok(false);
    };
    let statement = match apart {
        Apart::Checked => INSERT_AFTER_HEAD_HERE,
        Apart::Unchecked => INSERT_AFTER_HEAD,
    };
    match insert(conn, key, event, &guess, statement)? {
        Some(hash) => {
            guess_last_hash(hash);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Chains `events`, in order, after the guessed head, if it is the head. True when they were.
/// The first is inserted by the statement that checks the guess (and that the trail is here);
/// the others follow it in the same transaction, where nothing else can append, each through a
/// cached plain `INSERT`. (One statement over a JSON array of all of them cost more: SQLite
/// parsed each element again for each of its eleven columns.)
fn chain_all_after_guess(
    conn: &Connection,
    key: Option<&Secret>,
    events: &[Recorded],
) -> Result<bool> {
    let Some((first, rest)) = events.split_first() else {
        return Ok(true);
    };
    let Some(guess) = last_hash_guess() else {
        return Ok(false);
    };
    let Some(mut prev_hash) = insert(conn, key, first, &guess, INSERT_AFTER_HEAD_HERE)? else {
        return Ok(false);
    };
    for event in rest {
        prev_hash = insert_after(conn, key, event, &prev_hash)?;
    }
    guess_last_hash(prev_hash);
    Ok(true)
}

/// Inserts `event` chained after `prev_hash`, unconditionally; returns its hash.
fn insert_after(
    conn: &Connection,
    key: Option<&Secret>,
    event: &Recorded,
    prev_hash: &str,
) -> Result<String> {
    let (kind, hash) = event.content(prev_hash).hash(key);
    execute(conn, INSERT, event, prev_hash, &hash, kind.as_str())?;
    Ok(hash)
}

/// Inserts `event` chained after `prev_hash` with `statement`; returns its hash, or nothing when
/// the statement's condition did not hold.
fn insert(
    conn: &Connection,
    key: Option<&Secret>,
    event: &Recorded,
    prev_hash: &str,
    statement: &'static str,
) -> Result<Option<String>> {
    let (kind, hash) = event.content(prev_hash).hash(key);
    let inserted = execute(conn, statement, event, prev_hash, &hash, kind.as_str())?;
    Ok((inserted == 1).then_some(hash))
}

/// Runs one of the inserts above for `event`; returns how many rows it inserted.
fn execute(
    conn: &Connection,
    statement: &'static str,
    event: &Recorded,
    prev_hash: &str,
    hash: &str,
    hash_kind: &str,
) -> Result<usize> {
    Ok(conn.prepare_cached(statement)?.execute((
        event.at,
        event.request_id,
        &event.actor,
        &event.action,
        event.platform.as_deref(),
        event.channel.as_deref(),
        &event.detail,
        prev_hash,
        hash,
        hash_kind,
        &event.event_uid,
    ))?)
}

/// Whether the event with this id is in this database's trail already.
pub(super) fn has_uid(conn: &Connection, event_uid: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM audit_events WHERE event_uid = ?)")?
        .query_row([event_uid], |row| row.get(0))?)
}

pub fn list(db: &Connection, request_id: Option<i64>) -> Result<Vec<Event>> {
    let mut statement = db.prepare_cached(
        "SELECT id, at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind \
         FROM audit_events WHERE (?1 IS NULL OR request_id = ?1) ORDER BY id",
    )?;
    let events = statement.query_map([request_id], Event::from_row)?;
    Ok(events.collect::<rusqlite::Result<_>>()?)
}

/// Where the chain is broken, if anywhere: the first event whose hash or link does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    Intact {
        events: usize,
    },
    BrokenAt {
        id: i64,
    },
    /// A plain event after a keyed one: jitbot never goes back to plain, so someone without the
    /// key rewrote the trail from here.
    PlainAfterKeyed {
        id: i64,
    },
    /// Every link and plain hash matches, but `keyed` events from `first` on carry an HMAC that
    /// only `JITBOT_AUDIT_KEY` can check.
    KeyNeeded {
        first: i64,
        keyed: usize,
    },
}

/// Checks the chain with the process's installed key, if any.
pub fn verify(db: &Connection) -> Result<ChainCheck> {
    let events = list(db, None)?;
    Ok(check_chain(&events, &Base::of(&events), installed_key()))
}

/// Where the trail starts: at the first event ever, or, after a purge (`audit_retention`), just
/// after the last event it removed, chained from that event's hash. A purge records both in its
/// own `audit_purged` event, which is chained like any other, so a purge that claims more, or
/// removes more than it claims, breaks the chain or leaves a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The last id removed (0: none).
    pub purged_up_to: i64,
    /// The hash the first remaining event chains from.
    pub prev_hash: String,
}

impl Base {
    /// The base the last `audit_purged` event of `events` names, else the genesis.
    pub fn of(events: &[Event]) -> Base {
        let purged = AuditAction::AuditPurged.as_str();
        events
            .iter()
            .rev()
            .filter(|e| e.action == purged)
            .find_map(|e| {
                let detail: serde_json::Value = serde_json::from_str(&e.detail).ok()?;
                Some(Base {
                    purged_up_to: detail.get("up_to")?.as_i64()?,
                    prev_hash: detail.get("hash")?.as_str()?.to_string(),
                })
            })
            .unwrap_or(Base {
                purged_up_to: 0,
                prev_hash: GENESIS.to_string(),
            })
    }
}

fn check_chain(events: &[Event], base: &Base, key: Option<&Secret>) -> ChainCheck {
    let mut expected_prev = base.prev_hash.as_str();
    let mut first_keyed = None;
    let mut unchecked = 0;
    for event in events {
        if event.prev_hash != expected_prev {
            return ChainCheck::BrokenAt { id: event.id };
        }
        let content = event.content();
        match (event.hash_kind(), key) {
            (HashKind::Sha256, _) if first_keyed.is_some() => {
                return ChainCheck::PlainAfterKeyed { id: event.id };
            }
            (HashKind::Sha256, _) if content.sha256() != event.hash => {
                return ChainCheck::BrokenAt { id: event.id };
            }
            (HashKind::Sha256, _) => {}
            (HashKind::HmacSha256, Some(key)) if !content.keyed_matches(key, &event.hash) => {
                return ChainCheck::BrokenAt { id: event.id };
            }
            (HashKind::HmacSha256, Some(_)) => {}
            // Without the key only the link is checked; the verdict says so.
            (HashKind::HmacSha256, None) => unchecked += 1,
        }
        if event.hash_kind() == HashKind::HmacSha256 {
            first_keyed.get_or_insert(event.id);
        }
        expected_prev = &event.hash;
    }
    match first_keyed {
        Some(first) if unchecked > 0 => ChainCheck::KeyNeeded {
            first,
            keyed: unchecked,
        },
        _ => ChainCheck::Intact {
            events: events.len(),
        },
    }
}

/// Events the table issued an id for but no longer holds. The chain alone cannot notice events
/// deleted from its end; `AUTOINCREMENT` can: `sqlite_sequence` keeps the highest id ever issued,
/// and ids are issued 1, 2, 3 … with none skipped (a rolled-back append rolls the sequence back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// Events `first..=last` are gone; `at_end`: no later event remains.
    Events { first: i64, last: i64, at_end: bool },
    /// The sequence is below an id the table holds: `sqlite_sequence` itself was changed.
    SequenceLowered { sequence: i64, last_id: i64 },
}

/// The last event, which operators record elsewhere: a chain rewritten from its start is intact
/// again, but its head differs from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub hash: String,
    pub kind: HashKind,
}

/// Everything `jitbot audit --verify` checks, read in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailCheck {
    pub chain: ChainCheck,
    pub gaps: Vec<Gap>,
    pub events: usize,
    pub head: Option<Head>,
    /// Where the remaining trail starts, after purges.
    pub base: Base,
}

impl TrailCheck {
    pub fn is_intact(&self) -> bool {
        matches!(self.chain, ChainCheck::Intact { .. }) && self.gaps.is_empty()
    }
}

/// Checks the hash chain and that every id ever issued is still there, and names the head. It
/// reads the whole trail: run it on a reader of its own (`Db::read_apart`), outside any
/// transaction.
pub fn check_trail(db: &Connection, key: Option<&Secret>) -> Result<TrailCheck> {
    // One read transaction: events appended meanwhile are neither listed nor counted.
    let tx = db.unchecked_transaction()?;
    let events = list(&tx, None)?;
    let sequence: Option<i64> = tx
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'")?
        .query_row([], |row| row.get(0))
        .optional()?;
    tx.commit()?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let base = Base::of(&events);
    Ok(TrailCheck {
        chain: check_chain(&events, &base, key),
        // No row yet: no event was ever appended.
        gaps: gaps(&ids, sequence.unwrap_or(0), base.purged_up_to + 1),
        events: events.len(),
        head: events.last().map(|e| Head {
            id: e.id,
            hash: e.hash.clone(),
            kind: e.hash_kind(),
        }),
        base,
    })
}

/// The ids missing from `first..=sequence`, given the ids present in ascending order.
fn gaps(ids: &[i64], sequence: i64, first: i64) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut expected = first;
    for &id in ids {
        if id > expected {
            gaps.push(Gap::Events {
                first: expected,
                last: id - 1,
                at_end: false,
            });
        }
        expected = expected.max(id + 1);
    }
    if sequence >= expected {
        gaps.push(Gap::Events {
            first: expected,
            last: sequence,
            at_end: true,
        });
    }
    if let Some(&last_id) = ids.last()
        && last_id > sequence
    {
        gaps.push(Gap::SequenceLowered { sequence, last_id });
    }
    gaps
}

const FORWARDED_UP_TO: &str = "audit_forwarded_up_to";

/// The events after the last one forwarded to the collector, oldest first, at most `limit`.
pub fn not_forwarded(conn: &Connection, limit: i64) -> Result<Vec<Event>> {
    let after = forwarded(conn)?;
    let mut statement = conn.prepare_cached(
        "SELECT id, at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind \
         FROM audit_events WHERE id > ? ORDER BY id LIMIT ?",
    )?;
    let events = statement.query_map((after, limit), Event::from_row)?;
    Ok(events.collect::<rusqlite::Result<_>>()?)
}

/// The last event the collector has (0: none yet).
pub fn forwarded(db: &Connection) -> Result<i64> {
    Ok(super::settings::get(db, FORWARDED_UP_TO)?
        .and_then(|id| id.parse().ok())
        .unwrap_or(0))
}

/// Records that every event up to `id` reached the collector.
pub fn forwarded_up_to(db: &Connection, id: i64) -> Result<()> {
    super::settings::set(db, FORWARDED_UP_TO, &id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_32_hex_digits_and_later_ones_sort_after() {
        let first = new_uid();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (second, third) = (new_uid(), new_uid());
        for uid in [&first, &second, &third] {
            assert_eq!(uid.len(), 32, "{uid}");
            assert!(uid.bytes().all(|b| b.is_ascii_hexdigit()), "{uid}");
        }
        assert!(first < second, "{first} then {second}");
        assert_ne!(second, third, "two ids made in the same millisecond differ");
    }

    fn events(first: i64, last: i64, at_end: bool) -> Gap {
        Gap::Events {
            first,
            last,
            at_end,
        }
    }

    #[test]
    fn gaps_name_every_id_issued_and_gone() {
        assert_eq!(gaps(&[], 0, 1), []);
        assert_eq!(gaps(&[1, 2, 3], 3, 1), []);
        assert_eq!(gaps(&[1, 2, 3], 5, 1), [events(4, 5, true)]);
        assert_eq!(gaps(&[], 2, 1), [events(1, 2, true)]);
        assert_eq!(gaps(&[1, 2, 4, 5], 5, 1), [events(3, 3, false)]);
        assert_eq!(
            gaps(&[2, 5], 7, 1),
            [events(1, 1, false), events(3, 4, false), events(6, 7, true)]
        );
        assert_eq!(
            gaps(&[1, 2, 3], 2, 1),
            [Gap::SequenceLowered {
                sequence: 2,
                last_id: 3
            }]
        );
        // After a purge of events 1–4 the trail starts at 5.
        assert_eq!(gaps(&[5, 6], 6, 5), []);
        assert_eq!(gaps(&[6, 7], 7, 5), [events(5, 5, false)]);
    }
}
