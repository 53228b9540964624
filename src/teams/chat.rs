//! Teams as a `Chat`: the status card in the requester's conversation, approval cards in a
//! channel or by DM, updates for everyone with a PUT, replies in the request's thread — and who
//! a Teams user is.

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::auth::BotAuthenticator;
use super::cards::{self, Refreshers, Viewer};
use super::connector::Connector;
use super::identity;
use super::text;
use crate::access::shown::{self, Fingerprint};
use crate::access::{Chat, RequestView};
use crate::domain::buttons::Button;
use crate::domain::identity::Guid;
use crate::domain::{
    Account, CardDestination, Notice, Owner, Platform, Principal, Refusal, wording,
};
use crate::store::messages::{self, Role};
use crate::store::{self, Db, teams};

/// Teams lets at most 60 users get a refreshed, personal view of a card.
pub const MAX_REFRESH_USERS: usize = 60;

/// Everything jitbot needs to talk with Teams.
pub struct TeamsChat {
    pub auth: BotAuthenticator,
    pub connector: Connector,
    /// The bot registration's tenant, for conversations jitbot starts.
    pub tenant_id: Option<String>,
    /// Whether a bot is registered, so that jitbot can start conversations by itself.
    pub registered: bool,
    /// The Bot Connector to start channel threads on before Teams has told jitbot another.
    pub service_url: String,
    pub db: Db,
}

#[async_trait]
impl Chat for TeamsChat {
    fn platform(&self) -> Platform {
        Platform::Teams
    }

    fn reaches_owners(&self) -> bool {
        self.registered
    }

