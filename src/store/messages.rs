//! The `messages` table: where a request is shown — its thread and its approval cards.

use super::{Connection, OptionalExtension, Result};
use crate::domain::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The visible message in the channel where the request was made; its thread gets every event.
    Thread,
    /// An approval card in an approval channel or an owner's DM.
    Card,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Thread => "thread",
            Self::Card => "card",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    pub id: i64,
    pub platform: String,
    /// Slack channel id (C…, D…).
    pub conversation: String,
    /// Slack message `ts`.
    pub message_id: String,
    /// The fingerprint of what the message last showed; `None` when unknown.
    pub shown_sha256: Option<String>,
}

impl MessageRef {
    /// A row of `id, platform, conversation, message_id, shown_sha256`.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(MessageRef {
            id: row.get("id")?,
            platform: row.get("platform")?,
            conversation: row.get("conversation")?,
            message_id: row.get("message_id")?,
            shown_sha256: row.get("shown_sha256")?,
        })
    }
}

/// A message just posted, with the fingerprint of what it shows.
pub fn remember(
    db: &Connection,
    request_id: i64,
    platform: Platform,
    role: Role,
    conversation: &str,
    message_id: &str,
    shown_sha256: &str,
) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO messages (request_id, platform, role, conversation, message_id, shown_sha256) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (request_id, platform, role, conversation) \
         DO UPDATE SET message_id = excluded.message_id, shown_sha256 = excluded.shown_sha256",
    )?
    .execute((
        request_id,
        platform.as_str(),
        role.as_str(),
        conversation,
        message_id,
        shown_sha256,
    ))?;
    Ok(())
}

pub const FIND_ON: &str = "SELECT id, platform, conversation, message_id, shown_sha256 FROM messages WHERE request_id = ? AND role = ? AND platform = ? ORDER BY id";

/// The messages of one platform, with the role given.
pub fn find_on(
    db: &Connection,
    request_id: i64,
    role: Role,
    platform: Platform,
) -> Result<Vec<MessageRef>> {
    let mut statement = db.prepare_cached(FIND_ON)?;
    let rows = statement.query_map(
        (request_id, role.as_str(), platform.as_str()),
        MessageRef::from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The request's thread on one platform, once it has been posted.
pub fn thread(db: &Connection, request_id: i64, platform: Platform) -> Result<Option<MessageRef>> {
    let found = find_on(db, request_id, Role::Thread, platform)?;
    Ok(found.into_iter().next())
}

pub const HAS: &str =
    "SELECT 1 FROM messages WHERE request_id = ? AND role = ? AND conversation = ?";

pub fn has(db: &Connection, request_id: i64, role: Role, conversation: &str) -> Result<bool> {
    let found: Option<i64> = db
        .prepare_cached(HAS)?
        .query_row((request_id, role.as_str(), conversation), |row| row.get(0))
        .optional()?;
    Ok(found.is_some())
}

pub const ANY_FOR: &str = "SELECT 1 FROM messages WHERE request_id = ? LIMIT 1";

/// Whether anything of the request's has been posted yet, on any platform.
pub fn any_for(db: &Connection, request_id: i64) -> Result<bool> {
    let found: Option<i64> = db
        .prepare_cached(ANY_FOR)?
        .query_row([request_id], |row| row.get(0))
        .optional()?;
    Ok(found.is_some())
}

pub const RECORD_SHOWN: &str = "UPDATE messages SET shown_sha256 = ? WHERE id = ?";

/// What a message shows now, once the platform has accepted its update.
pub fn record_shown(db: &Connection, message_id: i64, shown_sha256: &str) -> Result<()> {
    db.prepare_cached(RECORD_SHOWN)?
        .execute((shown_sha256, message_id))?;
    Ok(())
}
