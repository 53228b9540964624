//! Who a person is in Microsoft Entra ID: for Entra-backed groups and eligibility, checked right
//! after they ask — before any owner is bothered.

use crate::app::App;
use crate::domain::{GroupPolicy, Person, Platform, Refusal};
use crate::graph::DirectoryUser;

/// Whether this group needs the requester's Entra account.
pub fn needs_directory(group: &GroupPolicy) -> bool {
    group.provider.is_entra() || !group.eligible.is_empty()
}

/// The person's Entra user: Teams gives the object id; Slack users are found by email.
pub async fn find(app: &App, person: &Person) -> anyhow::Result<Option<DirectoryUser>> {
    match (person.platform, &person.email) {
        (Platform::Teams, _) => app.graph.user(&person.user_id).await,
        (Platform::Slack, Some(email)) => app.graph.user_by_email(email).await,
        (Platform::Slack, None) => Ok(None),
    }
}

/// Checks that the requester has an enabled Entra account and, when the group names eligible
/// groups, is a (transitive) member of one. `Ok(Ok(id))`: their object id.
pub async fn check_requester(
    app: &App,
    group: &GroupPolicy,
    person: &Person,
) -> anyhow::Result<Result<String, Refusal>> {
    let Some(user) = find(app, person).await? else {
        let who = person.email.clone().unwrap_or_else(|| "you".into());
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
        && app
            .graph
            .member_groups(&user.id, &group.eligible)
            .await?
            .is_empty()
    {
        let owners: Vec<String> = group.owners.iter().map(|o| o.to_string()).collect();
        return Ok(Err(Refusal::NotEligible {
            group: group.name.clone(),
            owners: owners.join(", "),
        }));
    }
    Ok(Ok(user.id))
}
