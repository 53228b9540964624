//! On behalf: whoever asked for someone else is verified afresh and must be that person's
//! manager in Entra ID or a delegate of the group; a manager who owns the group may approve by
//! rule where the group allows it.

use chrono::{DateTime, Utc};

use super::{Core, directory};
use crate::domain::{AccessRequest, GroupPolicy, Principal, Refusal};

/// What the check found about whoever asked on the requester's behalf.
pub struct Behalf {
    /// The submitter, with facts from verified sources only.
    pub submitter: Principal,
    /// The rule that approves the request without another owner, when the manager may.
    pub rule: Option<String>,
}

pub const SELF_APPROVAL_RULE: &str =
    "manager_can_self_approve: approved by the requester's manager, an owner";

/// `None` when nobody asked on the requester's behalf. `requester` is the person asked for,
/// already verified. `Err` when a platform or Graph did not answer: the check is retried.
pub async fn authorise(
    core: &Core,
    group: &GroupPolicy,
    request: &AccessRequest,
    requester: &Principal,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Option<Behalf>, Refusal>> {
    let Some(submitted_by) = &request.submitted_by else {
        return Ok(Ok(None));
    };
    let account = &submitted_by.account;
    let submitter = match core.chat(account.platform)?.principal(account, now).await? {
        Ok(submitter) => submitter,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let submitter = match in_directory(core, group, submitter).await? {
        Ok(submitter) => submitter,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let delegate = group
        .lifecycle
        .delegates
        .iter()
        .any(|d| d.matches(&submitter));
    let manager = is_manager(core, requester, &submitter).await?;
    if !manager && !delegate {
        return Ok(Err(Refusal::NotTheirManager {
            group: group.name.clone(),
        }));
    }
    // As in Entra access packages: a manager who is also an owner may approve for a report.
    // A delegate who is not the manager never does.
    let self_approves =
        manager && group.lifecycle.manager_can_self_approve && group.is_owner(&submitter);
    Ok(Ok(Some(Behalf {
        submitter,
        rule: self_approves.then(|| SELF_APPROVAL_RULE.to_string()),
    })))
}

/// The submitter with their Entra object id and addresses, when Graph knows them; a disabled
/// account asks for nobody.
async fn in_directory(
    core: &Core,
    group: &GroupPolicy,
    person: Principal,
) -> anyhow::Result<Result<Principal, Refusal>> {
    if !core.graph.is_configured() {
        return Ok(Ok(person));
    }
    match directory::find(core, &person).await? {
        Some(user) if !user.is_enabled() => Ok(Err(Refusal::AccountDisabled {
            group: group.name.clone(),
        })),
        Some(user) => {
            let addresses = user.verified_addresses();
            Ok(Ok(person
                .with_entra_id(Some(user.id))
                .with_emails(addresses)))
        }
        None => Ok(Ok(person)),
    }
}

/// Whether Entra ID names the submitter as the requester's manager; never without both ids.
async fn is_manager(
    core: &Core,
    requester: &Principal,
    submitter: &Principal,
) -> anyhow::Result<bool> {
    let (Some(report), Some(submitter)) = (&requester.entra_id, &submitter.entra_id) else {
        return Ok(false);
    };
    if !core.graph.is_configured() {
        return Ok(false);
    }
    Ok(core
        .graph
        .manager(report)
        .await?
        .is_some_and(|manager| manager.id.eq_ignore_ascii_case(submitter)))
}
