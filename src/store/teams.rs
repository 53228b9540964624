//! The `teams_conversations` and `teams_users` tables: how to reach Teams people and chats.

use chrono::{DateTime, Utc};

use super::{Connection, OptionalExtension, Result, to_ms};

pub fn remember_conversation(
    db: &Connection,
    conversation_id: &str,
    service_url: &str,
    tenant_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO teams_conversations (conversation_id, service_url, tenant_id, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (conversation_id) DO UPDATE SET service_url = excluded.service_url, \
         tenant_id = COALESCE(excluded.tenant_id, tenant_id), updated_at = excluded.updated_at",
    )?
    .execute((conversation_id, service_url, tenant_id, to_ms(at)))?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ConversationRef {
    pub conversation_id: String,
    pub service_url: String,
    pub tenant_id: Option<String>,
}

impl ConversationRef {
    /// A row of `conversation_id, service_url, tenant_id`.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(ConversationRef {
            conversation_id: row.get("conversation_id")?,
            service_url: row.get("service_url")?,
            tenant_id: row.get("tenant_id")?,
        })
    }
}

pub fn conversation(db: &Connection, conversation_id: &str) -> Result<Option<ConversationRef>> {
    let found = db
        .prepare_cached(
            "SELECT conversation_id, service_url, tenant_id FROM teams_conversations WHERE conversation_id = ?",
        )?
        .query_row([conversation_id], ConversationRef::from_row)
        .optional()?;
    Ok(found)
}

/// The most recently seen conversation in a channel (the channel itself or one of its threads).
pub fn latest_in_channel(db: &Connection, channel_id: &str) -> Result<Option<ConversationRef>> {
    let found = db
        .prepare_cached(
            "SELECT conversation_id, service_url, tenant_id FROM teams_conversations \
             WHERE conversation_id = ?1 OR substr(conversation_id, 1, length(?1) + 1) = ?1 || ';' \
             ORDER BY updated_at DESC LIMIT 1",
        )?
        .query_row([channel_id], ConversationRef::from_row)
        .optional()?;
    Ok(found)
}

#[derive(Debug, Clone)]
pub struct TeamsUser {
    pub aad_object_id: String,
    pub mri: String,
    pub name: Option<String>,
    pub personal_conversation_id: Option<String>,
    pub last_conversation_id: String,
}

impl TeamsUser {
    /// A row of `aad_object_id, mri, name, personal_conversation_id, last_conversation_id`.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(TeamsUser {
            aad_object_id: row.get("aad_object_id")?,
            mri: row.get("mri")?,
            name: row.get("name")?,
            personal_conversation_id: row.get("personal_conversation_id")?,
            last_conversation_id: row.get("last_conversation_id")?,
        })
    }
}

pub fn remember_user(db: &Connection, user: &TeamsUser, at: DateTime<Utc>) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO teams_users (aad_object_id, mri, name, personal_conversation_id, last_conversation_id, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (aad_object_id) DO UPDATE SET mri = excluded.mri, name = COALESCE(excluded.name, name), \
         personal_conversation_id = COALESCE(excluded.personal_conversation_id, personal_conversation_id), \
         last_conversation_id = excluded.last_conversation_id, updated_at = excluded.updated_at",
    )?
    .execute((
        user.aad_object_id.to_ascii_lowercase(),
        &user.mri,
        &user.name,
        &user.personal_conversation_id,
        &user.last_conversation_id,
        to_ms(at),
    ))?;
    Ok(())
}

/// Records the time zone a person's Teams client reported.
pub fn set_time_zone(db: &Connection, aad_object_id: &str, zone: &str) -> Result<()> {
    db.prepare_cached("UPDATE teams_users SET time_zone = ? WHERE aad_object_id = ?")?
        .execute((zone, aad_object_id.to_ascii_lowercase()))?;
    Ok(())
}

pub fn time_zone(db: &Connection, aad_object_id: &str) -> Result<Option<String>> {
    let zone: Option<Option<String>> = db
        .prepare_cached("SELECT time_zone FROM teams_users WHERE aad_object_id = ?")?
        .query_row([aad_object_id.to_ascii_lowercase()], |row| row.get(0))
        .optional()?;
    Ok(zone.flatten())
}

pub fn user(db: &Connection, aad_object_id: &str) -> Result<Option<TeamsUser>> {
    let found = db
        .prepare_cached(
            "SELECT aad_object_id, mri, name, personal_conversation_id, last_conversation_id \
             FROM teams_users WHERE aad_object_id = ?",
        )?
        .query_row([aad_object_id.to_ascii_lowercase()], TeamsUser::from_row)
        .optional()?;
    Ok(found)
}

/// The Teams user with this `29:` id, if they have talked to the bot.
pub fn user_with_mri(db: &Connection, mri: &str) -> Result<Option<TeamsUser>> {
    let found = db
        .prepare_cached(
            "SELECT aad_object_id, mri, name, personal_conversation_id, last_conversation_id \
             FROM teams_users WHERE mri = ? ORDER BY updated_at DESC LIMIT 1",
        )?
        .query_row([mri], TeamsUser::from_row)
        .optional()?;
    Ok(found)
}

/// The Teams user whose cached email is `email`, if they have talked to the bot.
pub fn user_with_email(db: &Connection, email: &str) -> Result<Option<TeamsUser>> {
    let found = db
        .prepare_cached(
            "SELECT u.aad_object_id, u.mri, u.name, u.personal_conversation_id, u.last_conversation_id \
             FROM teams_users u JOIN identities i ON i.platform = 'teams' AND i.user_id = u.aad_object_id \
             WHERE i.email = ? ORDER BY u.updated_at DESC LIMIT 1",
        )?
        .query_row([email.to_ascii_lowercase()], TeamsUser::from_row)
        .optional()?;
    Ok(found)
}

pub fn set_personal_conversation(
    db: &Connection,
    aad_object_id: &str,
    conversation_id: &str,
) -> Result<()> {
    db.prepare_cached(
        "UPDATE teams_users SET personal_conversation_id = ? WHERE aad_object_id = ?",
    )?
    .execute((conversation_id, aad_object_id.to_ascii_lowercase()))?;
    Ok(())
}
