//! Slack as a `Chat`: the thread where a request was made, approval cards in a channel or by
//! DM, updates in place, replies in threads — and who a Slack user is.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::api::SlackApi;
use super::blocks::{self, Shown};
use super::identity;
use super::text;
use crate::access::shown::{self, Fingerprint};
use crate::access::{Chat, RequestView};
use crate::domain::buttons::Button;
use crate::domain::{
    Account, CardDestination, Notice, Owner, Platform, Principal, Refusal, wording,
};
use crate::store::messages::{self, Role};
use crate::store::{self, Db};
use slack_morphism::prelude::*;

/// The Slack Web API and what jitbot remembers of Slack.
pub struct SlackChat {
    pub api: SlackApi,
    pub db: Db,
    /// Whether a bot token is set, so that jitbot can post and open DMs by itself.
    pub connected: bool,
}

#[async_trait]
impl Chat for SlackChat {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn reaches_owners(&self) -> bool {
        self.connected
    }

    async fn principal(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Principal, Refusal>> {
        identity::fresh(self, &account.id, now).await
    }

    async fn time_zone(&self, account: &Account) -> anyhow::Result<Option<String>> {
        Ok(self.api.user(&account.id).await?.time_zone)
    }

    async fn can_reach(&self, owner: &Owner, now: DateTime<Utc>) -> anyhow::Result<bool> {
        Ok(identity::owner_user_id(self, owner, now).await?.is_some())
    }

    /// Posts the visible "request #N" message where the person asked. If the bot cannot post
    /// there (a private channel it is not in), the thread goes to a DM with the requester.
    async fn announce(&self, view: &RequestView, now: DateTime<Utc>) -> anyhow::Result<()> {
        let request = &view.request;
        if !messages::find_on(&*self.db.read()?, request.id, Role::Thread, Platform::Slack)?
            .is_empty()
        {
            return Ok(());
        }
        let owners = self.owner_mentions(view, now).await;
        let (text, blocks) = blocks::thread_root(&shown(view, &owners, now));
        let fingerprint = fingerprint(&text, &blocks)?;
        let channel = request.origin_channel.clone();
        let (channel, ts) = match self
            .api
            .post_message(&channel, None, text.clone(), Some(blocks.clone()))
            .await
        {
            Ok(ts) => (channel, ts),
            Err(error) if cannot_post_there(&error) => {
                tracing::info!(request_id = request.id, %error, "posting the request thread to the requester's DM instead");
                let dm = self.api.open_dm(&request.requester.account.id).await?;
                let ts = self.api.post_message(&dm, None, text, Some(blocks)).await?;
                (dm, ts)
            }
            Err(error) => return Err(error),
        };
        let role = Role::Thread;
        store::write(&self.db, |tx| {
            let shown = fingerprint.as_str();
            messages::remember(tx, request.id, Platform::Slack, role, &channel, &ts, shown)
        })
        .await?;
        Ok(())
    }

    async fn post_card(
        &self,
        view: &RequestView,
        destination: &CardDestination,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let request_id = view.request.id;
        let channel = match destination {
            CardDestination::Channel { channel } => channel.clone(),
            CardDestination::Owner { owner } => {
                let owner = Owner::parse(owner).map_err(|e| anyhow::anyhow!(e))?;
                let Some(user_id) = identity::owner_user_id(self, &owner, now).await? else {
                    tracing::warn!(request_id, %owner, "owner has no Slack account; no card sent to them");
                    return Ok(());
                };
                self.api.open_dm(&user_id).await?
            }
        };
        if messages::has(&*self.db.read()?, request_id, Role::Card, &channel)? {
            return Ok(());
        }
        let owners = self.owner_mentions(view, now).await;
        let (text, blocks) = blocks::card(&shown(view, &owners, now));
        let fingerprint = fingerprint(&text, &blocks)?;
        let ts = self
            .api
            .post_message(&channel, None, text, Some(blocks))
            .await?;
        store::write(&self.db, |tx| {
            let shown = fingerprint.as_str();
            messages::remember(
                tx,
                request_id,
                Platform::Slack,
                Role::Card,
                &channel,
                &ts,
                shown,
            )
        })
        .await?;
        Ok(())
    }

    /// Re-renders the Slack thread root and every Slack card from the request's current state,
    /// and updates those whose rendering differs from what they last showed.
    async fn refresh(&self, view: &RequestView, now: DateTime<Utc>) -> anyhow::Result<()> {
        let request_id = view.request.id;
        let (threads, cards) = {
            let db = self.db.read()?;
            (
                messages::find_on(&db, request_id, Role::Thread, Platform::Slack)?,
                messages::find_on(&db, request_id, Role::Card, Platform::Slack)?,
            )
        };
        if threads.is_empty() && cards.is_empty() {
            return Ok(());
        }
        let owners = self.owner_mentions(view, now).await;
        let shown = shown(view, &owners, now);
        for (found, (text, blocks)) in [
            (threads, blocks::thread_root(&shown)),
            (cards, blocks::card(&shown)),
        ] {
            let fingerprint = fingerprint(&text, &blocks)?;
            for message in found {
                shown::update_if_changed(&self.db, &message, &fingerprint, || {
                    self.api.update_message(
                        &message.conversation,
                        &message.message_id,
                        text.clone(),
                        blocks.clone(),
                    )
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn tell_requester(&self, view: &RequestView, notice: &Notice) -> anyhow::Result<()> {
        let thread =
            messages::thread(&*self.db.read()?, view.request.thread_id(), Platform::Slack)?
                .context("the request's thread has not been posted yet")?;
        let mut message = notice_text(view, notice);
        // A reason meant for the requester alone goes to their DM when the thread is in a
        // channel (DM channel ids start with `D`); the thread only says that it happened.
        if notice.is_private() && !thread.conversation.starts_with('D') {
            let dm = self
                .api
                .open_dm(&notice.private_to(&view.request).id)
                .await?;
            let private = format!("Request #{}: {message}", view.request.thread_id());
            self.api.post_message(&dm, None, private, None).await?;
            message = text::with_names(&view.names, |style| wording::told_privately(notice, style));
        }
        // The warning before the end carries what can be done about it.
        let blocks = match notice {
            Notice::EndingSoon { .. } => {
                let buttons = [Button::Extend, Button::Release];
                blocks::actions(view.request.id, &buttons).map(|actions| {
                    vec![
                        SlackSectionBlock::new()
                            .with_text(md!(message.clone()))
                            .into(),
                        actions.into(),
                    ]
                })
            }
            _ => None,
        };
        self.api
            .post_message(
                &thread.conversation,
                Some(&thread.message_id),
                message,
                blocks,
            )
            .await?;
        Ok(())
    }

    async fn tell_person(
        &self,
        person: &Account,
        view: &RequestView,
        notice: &Notice,
    ) -> anyhow::Result<()> {
        let dm = self.api.open_dm(&person.id).await?;
        let message = notice_text(view, notice);
        self.api.post_message(&dm, None, message, None).await?;
        Ok(())
    }

    /// Replies under every Slack approval card, mentioning the owners so that they are notified.
    async fn tell_owners(&self, view: &RequestView, notice: &Notice) -> anyhow::Result<()> {
        let cards = messages::find_on(
            &*self.db.read()?,
            view.request.id,
            Role::Card,
            Platform::Slack,
        )?;
        if cards.is_empty() {
            return Ok(());
        }
        let owners = self.owner_mentions(view, Utc::now()).await;
        let message = format!("{} {}", owners.join(" "), notice_text(view, notice));
        for card in cards {
            self.api
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

    async fn post_to_channel(&self, channel: &str, text: &str) -> anyhow::Result<()> {
        self.api
            .post_message(channel, None, text.to_string(), None)
            .await?;
        Ok(())
    }
}

impl SlackChat {
    /// The owners as Slack shows them: a mention for those it can find, else their entry.
    async fn owner_mentions(&self, view: &RequestView, now: DateTime<Utc>) -> Vec<String> {
        let mut shown = Vec::new();
        for owner in view.owners() {
            shown.push(match identity::owner_user_id(self, owner, now).await {
                Ok(Some(id)) => format!("<@{id}>"),
                _ => text::owner(owner),
            });
        }
        shown
    }
}

fn shown<'a>(view: &'a RequestView, owners: &'a [String], now: DateTime<Utc>) -> Shown<'a> {
    Shown {
        now,
        request: &view.request,
        description: view.description(),
        decisions: &view.decisions,
        approvals_required: view.approvals_required(),
        owners,
        names: &view.names,
    }
}

/// What a message with this text and these blocks shows, as `chat.postMessage` and
/// `chat.update` send it.
fn fingerprint(text: &str, blocks: &[SlackBlock]) -> anyhow::Result<Fingerprint> {
    Fingerprint::of(&(text, blocks))
}

fn notice_text(view: &RequestView, notice: &Notice) -> String {
    text::with_names(&view.names, |style| wording::notice(notice, style))
}

fn cannot_post_there(error: &anyhow::Error) -> bool {
    let text = error.to_string();
    ["channel_not_found", "not_in_channel", "is_archived"]
        .iter()
        .any(|code| text.contains(code))
}
