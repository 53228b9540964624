//! The `messages` table: where a request is shown — its thread and its approval cards.

use sqlx::{FromRow, SqliteExecutor};

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

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
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

/// A message just posted, with the fingerprint of what it shows.
pub async fn remember(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
    platform: Platform,
    role: Role,
    conversation: &str,
    message_id: &str,
    shown_sha256: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO messages (request_id, platform, role, conversation, message_id, shown_sha256) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (request_id, platform, role, conversation) \
         DO UPDATE SET message_id = excluded.message_id, shown_sha256 = excluded.shown_sha256",
    )
    .bind(request_id)
    .bind(platform.as_str())
    .bind(role.as_str())
    .bind(conversation)
    .bind(message_id)
    .bind(shown_sha256)
    .execute(db)
    .await?;
    Ok(())
}

pub const FIND_ON: &str = "SELECT id, platform, conversation, message_id, shown_sha256 FROM messages WHERE request_id = ? AND role = ? AND platform = ? ORDER BY id";

/// The messages of one platform, with the role given.
pub async fn find_on(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
    role: Role,
    platform: Platform,
) -> sqlx::Result<Vec<MessageRef>> {
    sqlx::query_as(FIND_ON)
        .bind(request_id)
        .bind(role.as_str())
        .bind(platform.as_str())
        .fetch_all(db)
        .await
}

/// The request's thread on one platform, once it has been posted.
pub async fn thread(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
    platform: Platform,
) -> sqlx::Result<Option<MessageRef>> {
    let found = find_on(db, request_id, Role::Thread, platform).await?;
    Ok(found.into_iter().next())
}

pub const HAS: &str =
    "SELECT 1 FROM messages WHERE request_id = ? AND role = ? AND conversation = ?";

pub async fn has(
    db: impl SqliteExecutor<'_>,
    request_id: i64,
    role: Role,
    conversation: &str,
) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(HAS)
        .bind(request_id)
        .bind(role.as_str())
        .bind(conversation)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

pub const ANY_FOR: &str = "SELECT 1 FROM messages WHERE request_id = ? LIMIT 1";

/// Whether anything of the request's has been posted yet, on any platform.
pub async fn any_for(db: impl SqliteExecutor<'_>, request_id: i64) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(ANY_FOR)
        .bind(request_id)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

pub const RECORD_SHOWN: &str = "UPDATE messages SET shown_sha256 = ? WHERE id = ?";

/// What a message shows now, once the platform has accepted its update.
pub async fn record_shown(
    db: impl SqliteExecutor<'_>,
    message_id: i64,
    shown_sha256: &str,
) -> sqlx::Result<()> {
    sqlx::query(RECORD_SHOWN)
        .bind(shown_sha256)
        .bind(message_id)
        .execute(db)
        .await?;
    Ok(())
}
