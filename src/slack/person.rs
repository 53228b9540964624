//! `for <person>` in Slack: a mention (`<@U…>`, `<@U…|name>`) or a verified email address,
//! turned into a Slack account — the only thing the core is given.

use chrono::{DateTime, Utc};

use super::chat::SlackChat;
use super::identity::FRESH_FOR;
use crate::domain::{Account, Command, Platform, Principal, Refusal};
use crate::store::{self, identities};

/// The account a request's `for` names, `None` when it names nobody, or why it cannot be used.
/// Only the cache is read: Slack's 3 seconds must not wait on Slack; the check verifies the
/// person afresh.
pub async fn on_behalf_of(
    slack: &SlackChat,
    asker: &Principal,
    command: &Result<Command, Refusal>,
    now: DateTime<Utc>,
) -> store::Result<Result<Option<Account>, Refusal>> {
    let Ok(Command::Request(request)) = command else {
        return Ok(Ok(None));
    };
    let Some(typed) = &request.on_behalf_of else {
        return Ok(Ok(None));
    };
    let unknown = || Refusal::UnknownPerson(typed.clone());
    let user_id = match mentioned(typed) {
        Some(user_id) => Some(user_id.to_string()),
        None if typed.contains('@') && !typed.starts_with('@') => {
            if asker.has_email(typed) {
                return Ok(Err(Refusal::ForYourself));
            }
            identities::user_with_email(
                &*slack.db.read()?,
                Platform::Slack,
                typed,
                now - FRESH_FOR,
            )?
        }
        // `@name` arrives only with escaping off: a display name proves nothing.
        None => None,
    };
    let Some(user_id) = user_id else {
        return Ok(Err(unknown()));
    };
    let account = Account::new(Platform::Slack, user_id);
    if account == asker.account {
        return Ok(Err(Refusal::ForYourself));
    }
    Ok(Ok(Some(account)))
}

/// The user id of an escaped mention, `<@U…>` or `<@U…|name>`.
fn mentioned(typed: &str) -> Option<&str> {
    let inner = typed.strip_prefix("<@")?.strip_suffix('>')?;
    let id = inner.split_once('|').map_or(inner, |(id, _)| id);
    let valid = id.len() >= 2
        && id.starts_with(['U', 'W'])
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    valid.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::mentioned;

    #[test]
    fn reads_escaped_mentions_only() {
        assert_eq!(mentioned("<@U0BOB>"), Some("U0BOB"));
        assert_eq!(mentioned("<@W0BOB|bob>"), Some("W0BOB"));
        assert_eq!(mentioned("<@U0BOB"), None);
        assert_eq!(mentioned("<@>"), None);
        assert_eq!(mentioned("<@C0CHAN>"), None);
        assert_eq!(mentioned("<@u0bob>"), None);
        assert_eq!(mentioned("@bob"), None);
    }
}
