//! Answer: what a typed command gets back — help, the groups, the asker's requests (and an
//! owner's), a new request or a refusal — decided here, rendered by each platform.

use chrono::{DateTime, Utc};

use super::act::{Acted, act};
use super::names::Names;
use super::status;
use super::submit::{Submission, Submitted, submit};
use super::{AccessError, Core};
use crate::domain::{
    AccessRequest, Account, Command, GroupPolicy, OwnerStatus, Principal, Refusal, RequestCommand,
};
use crate::store::requests;

/// What a command's answer says, before any platform renders it.
pub enum Answer {
    Help,
    /// What can be requested: the policy (`Core::policy`).
    Groups,
    /// The asker's pending and active requests and, for an owner, what awaits their decision
    /// and who holds their groups — with the names of the requesters listed.
    Status {
        open: Vec<AccessRequest>,
        owner: OwnerStatus,
        names: Names,
        now: DateTime<Utc>,
    },
    /// The request form, offering these groups (none: there is nothing to offer).
    Form {
        groups: Vec<GroupPolicy>,
    },
    /// A request stored and queued for its check.
    Submitted(Submitted),
    /// An action on an existing request, done.
    Acted(Acted),
    /// What the person did wrong, with the names of anyone it speaks of.
    Refused(Refusal, Names),
}

/// Answers a command typed by `asker` in `place` (a channel or conversation id); `on_behalf_of`
/// is the account the adapter found for a request's `for <person>`. Only the database is asked:
/// the answer must not wait on Slack, Teams or Graph.
pub async fn answer(
    core: &Core,
    asker: Principal,
    place: &str,
    command: Result<Command, Refusal>,
    on_behalf_of: Option<Account>,
    now: DateTime<Utc>,
) -> anyhow::Result<Answer> {
    let refused = |refusal: Refusal| async move {
        let names = Names::for_refusal(&core.db, &refusal).await?;
        anyhow::Ok(Answer::Refused(refusal, names))
    };
    match command {
        Err(refusal) => refused(refusal).await,
        Ok(Command::Help) => Ok(Answer::Help),
        Ok(Command::Groups) => Ok(Answer::Groups),
        Ok(Command::Status) => {
            let (owner, names) = status::of_owner(core, &asker).await?;
            let open = requests::open_of(&*core.db.read()?, &asker)?;
            Ok(Answer::Status {
                open,
                owner,
                names,
                now,
            })
        }
        Ok(Command::Act { id, action }) => match act(core, &asker, id, &action, now).await {
            Ok(acted) => Ok(Answer::Acted(acted)),
            Err(AccessError::Refused(refusal)) => refused(refusal).await,
            Err(AccessError::Internal(error)) => Err(error),
        },
        Ok(Command::Form) => Ok(Answer::Form {
            groups: super::requestable::requestable(core, &asker, now).await?,
        }),
        Ok(Command::Request(command)) => {
            let asked = Asked {
                asker,
                on_behalf_of,
                break_glass: false,
            };
            submitted(core, asked, place, command, now, refused).await
        }
        Ok(Command::BreakGlass {
            group,
            justification,
        }) => {
            let command = RequestCommand {
                group,
                duration: None,
                justification,
                on_behalf_of: None,
                start: None,
            };
            let asked = Asked {
                asker,
                on_behalf_of: None,
                break_glass: true,
            };
            submitted(core, asked, place, command, now, refused).await
        }
    }
}

/// Who asks, for whom, and whether for break-glass access.
struct Asked {
    asker: Principal,
    on_behalf_of: Option<Account>,
    break_glass: bool,
}

async fn submitted<F, R>(
    core: &Core,
    asked: Asked,
    place: &str,
    command: RequestCommand,
    now: DateTime<Utc>,
    refused: F,
) -> anyhow::Result<Answer>
where
    F: FnOnce(Refusal) -> R,
    R: std::future::Future<Output = anyhow::Result<Answer>>,
{
    let submission = Submission {
        requester: asked.asker,
        on_behalf_of: asked.on_behalf_of,
        origin_channel: place.to_string(),
        command,
        break_glass: asked.break_glass,
    };
    match submit(core, submission, now).await {
        Ok(submitted) => {
            core.metrics.request("submitted");
            Ok(Answer::Submitted(submitted))
        }
        Err(AccessError::Refused(refusal)) => {
            core.metrics.request("refused");
            refused(refusal).await
        }
        Err(AccessError::Internal(error)) => Err(error),
    }
}
