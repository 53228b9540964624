//! Teams users as principals: known by their Entra object id (activities are pinned to our
//! tenant), with the addresses of their Teams profile when it is a member of our own tenant, and
//! reachable for DMs once they have talked to the bot.

use std::time::Duration as StdDuration;
use tracing::Instrument;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::activity::Activity;
use super::chat::TeamsChat;
use super::connector::Member;
use crate::domain::{Account, Owner, Platform, Principal, Refusal};
use crate::store::{self, identities, teams};

/// How long addresses read from Teams are trusted before they are read again.
const FRESH_FOR: Duration = Duration::hours(24);
/// Teams gives an invoke about five seconds; finding out who clicked must leave room to answer.
const LOOKUP_TIMEOUT: StdDuration = StdDuration::from_secs(2);

/// The Entra object id jitbot keys a Teams user by. Commands and clicks need it: `from.id` alone
/// says nothing about who someone is in the directory.
pub fn user_id(activity: &Activity) -> Option<String> {
    let from = activity.from.as_ref()?;
    Some(from.aad_object_id.as_ref()?.to_ascii_lowercase())
}

/// Records where this conversation and its sender can be reached later.
pub async fn remember_sender(
    teams: &TeamsChat,
    activity: &Activity,
    now: DateTime<Utc>,
) -> store::Result<()> {
    let conversation = &activity.conversation.id;
    let (service_url, tenant) = (&activity.service_url, activity.tenant_id());
    let user = match (&activity.from, user_id(activity)) {
        (Some(from), Some(user_id)) => Some(teams::TeamsUser {
            aad_object_id: user_id,
            mri: from.id.clone(),
            name: from.name.clone(),
            personal_conversation_id: activity.is_personal().then(|| conversation.clone()),
            last_conversation_id: conversation.clone(),
        }),
        _ => None,
    };
    // Only a name chrono-tz knows is kept: the client's word is read, never trusted further.
    let zone = activity
        .local_timezone
        .as_deref()
        .filter(|zone| zone.parse::<chrono_tz::Tz>().is_ok());
    store::write(&teams.db, |tx| {
        teams::remember_conversation(tx, conversation, service_url, tenant, now)?;
        if let Some(user) = &user {
            teams::remember_user(tx, user, now)?;
            if let Some(zone) = zone {
                teams::set_time_zone(tx, &user.aad_object_id, zone)?;
            }
        }
        Ok(())
    })
    .await
}

/// The addresses of a Teams profile that say who someone is: only a member of our own tenant's.
/// A guest's addresses come from another tenant, where anyone can give themselves any address.
fn verified_addresses(teams: &TeamsChat, member: &Member) -> Vec<String> {
    let role = member.user_role.as_deref().unwrap_or("user");
    let foreign_tenant = match (&member.tenant_id, &teams.tenant_id) {
        (Some(theirs), Some(ours)) => !theirs.eq_ignore_ascii_case(ours),
        // A profile that names no tenant is not vouched for by ours.
        (None, Some(_)) => true,
        (_, None) => false,
    };
    let external_upn = member
        .user_principal_name
        .as_deref()
        .is_some_and(|upn| upn.to_ascii_lowercase().contains("#ext#"));
    if !role.eq_ignore_ascii_case("user") || foreign_tenant || external_upn {
        return Vec::new();
    }
    [&member.email, &member.user_principal_name]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

/// Reads a member's profile and caches its verified addresses.
async fn read_profile(
    teams: &TeamsChat,
    user_id: &str,
    service_url: &str,
    conversation: &str,
    mri: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let member = teams
        .connector
        .member(service_url, conversation, mri)
        .await?;
    let addresses = verified_addresses(teams, &member);
    store::write(&teams.db, |tx| {
        identities::remember(tx, Platform::Teams, user_id, &addresses, now)
    })
    .await?;
    Ok(addresses)
}

/// Reads the sender's profile in the background when jitbot does not know it yet, so that
/// owners listed by email can be found in Teams later. Best effort: the next activity tries again.
pub async fn learn_email(
    teams: &std::sync::Arc<TeamsChat>,
    activity: &Activity,
    now: DateTime<Utc>,
) -> store::Result<()> {
    let (Some(from), Some(user_id)) = (&activity.from, user_id(activity)) else {
        return Ok(());
    };
    if identities::addresses_of(
        &*teams.db.read()?,
        Platform::Teams,
        &user_id,
        now - FRESH_FOR,
    )?
    .is_some()
    {
        return Ok(());
    }
    let (teams, mri) = (teams.clone(), from.id.clone());
    let (service_url, conversation) = (
        activity.service_url.clone(),
        activity.conversation.id.clone(),
    );
    let read = async move {
        let read = read_profile(&teams, &user_id, &service_url, &conversation, &mri, now);
        if let Err(error) = read.await {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not read a Teams profile"
            );
        }
    };
    // In the HTTP span of the activity that prompted it.
    tokio::spawn(read.in_current_span());
    Ok(())
}

fn principal(user_id: &str, addresses: Vec<String>) -> Principal {
    Principal::new(Account::new(Platform::Teams, user_id)).with_emails(addresses)
}

