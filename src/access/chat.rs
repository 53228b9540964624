//! The `Chat` port: how the core reaches people on one chat platform. Each platform's adapter
//! implements it (`slack/chat.rs`, `teams/chat.rs`); the core never names a platform.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::view::RequestView;
use crate::domain::{Account, CardDestination, Notice, Owner, Platform, Principal, Refusal};

#[async_trait]
pub trait Chat: Send + Sync {
    fn platform(&self) -> Platform;

    /// Whether jitbot can start conversations here by itself, so that owners can get cards by
    /// direct message (Slack with a bot token, Teams with a bot registration).
    fn reaches_owners(&self) -> bool;

    /// Who an account of this platform is, from the platform's directory, asked afresh: verified
    /// facts only — or why this account cannot ask or decide here. `Err`: the platform did not
    /// answer; the caller retries.
    async fn principal(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Principal, Refusal>>;

    /// The account's time zone (an IANA name such as `Europe/Berlin`) as the platform last said,
    /// for reading scheduled starts; `None` when unknown.
    async fn time_zone(&self, account: &Account) -> anyhow::Result<Option<String>>;

    /// Whether an owner can get a card by direct message here.
    async fn can_reach(&self, owner: &Owner, now: DateTime<Utc>) -> anyhow::Result<bool>;

    /// Opens the request's thread where the person asked (on the requester's platform).
    async fn announce(&self, view: &RequestView, now: DateTime<Utc>) -> anyhow::Result<()>;

    /// Posts the approval card to a channel or, by direct message, to an owner.
    async fn post_card(
        &self,
        view: &RequestView,
        destination: &CardDestination,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;

    /// Re-renders every message of this platform that shows the request.
    async fn refresh(&self, view: &RequestView, now: DateTime<Utc>) -> anyhow::Result<()>;

    /// Replies in the request's thread (on the requester's platform).
    async fn tell_requester(&self, view: &RequestView, notice: &Notice) -> anyhow::Result<()>;

    /// Tells one person of this platform directly, by direct message: for someone a request
    /// concerns who is not in its thread (the person asked for on their behalf).
    async fn tell_person(
        &self,
        person: &Account,
        view: &RequestView,
        notice: &Notice,
    ) -> anyhow::Result<()>;

    /// Replies under every approval card of this platform, addressed to the owners.
    async fn tell_owners(&self, view: &RequestView, notice: &Notice) -> anyhow::Result<()>;

    /// Posts a message of its own to a channel of this platform (the drift sweep's report).
    async fn post_to_channel(&self, channel: &str, text: &str) -> anyhow::Result<()>;
}
