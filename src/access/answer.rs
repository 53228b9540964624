//! Answer: what a typed command gets back — help, the groups, the asker's requests, a new request
//! or a refusal — decided here, rendered by each platform.

use chrono::{DateTime, Utc};

use super::names::Names;
use super::submit::{Submission, Submitted, submit};
use super::{AccessError, Core};
use crate::domain::{AccessRequest, Command, GroupPolicy, Principal, Refusal};
use crate::store::requests;

/// What a command's answer says, before any platform renders it.
pub enum Answer {
    Help,
    /// What can be requested: the policy (`Core::policy`).
    Groups,
    /// The asker's pending and active requests.
    Status {
        open: Vec<AccessRequest>,
        now: DateTime<Utc>,
    },
    /// The request form, offering these groups (none: there is nothing to offer).
    Form {
        groups: Vec<GroupPolicy>,
    },
    /// A request stored and queued for its check.
    Submitted(Submitted),
    /// What the person did wrong, with the names of anyone it speaks of.
    Refused(Refusal, Names),
}

/// Answers a command typed by `asker` in `place` (a channel or conversation id). Only the
/// database is asked: the answer must not wait on Slack, Teams or Graph.
pub async fn answer(
    core: &Core,
    asker: Principal,
    place: &str,
    command: Result<Command, Refusal>,
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
        Ok(Command::Status) => Ok(Answer::Status {
            open: requests::open_of(&core.db, &asker).await?,
            now,
        }),
        Ok(Command::Form) => Ok(Answer::Form {
            groups: super::requestable::requestable(core, &asker, now).await?,
        }),
        Ok(Command::Request(command)) => {
            let submission = Submission {
                requester: asker,
                origin_channel: place.to_string(),
                command,
            };
            match submit(core, submission, now).await {
                Ok(submitted) => Ok(Answer::Submitted(submitted)),
                Err(AccessError::Refused(refusal)) => refused(refusal).await,
                Err(AccessError::Internal(error)) => Err(error),
            }
        }
    }
}
