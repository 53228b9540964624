//! The jobs' Slack side: post the thread and the cards, keep them current, reply in threads.

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};

use super::blocks::{self, RequestView};
use super::identity;
use super::text;
use crate::access::owners;
use crate::app::App;
use crate::domain::CardDestination;
use crate::domain::Decision;
use crate::domain::{AccessRequest, Notice, Owner, Platform, RequestStatus, wording};
use crate::names::Names;
use crate::store::decisions;
use crate::store::messages::{self, Role};
use crate::store::requests;

/// Posts the visible "request #N" message where the person asked. If the bot cannot post there
/// (a private channel it is not in), the thread goes to a DM with the requester instead.
pub async fn announce(app: &App, request_id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    if !messages::find_on(&app.db, request_id, Role::Thread, Platform::Slack)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let Some(request) = requests::get(&app.db, request_id).await? else {
        return Ok(());
    };
    let context = MessageContext::load(app, &request, now).await?;
    let (text, blocks) = blocks::thread_root(&context.view(&request));
    let channel = request.origin_channel.clone();
    let (channel, ts) = match app
        .slack
        .post_message(&channel, None, text.clone(), Some(blocks.clone()))
        .await
    {
        Ok(ts) => (channel, ts),
        Err(error) if cannot_post_there(&error) => {
            tracing::info!(request_id, %error, "posting the request thread to the requester's DM instead");
            let dm = app.slack.open_dm(&request.requester.account.id).await?;
            let ts = app
                .slack
                .post_message(&dm, None, text, Some(blocks))
                .await?;
            (dm, ts)
        }
        Err(error) => return Err(error),
    };
    messages::remember(
        &app.db,
        request_id,
        Platform::Slack,
        Role::Thread,
        &channel,
        &ts,
    )
    .await?;
    Ok(())
}

fn cannot_post_there(error: &anyhow::Error) -> bool {
    let text = error.to_string();
    ["channel_not_found", "not_in_channel", "is_archived"]
        .iter()
        .any(|code| text.contains(code))
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
    let channel = match destination {
        CardDestination::Channel { channel } => channel.clone(),
        CardDestination::Owner { owner } => {
            let owner = Owner::parse(owner).map_err(|e| anyhow!(e))?;
            let group = app.policy().group(&request.group);
            if !group.is_ok_and(|g| g.may_decide(&owner, &request.requester)) {
                return Ok(());
            }
            let Some(user_id) = identity::owner_user_id(app, &owner, now).await? else {
                tracing::warn!(request_id, %owner, "owner has no Slack account; no card sent to them");
                return Ok(());
            };
            app.slack.open_dm(&user_id).await?
        }
    };
    if messages::has(&app.db, request_id, Role::Card, &channel).await? {
        return Ok(());
    }
    let context = MessageContext::load(app, &request, now).await?;
    let (text, blocks) = blocks::card(&context.view(&request));
    let ts = app
        .slack
        .post_message(&channel, None, text, Some(blocks))
        .await?;
    messages::remember(
        &app.db,
        request_id,
        Platform::Slack,
        Role::Card,
        &channel,
        &ts,
    )
    .await?;
    Ok(())
}

/// Re-renders the Slack thread root and every Slack card from the request's current state.
pub async fn refresh(app: &App, request_id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(request) = requests::get(&app.db, request_id).await? else {
        return Ok(());
    };
    if messages::find_on(&app.db, request_id, Role::Thread, Platform::Slack)
        .await?
        .is_empty()
        && messages::find_on(&app.db, request_id, Role::Card, Platform::Slack)
            .await?
            .is_empty()
    {
        return Ok(());
    }
    let context = MessageContext::load(app, &request, now).await?;
    let view = context.view(&request);
    for (role, (text, blocks)) in [
        (Role::Thread, blocks::thread_root(&view)),
        (Role::Card, blocks::card(&view)),
    ] {
        for message in messages::find_on(&app.db, request_id, role, Platform::Slack).await? {
            app.slack
                .update_message(
                    &message.conversation,
                    &message.message_id,
                    text.clone(),
                    blocks.clone(),
                )
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
    let thread = messages::thread(&app.db, request.id, Platform::Slack)
        .await?
        .context("the request's thread has not been posted yet")?;
    let names = Names::load(app, notice.people()).await?;
    let message = text::with_names(&names, |style| wording::notice(notice, style));
    app.slack
        .post_message(
            &thread.conversation,
            Some(&thread.message_id),
            message,
            None,
        )
        .await?;
    Ok(())
}

/// Replies under every Slack approval card, mentioning the owners so that they are notified.
pub async fn notify_owners(
    app: &App,
    request: &AccessRequest,
    notice: &Notice,
) -> anyhow::Result<()> {
    let cards = messages::find_on(&app.db, request.id, Role::Card, Platform::Slack).await?;
    if cards.is_empty() {
        return Ok(());
    }
    let context = MessageContext::load(app, request, Utc::now()).await?;
    let names = Names::load(app, notice.people()).await?;
    let notice = text::with_names(&names, |style| wording::notice(notice, style));
    let message = format!("{} {notice}", context.owners.join(" "));
    for card in cards {
        app.slack
            .post_message(
                &card.conversation,
                Some(&card.message_id),
                message.clone(),
                None,
            )
            .await?;
    }
    Ok(())
}

/// What the messages show beyond the request row: the group, the decisions, the owners.
struct MessageContext {
    description: String,
    approvals_required: u32,
    decisions: Vec<Decision>,
    owners: Vec<String>,
    /// People from other platforms (a Teams approver, say), by name.
    names: Names,
}

impl MessageContext {
    async fn load(
        app: &App,
        request: &AccessRequest,
        now: DateTime<Utc>,
    ) -> anyhow::Result<MessageContext> {
        let group = owners::group_of(app, request);
        let group = group.as_ref();
        let mut owners = Vec::new();
        for owner in group.map(|g| g.owners.as_slice()).unwrap_or_default() {
            // An owner Slack cannot find is still shown, by email.
            let shown = match identity::owner_user_id(app, owner, now).await {
                Ok(Some(id)) => format!("<@{id}>"),
                _ => text::owner(owner),
            };
            owners.push(shown);
        }
        let decisions = decisions::of_request(&app.db, request.id).await?;
        let mut people = vec![request.requester.account.clone()];
        people.extend(decisions.iter().map(|d| d.decider.clone()));
        Ok(MessageContext {
            description: group.map(|g| g.description.clone()).unwrap_or_default(),
            approvals_required: group.map(|g| g.approvals_required).unwrap_or(1),
            names: Names::load(app, people).await?,
            decisions,
            owners,
        })
    }

    fn view<'a>(&'a self, request: &'a AccessRequest) -> RequestView<'a> {
        RequestView {
            request,
            description: &self.description,
            decisions: &self.decisions,
            approvals_required: self.approvals_required,
            owners: &self.owners,
            names: &self.names,
        }
    }
}
