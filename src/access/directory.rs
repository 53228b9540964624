//! Who a person is in Microsoft Entra ID: their account, whether it is enabled, whether they are
//! eligible — checked before any owner is bothered — and the facts that tie their chat accounts
//! to one person.

use super::Core;
use crate::domain::{GroupPolicy, Principal, Refusal};
use crate::graph::DirectoryUser;

/// Whether this group needs the requester's Entra account.
pub fn needs_directory(group: &GroupPolicy) -> bool {
    group.provider.is_entra() || !group.eligible.is_empty()
}

/// The person's Entra user: by object id when one is known (Teams), else by a verified address.
pub async fn find(core: &Core, person: &Principal) -> anyhow::Result<Option<DirectoryUser>> {
    match (&person.entra_id, person.email()) {
        (Some(id), _) => core.graph.user(id).await,
        (None, Some(email)) => core.graph.user_by_email(email).await,
        (None, None) => Ok(None),
    }
}

/// The person with what the directory adds: their object id and verified addresses. When the
/// group needs the directory, the account must exist, be enabled and (with `eligible`) be a
/// transitive member of an eligible group; otherwise what Graph does not know is left out.
pub async fn check_requester(
    core: &Core,
    group: &GroupPolicy,
    person: Principal,
) -> anyhow::Result<Result<Principal, Refusal>> {
    let required = needs_directory(group);
    if !required && !core.graph.is_configured() {
        return Ok(Ok(person));
    }
    let Some(user) = find(core, &person).await? else {
        if !required {
            return Ok(Ok(person));
        }
        let who = person.email().unwrap_or("you").to_string();
        return Ok(Err(Refusal::NotInDirectory {
            who,
            group: group.name.clone(),
        }));
    };
    if !user.is_enabled() {
        return Ok(Err(Refusal::AccountDisabled {
            group: group.name.clone(),
        }));
    }
    if !group.eligible.is_empty()
        && core
            .graph
            .member_groups(&user.id, &group.eligible)
            .await?
            .is_empty()
    {
        let owners: Vec<String> = group
            .owners
            .entries()
            .iter()
            .map(|o| o.to_string())
            .collect();
        return Ok(Err(Refusal::NotEligible {
            group: group.name.clone(),
            owners: owners.join(", "),
        }));
    }
    let addresses = user.verified_addresses();
    Ok(Ok(person
        .with_entra_id(Some(user.id))
        .with_emails(addresses)))
}
