//! The `teams_conversations` and `teams_users` tables: how to reach Teams people and chats.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, SqliteExecutor};

use super::to_ms;

pub async fn remember_conversation(
    db: impl SqliteExecutor<'_>,
    conversation_id: &str,
    service_url: &str,
    tenant_id: Option<&str>,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO teams_conversations (conversation_id, service_url, tenant_id, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (conversation_id) DO UPDATE SET service_url = excluded.service_url, \
         tenant_id = COALESCE(excluded.tenant_id, tenant_id), updated_at = excluded.updated_at",
    )
    .bind(conversation_id)
    .bind(service_url)
    .bind(tenant_id)
    .bind(to_ms(at))
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct ConversationRef {
    pub conversation_id: String,
    pub service_url: String,
    pub tenant_id: Option<String>,
}

pub async fn conversation(
    db: impl SqliteExecutor<'_>,
    conversation_id: &str,
) -> sqlx::Result<Option<ConversationRef>> {
    sqlx::query_as(
        "SELECT conversation_id, service_url, tenant_id FROM teams_conversations WHERE conversation_id = ?",
    )
    .bind(conversation_id)
    .fetch_optional(db)
    .await
}

/// The most recently seen conversation in a channel (the channel itself or one of its threads).
pub async fn latest_in_channel(
    db: impl SqliteExecutor<'_>,
    channel_id: &str,
) -> sqlx::Result<Option<ConversationRef>> {
    sqlx::query_as(
        "SELECT conversation_id, service_url, tenant_id FROM teams_conversations \
         WHERE conversation_id = ?1 OR substr(conversation_id, 1, length(?1) + 1) = ?1 || ';' \
         ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(channel_id)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct TeamsUser {
    pub aad_object_id: String,
    pub mri: String,
    pub name: Option<String>,
    pub personal_conversation_id: Option<String>,
    pub last_conversation_id: String,
}

pub async fn remember_user(
    db: impl SqliteExecutor<'_>,
    user: &TeamsUser,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO teams_users (aad_object_id, mri, name, personal_conversation_id, last_conversation_id, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (aad_object_id) DO UPDATE SET mri = excluded.mri, name = COALESCE(excluded.name, name), \
         personal_conversation_id = COALESCE(excluded.personal_conversation_id, personal_conversation_id), \
         last_conversation_id = excluded.last_conversation_id, updated_at = excluded.updated_at",
    )
    .bind(user.aad_object_id.to_ascii_lowercase())
    .bind(&user.mri)
    .bind(&user.name)
    .bind(&user.personal_conversation_id)
    .bind(&user.last_conversation_id)
    .bind(to_ms(at))
    .execute(db)
    .await?;
    Ok(())
}

/// Records the time zone a person's Teams client reported.
pub async fn set_time_zone(
    db: impl SqliteExecutor<'_>,
    aad_object_id: &str,
    zone: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE teams_users SET time_zone = ? WHERE aad_object_id = ?")
        .bind(zone)
        .bind(aad_object_id.to_ascii_lowercase())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn time_zone(
    db: impl SqliteExecutor<'_>,
    aad_object_id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT time_zone FROM teams_users WHERE aad_object_id = ?")
        .bind(aad_object_id.to_ascii_lowercase())
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

pub async fn user(
    db: impl SqliteExecutor<'_>,
    aad_object_id: &str,
) -> sqlx::Result<Option<TeamsUser>> {
    sqlx::query_as(
        "SELECT aad_object_id, mri, name, personal_conversation_id, last_conversation_id \
         FROM teams_users WHERE aad_object_id = ?",
    )
    .bind(aad_object_id.to_ascii_lowercase())
    .fetch_optional(db)
    .await
}

/// The Teams user with this `29:` id, if they have talked to the bot.
pub async fn user_with_mri(
    db: impl SqliteExecutor<'_>,
    mri: &str,
) -> sqlx::Result<Option<TeamsUser>> {
    sqlx::query_as(
        "SELECT aad_object_id, mri, name, personal_conversation_id, last_conversation_id \
         FROM teams_users WHERE mri = ? ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(mri)
    .fetch_optional(db)
    .await
}

/// The Teams user whose cached email is `email`, if they have talked to the bot.
pub async fn user_with_email(
    db: impl SqliteExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<TeamsUser>> {
    sqlx::query_as(
        "SELECT u.aad_object_id, u.mri, u.name, u.personal_conversation_id, u.last_conversation_id \
         FROM teams_users u JOIN identities i ON i.platform = 'teams' AND i.user_id = u.aad_object_id \
         WHERE i.email = ? ORDER BY u.updated_at DESC LIMIT 1",
    )
    .bind(email.to_ascii_lowercase())
    .fetch_optional(db)
    .await
}

pub async fn set_personal_conversation(
    db: impl SqliteExecutor<'_>,
    aad_object_id: &str,
    conversation_id: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE teams_users SET personal_conversation_id = ? WHERE aad_object_id = ?")
        .bind(conversation_id)
        .bind(aad_object_id.to_ascii_lowercase())
        .execute(db)
        .await?;
    Ok(())
}
