//! Slack users as principals: their account, with an address only when Slack confirmed it and
//! the user belongs to our own workspace. Looked-up facts are cached in the database.

use chrono::{DateTime, Duration, Utc};

use super::api::UserFacts;
use super::chat::SlackChat;
use crate::domain::{Account, Owner, Platform, Principal, Refusal};
use crate::store::{self, identities};

/// How long looked-up facts are trusted before Slack is asked again.
pub(super) const FRESH_FOR: Duration = Duration::hours(24);

fn account(user_id: &str) -> Account {
    Account::new(Platform::Slack, user_id)
}

/// The person with whatever verified facts the cache holds, without asking Slack: for answers
/// that must not wait. Nothing decided on these alone; the request's check asks Slack.
pub async fn cached(
    slack: &SlackChat,
    user_id: &str,
    now: DateTime<Utc>,
) -> store::Result<Principal> {
    let addresses = identities::addresses_of(
        &*slack.db.read()?,
        Platform::Slack,
        user_id,
        now - FRESH_FOR,
    )?;
    Ok(Principal::new(account(user_id)).with_emails(addresses.unwrap_or_default()))
}

/// The person with verified facts, asking Slack (`users.info`) when the cache has none fresh.
/// A user of another workspace (Slack Connect) is refused: they cannot ask or decide here.
pub async fn resolve(
    slack: &SlackChat,
    user_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Principal, Refusal>> {
    let cached = identities::addresses_of(
        &*slack.db.read()?,
        Platform::Slack,
        user_id,
        now - FRESH_FOR,
    )?;
    match cached {
        Some(addresses) => Ok(Ok(Principal::new(account(user_id)).with_emails(addresses))),
        None => fresh(slack, user_id, now).await,
    }
}

/// Always asks Slack, and caches the answer: a request's check uses this once.
pub async fn fresh(
    slack: &SlackChat,
    user_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Principal, Refusal>> {
    let ours = slack.api.team_id().await?;
    let facts = match slack.api.user(user_id).await {
        Ok(facts) => facts,
        // An answer, not an outage: retrying would not make the account exist (a mention typed
        // by hand, `for <@U…>`, can name anyone).
        Err(error) if error.to_string().contains("user_not_found") => {
            return Ok(Err(Refusal::UnknownIdentity(
                "Slack knows no such account".into(),
            )));
        }
        Err(error) => return Err(error),
    };
    if facts.team_id.as_deref() != Some(ours.as_str()) {
        tracing::warn!(
            user_id,
            team = facts.team_id,
            "a Slack user of another workspace was refused"
        );
        return Ok(Err(Refusal::ForeignWorkspace));
    }
    if facts.deleted {
        return Ok(Err(Refusal::UnknownIdentity(
            "Slack says this account is deactivated".into(),
        )));
    }
    let addresses = verified_addresses(&facts);
    store::write(&slack.db, |tx| {
        identities::remember(tx, Platform::Slack, user_id, &addresses, now)
    })
    .await?;
    Ok(Ok(Principal::new(account(user_id)).with_emails(addresses)))
}

/// Slack shows an email it has not confirmed too; only a confirmed one says who someone is.
fn verified_addresses(facts: &UserFacts) -> Vec<String> {
    match (&facts.email, facts.email_confirmed) {
        (Some(email), true) => vec![email.clone()],
        _ => Vec::new(),
    }
}

/// Whether a payload from this workspace may act here. Unknown until Slack answered `auth.test`
/// once: then `None`, and the request's check (which asks Slack) decides.
pub fn from_our_workspace(slack: &SlackChat, team_id: Option<&str>) -> Option<bool> {
    let ours = slack.api.known_team_id()?;
    Some(team_id == Some(ours.as_str()))
}

/// Whether a payload's workspace (`team_id`) and its user's own workspace are ours, asking
/// Slack (`auth.test`, once) when it is not known yet: for clicks and form submissions, which
/// act. A Slack Connect user from elsewhere is refused.
pub async fn of_our_workspace(
    slack: &SlackChat,
    team_id: &str,
    user_team: Option<&str>,
) -> anyhow::Result<Result<(), Refusal>> {
    let ours = slack.api.team_id().await?;
    if team_id != ours || user_team.is_some_and(|team| team != ours) {
        return Ok(Err(Refusal::ForeignWorkspace));
    }
    Ok(Ok(()))
}

/// The Slack user id of an owner, or `None` when the workspace has nobody who verifiably holds
/// that address.
pub async fn owner_user_id(
    slack: &SlackChat,
    owner: &Owner,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let email = match owner {
        Owner::SlackUser(id) => return Ok(Some(id.clone())),
        Owner::TeamsUser(_) => return Ok(None),
        Owner::Directory { emails, .. } => match emails.first() {
            Some(email) => email,
            None => return Ok(None),
        },
        Owner::Email(email) => email,
    };
    let cached =
        identities::user_with_email(&*slack.db.read()?, Platform::Slack, email, now - FRESH_FOR)?;
    if let Some(id) = cached {
        return Ok(Some(id));
    }
    let Some(id) = slack.api.user_by_email(email).await? else {
        return Ok(None);
    };
    // The look-up matches unconfirmed addresses too: the user's own facts must confirm it.
    match fresh(slack, &id, now).await? {
        Ok(person) if person.has_email(email) => Ok(Some(id)),
        _ => Ok(None),
    }
}
