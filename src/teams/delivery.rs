//! The jobs' Teams side: the status card in the requester's conversation, approval cards in a
//! channel or by DM, updates for everyone with a PUT, and replies in the request's thread.

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::cards::{self, Viewer};
use super::identity;
use super::text;
use crate::app::App;
use crate::domain::CardDestination;
use crate::domain::{AccessRequest, Notice, Owner, Platform, RequestStatus, wording};
use crate::names::Names;
use crate::store::messages::{self, Role};
use crate::store::{requests, teams};

/// Posts the status card into the conversation where the request was made — in a channel that
/// is the thread of the person's message — and keeps it as the request's thread.
pub async fn announce(app: &App, request_id: i64) -> anyhow::Result<()> {
    if !messages::find_on(&app.db, request_id, Role::Thread, Platform::Teams)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let Some(request) = requests::get(&app.db, request_id).await? else {
        return Ok(());
    };
    let conversation = teams::conversation(&app.db, &request.origin_channel)
        .await?
        .context("the conversation of the request is unknown")?;
    let card = cards::status(app, &request).await?;
    let id = app
        .teams
        .connector
        .send(
            &conversation.service_url,
            &conversation.conversation_id,
            &cards::message(card, &cards::summary(&request)),
        )
        .await?;
    messages::remember(
        &app.db,
        request_id,
        Platform::Teams,
        Role::Thread,
        &conversation.conversation_id,
        &id,
    )
    .await?;
    Ok(())
}

pub async fn post_card(
    app: &App,
    request_id: i64,
    destination: &CardDestination,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(request) = requests::get(&app.db, request_id).await? else {
        return Ok(());
    };
    if request.status != RequestStatus::Pending {
        return Ok(());
    }
    let card = cards::approval(app, &request, Viewer::Everyone).await?;
    let message = cards::message(card, &cards::summary(&request));
    let (conversation, activity_id) = match destination {
        CardDestination::Channel { channel } => {
            if messages::find_on(&app.db, request_id, Role::Card, Platform::Teams)
                .await?
                .iter()
                .any(|m| m.conversation.starts_with(channel.as_str()))
            {
                return Ok(());
            }
            start_channel_thread(app, channel, &message, now).await?
        }
        CardDestination::Owner { owner } => {
            let owner = Owner::parse(owner).map_err(|e| anyhow!(e))?;
            let group = app.policy().group(&request.group);
            if !group.is_ok_and(|g| g.may_decide(&owner, &request.requester)) {
                return Ok(());
            }
            let Some((service_url, conversation)) =
                identity::dm_conversation(app, &owner, now).await?
            else {
                tracing::info!(request_id, %owner, "owner has not talked to the bot in Teams; no card sent to them there");
                return Ok(());
            };
            if messages::has(&app.db, request_id, Role::Card, &conversation).await? {
                return Ok(());
            }
            let id = app
                .teams
                .connector
                .send(&service_url, &conversation, &message)
                .await?;
            (conversation, id)
        }
    };
    messages::remember(
        &app.db,
        request_id,
        Platform::Teams,
        Role::Card,
        &conversation,
        &activity_id,
    )
    .await?;
    Ok(())
}

/// A plain message starting a new thread in a Teams channel.
pub async fn post_to_channel(app: &App, channel: &str, text: &str) -> anyhow::Result<()> {
    start_channel_thread(app, channel, &cards::text_message(text), Utc::now()).await?;
    Ok(())
}

/// A new thread in a channel; returns the thread's conversation id and the card's activity id.
async fn start_channel_thread(
    app: &App,
    channel: &str,
    message: &serde_json::Value,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, String)> {
    let known = teams::latest_in_channel(&app.db, channel).await?;
    let service_url = known
        .as_ref()
        .map(|c| c.service_url.clone())
        .unwrap_or_else(|| app.config.teams.service_url.clone());
    let tenant = known
        .and_then(|c| c.tenant_id)
        .or_else(|| app.teams.tenant_id.clone());
    let parameters = json!({
        "isGroup": true,
        "channelData": { "channel": { "id": channel }, "tenant": { "id": tenant } },
        "activity": message,
    });
    let (conversation, activity_id) = app
        .teams
        .connector
        .create_conversation(&service_url, &parameters)
        .await?;
    let activity_id = activity_id.context("the Bot Connector returned no id for the card")?;
    // Replies and updates go to the thread: the channel id with the card's message id.
    let thread = if conversation.contains(";messageid=") {
        conversation
    } else {
        format!("{channel};messageid={activity_id}")
    };
    teams::remember_conversation(&app.db, &thread, &service_url, tenant.as_deref(), now).await?;
    Ok((thread, activity_id))
}

/// Updates the status card and every approval card in Teams for everyone.
pub async fn refresh(app: &App, request_id: i64) -> anyhow::Result<()> {
    let Some(request) = requests::get(&app.db, request_id).await? else {
        return Ok(());
    };
    for role in [Role::Thread, Role::Card] {
        let found = messages::find_on(&app.db, request_id, role, Platform::Teams).await?;
        if found.is_empty() {
            continue;
        }
        let card = match role {
            Role::Thread => cards::status(app, &request).await?,
            Role::Card => cards::approval(app, &request, Viewer::Everyone).await?,
        };
        let message = cards::message(card, &cards::summary(&request));
        for sent in found {
            let service_url = service_url_of(app, &sent.conversation).await?;
            app.teams
                .connector
                .update(&service_url, &sent.conversation, &sent.message_id, &message)
                .await?;
        }
    }
    Ok(())
}

pub async fn notify_requester(
    app: &App,
    request: &AccessRequest,
    notice: &Notice,
) -> anyhow::Result<()> {
    let thread = messages::thread(&app.db, request.id, Platform::Teams)
        .await?
        .context("the request's thread has not been posted yet")?;
    let text = notice_text(app, notice).await?;
    let service_url = service_url_of(app, &thread.conversation).await?;
    app.teams
        .connector
        .send(
            &service_url,
            &thread.conversation,
            &cards::text_message(&text),
        )
        .await?;
    Ok(())
}

/// Replies under every Teams approval card.
pub async fn notify_owners(
    app: &App,
    request: &AccessRequest,
    notice: &Notice,
) -> anyhow::Result<()> {
    let sent = messages::find_on(&app.db, request.id, Role::Card, Platform::Teams).await?;
    if sent.is_empty() {
        return Ok(());
    }
    let text = format!(
        "Owners of {}: {}",
        request.group,
        notice_text(app, notice).await?
    );
    for card in sent {
        let service_url = service_url_of(app, &card.conversation).await?;
        app.teams
            .connector
            .send(
                &service_url,
                &card.conversation,
                &cards::text_message(&text),
            )
            .await?;
    }
    Ok(())
}

async fn notice_text(app: &App, notice: &Notice) -> anyhow::Result<String> {
    let names = Names::load(app, notice.people()).await?;
    Ok(text::with_style(&names, |style| {
        wording::notice(notice, style)
    }))
}

async fn service_url_of(app: &App, conversation: &str) -> anyhow::Result<String> {
    Ok(teams::conversation(&app.db, conversation)
        .await?
        .map(|c| c.service_url)
        .unwrap_or_else(|| app.config.teams.service_url.clone()))
}
