//! Teams users: known by their Entra object id, with an email from their Teams profile, and
//! reachable for DMs once they have talked to the bot.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::activity::Activity;
use crate::app::App;
use crate::domain::{Owner, Person, Platform};
use crate::store::{identities, teams};

/// How long an email read from Teams is trusted before it is read again.
const FRESH_FOR: Duration = Duration::hours(24);

/// The id jitbot keys a Teams user by: the Entra object id, or the `29:` id when a local
/// emulator sends none.
pub fn user_id(activity: &Activity) -> Option<String> {
    let from = activity.from.as_ref()?;
    Some(
        from.aad_object_id
            .clone()
            .unwrap_or_else(|| from.id.clone())
            .to_ascii_lowercase(),
    )
}

/// Records where this conversation and its sender can be reached later.
pub async fn remember_sender(
    app: &App,
    activity: &Activity,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let conversation = &activity.conversation.id;
    teams::remember_conversation(
        &app.db,
        conversation,
        &activity.service_url,
        activity.tenant_id(),
        now,
    )
    .await?;
    if let (Some(from), Some(user_id)) = (&activity.from, user_id(activity)) {
        let user = teams::TeamsUser {
            aad_object_id: user_id,
            mri: from.id.clone(),
            name: from.name.clone(),
            personal_conversation_id: activity.is_personal().then(|| conversation.clone()),
            last_conversation_id: conversation.clone(),
        };
        teams::remember_user(&app.db, &user, now).await?;
    }
    Ok(())
}

/// Reads the sender's profile (email, UPN) in the background when jitbot does not know it yet,
/// so that owners listed by email can be found in Teams later. Best effort: the next activity
/// tries again.
pub async fn learn_email(app: &App, activity: &Activity, now: DateTime<Utc>) -> sqlx::Result<()> {
    let (Some(from), Some(user_id)) = (&activity.from, user_id(activity)) else {
        return Ok(());
    };
    if identities::email_of(&app.db, Platform::Teams, &user_id, now - FRESH_FOR)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let (app, from_id) = (app.clone(), from.id.clone());
    let (service_url, conversation) = (
        activity.service_url.clone(),
        activity.conversation.id.clone(),
    );
    tokio::spawn(async move {
        match app
            .teams
            .connector
            .member(&service_url, &conversation, &from_id)
            .await
        {
            Ok(member) => {
                let email = member.email.or(member.user_principal_name);
                if let Err(error) =
                    identities::remember(&app.db, Platform::Teams, &user_id, email.as_deref(), now)
                        .await
                {
                    tracing::warn!(%error, "could not cache a Teams profile");
                }
            }
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "could not read a Teams profile"
            ),
        }
    });
    Ok(())
}

/// The person with whatever email the cache knows: for paths that must answer at once.
pub async fn cached(app: &App, user_id: &str, now: DateTime<Utc>) -> sqlx::Result<Person> {
    let email = identities::email_of(&app.db, Platform::Teams, user_id, now - FRESH_FOR).await?;
    Ok(Person::new(Platform::Teams, user_id).with_email(email.flatten()))
}

/// The person with their email, reading their Teams profile when the cache has no fresh answer.
pub async fn resolve(app: &App, user_id: &str, now: DateTime<Utc>) -> anyhow::Result<Person> {
    if let Some(email) =
        identities::email_of(&app.db, Platform::Teams, user_id, now - FRESH_FOR).await?
    {
        return Ok(Person::new(Platform::Teams, user_id).with_email(email));
    }
    let user = teams::user(&app.db, user_id)
        .await?
        .with_context(|| format!("Teams user {user_id} has not talked to jitbot"))?;
    let conversation = teams::conversation(&app.db, &user.last_conversation_id)
        .await?
        .context("the conversation the user was last seen in is unknown")?;
    let member = app
        .teams
        .connector
        .member(
            &conversation.service_url,
            &conversation.conversation_id,
            &user.mri,
        )
        .await?;
    let email = member.email.or(member.user_principal_name);
    identities::remember(&app.db, Platform::Teams, user_id, email.as_deref(), now).await?;
    Ok(Person::new(Platform::Teams, user_id).with_email(email))
}

/// The MRI (`29:` id) of an owner who has talked to the bot: what `refresh.userIds` lists.
pub async fn owner_mri(app: &App, owner: &Owner) -> sqlx::Result<Option<String>> {
    Ok(known_user(app, owner).await?.map(|user| user.mri))
}

async fn known_user(app: &App, owner: &Owner) -> sqlx::Result<Option<teams::TeamsUser>> {
    match owner {
        Owner::TeamsUser(id) | Owner::Directory { id, .. } => teams::user(&app.db, id).await,
        Owner::Email(email) => teams::user_with_email(&app.db, email).await,
        Owner::SlackUser(_) => Ok(None),
    }
}

/// Where to DM an owner: their chat with the bot, started if needed. `None` when the owner has
/// never talked to the bot, so Teams has given jitbot no way to reach them.
pub async fn dm_conversation(
    app: &App,
    owner: &Owner,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(String, String)>> {
    let Some(user) = known_user(app, owner).await? else {
        return Ok(None);
    };
    let seen_in = teams::conversation(&app.db, &user.last_conversation_id)
        .await?
        .context("the conversation the owner was last seen in is unknown")?;
    if let Some(personal) = &user.personal_conversation_id {
        let service_url = teams::conversation(&app.db, personal)
            .await?
            .map(|c| c.service_url)
            .unwrap_or(seen_in.service_url);
        return Ok(Some((service_url, personal.clone())));
    }
    let tenant = seen_in
        .tenant_id
        .clone()
        .or_else(|| app.teams.tenant_id.clone());
    let mut parameters = json!({
        "isGroup": false,
        "members": [{ "id": user.mri }],
        "channelData": { "tenant": { "id": tenant } },
    });
    if let Some(bot) = app.teams.connector.bot_id() {
        parameters["bot"] = json!({ "id": bot });
    }
    let (conversation, _) = app
        .teams
        .connector
        .create_conversation(&seen_in.service_url, &parameters)
        .await?;
    teams::remember_conversation(
        &app.db,
        &conversation,
        &seen_in.service_url,
        tenant.as_deref(),
        now,
    )
    .await?;
    teams::set_personal_conversation(&app.db, &user.aad_object_id, &conversation).await?;
    Ok(Some((seen_in.service_url, conversation)))
}