/// The person with whatever addresses the cache knows: for paths that must answer at once.
pub async fn cached(
    teams: &TeamsChat,
    user_id: &str,
    now: DateTime<Utc>,
) -> store::Result<Principal> {
    let addresses = identities::addresses_of(
        &*teams.db.read()?,
        Platform::Teams,
        user_id,
        now - FRESH_FOR,
    )?;
    Ok(principal(user_id, addresses.unwrap_or_default()))
}

/// The person with verified addresses, reading their Teams profile where they were last seen
/// when the cache has no fresh answer (or always, with `fresh`).
pub async fn resolve(
    teams: &TeamsChat,
    user_id: &str,
    fresh: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Principal> {
    let (user, conversation) = {
        let db = teams.db.read()?;
        if !fresh
            && let Some(addresses) =
                identities::addresses_of(&db, Platform::Teams, user_id, now - FRESH_FOR)?
        {
            return Ok(principal(user_id, addresses));
        }
        let user = teams::user(&db, user_id)?
            .with_context(|| format!("Teams user {user_id} has not talked to jitbot"))?;
        let conversation = teams::conversation(&db, &user.last_conversation_id)?
            .context("the conversation the user was last seen in is unknown")?;
        (user, conversation)
    };
    let addresses = read_profile(
        teams,
        user_id,
        &conversation.service_url,
        &conversation.conversation_id,
        &user.mri,
        now,
    )
    .await?;
    Ok(principal(user_id, addresses))
}

/// The sender of an activity, with verified addresses: from the cache, else read from Teams
/// through this conversation — briefly, since the click must be answered.
pub async fn of_sender(
    teams: &TeamsChat,
    activity: &Activity,
    now: DateTime<Utc>,
) -> Result<Principal, Refusal> {
    let (Some(from), Some(user_id)) = (&activity.from, user_id(activity)) else {
        return Err(Refusal::UnknownIdentity(
            "Teams did not say who you are in your organisation's directory".into(),
        ));
    };
    let unknown = |error: anyhow::Error| {
        let id = crate::error_id::new();
        tracing::warn!(error_id = %id, error = format!("{error:#}"), "could not read a Teams profile at a click");
        Refusal::UnknownIdentity(format!("error {id}"))
    };
    let cached = teams
        .db
        .read()
        .and_then(|db| identities::addresses_of(&db, Platform::Teams, &user_id, now - FRESH_FOR));
    if let Some(addresses) = cached.map_err(|e| unknown(e.into()))? {
        return Ok(principal(&user_id, addresses));
    }
    let read = read_profile(
        teams,
        &user_id,
        &activity.service_url,
        &activity.conversation.id,
        &from.id,
        now,
    );
    match tokio::time::timeout(LOOKUP_TIMEOUT, read).await {
        Ok(Ok(addresses)) => Ok(principal(&user_id, addresses)),
        Ok(Err(error)) => Err(unknown(error)),
        Err(_) => Err(Refusal::UnknownIdentity(
            "Teams did not answer in time".into(),
        )),
    }
}

/// The MRI (`29:` id) of an owner who has talked to the bot: what `refresh.userIds` lists.
pub fn owner_mri(teams: &TeamsChat, owner: &Owner) -> store::Result<Option<String>> {
    Ok(known_user(teams, owner)?.map(|user| user.mri))
}

fn known_user(teams: &TeamsChat, owner: &Owner) -> store::Result<Option<teams::TeamsUser>> {
    match owner {
        Owner::TeamsUser(id) => teams::user(&*teams.db.read()?, id.as_str()),
        Owner::Directory { id, .. } => teams::user(&*teams.db.read()?, id),
        Owner::Email(email) => teams::user_with_email(&*teams.db.read()?, email),
        Owner::SlackUser(_) => Ok(None),
    }
}

/// Where to DM an owner: their chat with the bot, started if needed. `None` when the owner has
/// never talked to the bot, so Teams has given jitbot no way to reach them.
pub async fn dm_conversation(
    teams: &TeamsChat,
    owner: &Owner,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(String, String)>> {
    let Some(user) = known_user(teams, owner)? else {
        return Ok(None);
    };
    let seen_in = teams::conversation(&*teams.db.read()?, &user.last_conversation_id)?
        .context("the conversation the owner was last seen in is unknown")?;
    if let Some(personal) = &user.personal_conversation_id {
        let service_url = teams::conversation(&*teams.db.read()?, personal)?
            .map(|c| c.service_url)
            .unwrap_or(seen_in.service_url);
        return Ok(Some((service_url, personal.clone())));
    }
    let tenant = seen_in
        .tenant_id
        .clone()
        .or_else(|| teams.tenant_id.clone());
    let mut parameters = json!({
        "isGroup": false,
        "members": [{ "id": user.mri }],
        "channelData": { "tenant": { "id": tenant } },
    });
    if let Some(bot) = teams.connector.bot_id() {
        parameters["bot"] = json!({ "id": bot });
    }
    let (conversation, _) = teams
        .connector
        .create_conversation(&seen_in.service_url, &parameters)
        .await?;
    let (service_url, tenant) = (&seen_in.service_url, tenant.as_deref());
    store::write(&teams.db, |tx| {
        teams::remember_conversation(tx, &conversation, service_url, tenant, now)?;
        teams::set_personal_conversation(tx, &user.aad_object_id, &conversation)
    })
    .await?;
    Ok(Some((seen_in.service_url, conversation)))
}
