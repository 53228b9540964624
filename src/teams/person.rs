//! `for <person>` in Teams: an @mention (its entity names the person) or a verified email
//! address of someone who has talked to the bot, turned into a Teams account.

use super::activity::Activity;
use super::chat::TeamsChat;
use crate::domain::identity::is_guid;
use crate::domain::{Account, Command, Platform, Principal, Refusal, RequestAction};
use crate::store::{self, teams};

/// The account a request's `for` names, `None` when it names nobody, or why it cannot be used.
/// Only the database is read; the check verifies the person afresh.
pub async fn on_behalf_of(
    chat: &TeamsChat,
    activity: &Activity,
    asker: &Principal,
    command: &Result<Command, Refusal>,
) -> store::Result<Result<Option<Account>, Refusal>> {
    let Ok(Command::Request(request)) = command else {
        return Ok(Ok(None));
    };
    let Some(typed) = &request.on_behalf_of else {
        return Ok(Ok(None));
    };
    let aad_object_id = if let Some(mentioned) = activity.mentioned(typed) {
        let known = match &mentioned.aad_object_id {
            Some(id) if is_guid(id) => teams::user(&*chat.db.read()?, id)?,
            _ => teams::user_with_mri(&*chat.db.read()?, &mentioned.id)?,
        };
        // The check reads the person's Teams profile where they last talked to jitbot: someone
        // who never has cannot be verified, and is told so now rather than after the retries.
        match known {
            Some(user) => Some(user.aad_object_id),
            None => return Ok(Err(Refusal::PersonNotSeen(shown(activity, typed)))),
        }
    } else if typed.contains('@') && !typed.starts_with(['@', '<']) {
        if asker.has_email(typed) {
            return Ok(Err(Refusal::ForYourself));
        }
        teams::user_with_email(&*chat.db.read()?, typed)?.map(|user| user.aad_object_id)
    } else {
        None
    };
    let Some(id) = aad_object_id else {
        return Ok(Err(Refusal::UnknownPerson(shown(activity, typed))));
    };
    let account = Account::new(Platform::Teams, id.to_ascii_lowercase());
    if account == asker.account {
        return Ok(Err(Refusal::ForYourself));
    }
    Ok(Ok(Some(account)))
}

/// Puts other people's mentions back into what is kept as typed: `command_text` marked them.
pub fn unmark_mentions(activity: &Activity, command: &mut Result<Command, Refusal>) {
    match command {
        Ok(Command::Request(request)) => {
            request.justification = activity.unmarked(&request.justification);
        }
        Ok(Command::BreakGlass { justification, .. }) => {
            *justification = activity.unmarked(justification);
        }
        Ok(Command::Act {
            action: RequestAction::Revoke { reason },
            ..
        }) => *reason = activity.unmarked(reason),
        _ => {}
    }
}

/// What was typed, with a mention shown by the name it had rather than its placeholder.
fn shown(activity: &Activity, typed: &str) -> String {
    activity
        .mentioned(typed)
        .and_then(|m| m.name.clone())
        .map_or_else(|| typed.to_string(), |name| format!("@{name}"))
}