    async fn principal(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Principal, Refusal>> {
        Ok(Ok(identity::resolve(self, &account.id, true, now).await?))
    }

    /// As the person's Teams client said on their last message (`localTimezone`).
    async fn time_zone(&self, account: &Account) -> anyhow::Result<Option<String>> {
        Ok(teams::time_zone(&*self.db.read()?, &account.id)?)
    }

    async fn can_reach(&self, owner: &Owner, _now: DateTime<Utc>) -> anyhow::Result<bool> {
        Ok(identity::owner_mri(self, owner)?.is_some())
    }

    /// Posts the status card into the conversation where the request was made — in a channel
    /// that is the thread of the person's message — and keeps it as the request's thread.
    async fn announce(&self, view: &RequestView, now: DateTime<Utc>) -> anyhow::Result<()> {
        let request = &view.request;
        let conversation = {
            let db = self.db.read()?;
            if !messages::find_on(&db, request.id, Role::Thread, Platform::Teams)?.is_empty() {
                return Ok(());
            }
            teams::conversation(&db, &request.origin_channel)?
                .context("the conversation of the request is unknown")?
        };
        let card = cards::status(view, &self.refreshers(view).await?, now)?;
        let message = cards::message(card, &cards::summary(request));
        let fingerprint = Fingerprint::of(&message)?;
        let id = self
            .connector
            .send(
                &conversation.service_url,
                &conversation.conversation_id,
                &message,
            )
            .await?;
        let (role, conversation) = (Role::Thread, &conversation.conversation_id);
        store::write(&self.db, |tx| {
            let shown = fingerprint.as_str();
            messages::remember(
                tx,
                request.id,
                Platform::Teams,
                role,
                conversation,
                &id,
                shown,
            )
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
        let refreshers = self.refreshers(view).await?;
        let card = cards::approval(view, &refreshers, Viewer::Everyone, now)?;
        let message = cards::message(card, &cards::summary(&view.request));
        let fingerprint = Fingerprint::of(&message)?;
        let (conversation, activity_id) = match destination {
            CardDestination::Channel { channel } => {
                if messages::find_on(&*self.db.read()?, request_id, Role::Card, Platform::Teams)?
                    .iter()
                    .any(|m| m.conversation.starts_with(channel.as_str()))
                {
                    return Ok(());
                }
                self.start_channel_thread(channel, &message, now).await?
            }
            CardDestination::Owner { owner } => {
                let owner = Owner::parse(owner).map_err(|e| anyhow!(e))?;
                let Some((service_url, conversation)) =
                    identity::dm_conversation(self, &owner, now).await?
                else {
                    tracing::info!(request_id, %owner, "owner has not talked to the bot in Teams; no card sent to them there");
                    return Ok(());
                };
                if messages::has(&*self.db.read()?, request_id, Role::Card, &conversation)? {
                    return Ok(());
                }
                let id = self
                    .connector
                    .send(&service_url, &conversation, &message)
                    .await?;
                (conversation, id)
            }
        };
        let role = Role::Card;
        store::write(&self.db, |tx| {
            let (shown, id) = (fingerprint.as_str(), &activity_id);
            messages::remember(
                tx,
                request_id,
                Platform::Teams,
                role,
                &conversation,
                id,
                shown,
            )
        })
        .await?;
        Ok(())
    }

    /// Updates the status card and every approval card in Teams for everyone, those whose
    /// rendering differs from what they last showed.
    async fn refresh(&self, view: &RequestView, now: DateTime<Utc>) -> anyhow::Result<()> {
        let refreshers = self.refreshers(view).await?;
        for role in [Role::Thread, Role::Card] {
            let found =
                messages::find_on(&*self.db.read()?, view.request.id, role, Platform::Teams)?;
            if found.is_empty() {
                continue;
            }
            let card = match role {
                Role::Thread => cards::status(view, &refreshers, now)?,
                Role::Card => cards::approval(view, &refreshers, Viewer::Everyone, now)?,
            };
            let message = cards::message(card, &cards::summary(&view.request));
            let fingerprint = Fingerprint::of(&message)?;
            for sent in found {
                shown::update_if_changed(&self.db, &sent, &fingerprint, || async {
                    let service_url = self.service_url_of(&sent.conversation)?;
                    self.connector
                        .update(&service_url, &sent.conversation, &sent.message_id, &message)
                        .await
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn tell_requester(&self, view: &RequestView, notice: &Notice) -> anyhow::Result<()> {
        let thread =
            messages::thread(&*self.db.read()?, view.request.thread_id(), Platform::Teams)?
                .context("the request's thread has not been posted yet")?;
        let mut text = notice_text(view, notice);
        if notice.is_private()
            && let Some((service_url, personal)) =
                self.personal_chat(notice.private_to(&view.request)).await?
            && personal != thread.conversation
        {
            // Teams has no ephemeral messages: the reason goes to the requester's own chat.
            let message = cards::text_message(&text);
            self.connector
                .send(&service_url, &personal, &message)
                .await?;
            text = text::with_style(&view.names, |style| wording::told_privately(notice, style));
        }
        let service_url = self.service_url_of(&thread.conversation)?;
        // The warning before the end carries what can be done about it, in a card that shows the
        // end in the reader's own zone.
        let message = match notice {
            Notice::EndingSoon { .. } => {
                let buttons = [Button::Extend, Button::Release];
                let in_card =
                    text::with_card_style(&view.names, |style| wording::notice(notice, style));
                let card = cards::with_buttons(&in_card, view.request.id, &buttons)?;
                cards::message(card, &text)
            }
            _ => cards::text_message(&text),
        };
        self.connector
            .send(&service_url, &thread.conversation, &message)
            .await?;
        Ok(())
    }

    /// By the person's personal conversation with the bot, opened if need be; someone who has
    /// never talked to the bot cannot be reached, and is told in the request's thread instead.
    async fn tell_person(
        &self,
        person: &Account,
        view: &RequestView,
        notice: &Notice,
    ) -> anyhow::Result<()> {
        let text = notice_text(view, notice);
        let them = Guid::parse(&person.id).map(Owner::TeamsUser);
        let reachable = match &them {
            Some(them) => identity::dm_conversation(self, them, Utc::now()).await?,
            None => None,
        };
        match reachable {
            Some((service_url, conversation)) => {
                let message = cards::text_message(&text);
                self.connector
                    .send(&service_url, &conversation, &message)
                    .await?;
                Ok(())
            }
            None => self.tell_requester(view, notice).await,
        }
    }

    /// Replies under every Teams approval card.
    async fn tell_owners(&self, view: &RequestView, notice: &Notice) -> anyhow::Result<()> {
        let sent = messages::find_on(
            &*self.db.read()?,
            view.request.id,
            Role::Card,
            Platform::Teams,
        )?;
        if sent.is_empty() {
            return Ok(());
        }
        let text = format!(
            "Owners of {}: {}",
            view.request.group,
            notice_text(view, notice)
        );
        for card in sent {
            let service_url = self.service_url_of(&card.conversation)?;
            self.connector
                .send(
                    &service_url,
                    &card.conversation,
                    &cards::text_message(&text),
                )
                .await?;
        }
        Ok(())
    }

    /// A plain message starting a new thread in a Teams channel.
    async fn post_to_channel(&self, channel: &str, text: &str) -> anyhow::Result<()> {
        let message = cards::text_message(text);
        self.start_channel_thread(channel, &message, Utc::now())
            .await?;
        Ok(())
    }
}

impl TeamsChat {
    /// The owners Teams can name (they have talked to the bot), for `refresh.userIds`.
    pub async fn refreshers(&self, view: &RequestView) -> store::Result<Refreshers> {
        let mut mris = Vec::new();
        let mut all_named = true;
        for owner in view.owners() {
            match identity::owner_mri(self, owner)? {
                Some(mri) => mris.push(mri),
                None => all_named = false,
            }
        }
        Ok(Refreshers::at_most(MAX_REFRESH_USERS, mris, all_named))
    }

    /// A person's personal chat with the bot, started if need be; `None` when jitbot cannot
    /// start conversations (no bot registration) or Teams has given it no way to reach them.
    async fn personal_chat(&self, person: &Account) -> anyhow::Result<Option<(String, String)>> {
        let Some(id) = Guid::parse(&person.id) else {
            return Ok(None);
        };
        if person.platform != Platform::Teams || !self.registered {
            return Ok(None);
        }
        identity::dm_conversation(self, &Owner::TeamsUser(id), Utc::now()).await
    }

    /// A new thread in a channel; returns the thread's conversation id and the card's activity id.
    async fn start_channel_thread(
        &self,
        channel: &str,
        message: &Value,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, String)> {
        let known = teams::latest_in_channel(&*self.db.read()?, channel)?;
        let service_url = known
            .as_ref()
            .map(|c| c.service_url.clone())
            .unwrap_or_else(|| self.service_url.clone());
        let tenant = known
            .and_then(|c| c.tenant_id)
            .or_else(|| self.tenant_id.clone());
        let parameters = json!({
            "isGroup": true,
            "channelData": { "channel": { "id": channel }, "tenant": { "id": tenant } },
            "activity": message,
        });
        let (conversation, activity_id) = self
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
        store::write(&self.db, |tx| {
            teams::remember_conversation(tx, &thread, &service_url, tenant.as_deref(), now)
        })
        .await?;
        Ok((thread, activity_id))
    }

    fn service_url_of(&self, conversation: &str) -> store::Result<String> {
        Ok(teams::conversation(&*self.db.read()?, conversation)?
            .map(|c| c.service_url)
            .unwrap_or_else(|| self.service_url.clone()))
    }
}

fn notice_text(view: &RequestView, notice: &Notice) -> String {
    text::with_style(&view.names, |style| wording::notice(notice, style))
}
