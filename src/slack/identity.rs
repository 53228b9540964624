//! Slack users ↔ emails, cached in the database: owners listed by email are matched this way.

use chrono::{DateTime, Duration, Utc};

use crate::app::App;
use crate::domain::{Owner, Person, Platform};
use crate::store::identities;

/// How long a looked-up email is trusted before Slack is asked again.
const FRESH_FOR: Duration = Duration::hours(24);

/// The person with whatever email the cache knows, without asking Slack: for paths that must
/// answer at once.
pub async fn cached(app: &App, user_id: &str, now: DateTime<Utc>) -> sqlx::Result<Person> {
    let email = identities::email_of(&app.db, Platform::Slack, user_id, now - FRESH_FOR).await?;
    Ok(Person::new(Platform::Slack, user_id).with_email(email.flatten()))
}

/// The person with their email, asking Slack (`users.info`) when the cache has no fresh answer.
pub async fn resolve(app: &App, user_id: &str, now: DateTime<Utc>) -> anyhow::Result<Person> {
    let email = match identities::email_of(&app.db, Platform::Slack, user_id, now - FRESH_FOR)
        .await?
    {
        Some(email) => email,
        None => {
            let email = app.slack.user_email(user_id).await?;
            identities::remember(&app.db, Platform::Slack, user_id, email.as_deref(), now).await?;
            email
        }
    };
    Ok(Person::new(Platform::Slack, user_id).with_email(email))
}

/// The Slack user id of an owner, or `None` when the workspace has no such person.
pub async fn owner_user_id(
    app: &App,
    owner: &Owner,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    match owner {
        Owner::SlackUser(id) => Ok(Some(id.clone())),
        Owner::TeamsUser(_) => Ok(None),
        Owner::Directory { emails, .. } => match emails.first() {
            Some(email) => Box::pin(owner_user_id(app, &Owner::Email(email.clone()), now)).await,
            None => Ok(None),
        },
        Owner::Email(email) => {
            if let Some(id) =
                identities::user_with_email(&app.db, Platform::Slack, email, now - FRESH_FOR)
                    .await?
            {
                return Ok(Some(id));
            }
            let found = app.slack.user_by_email(email).await?;
            if let Some(id) = &found {
                identities::remember(&app.db, Platform::Slack, id, Some(email), now).await?;
            }
            Ok(found)
        }
    }
}
