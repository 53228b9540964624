//! A request keeps the provider and target it was made under (`store::grant_targets`): the
//! group as the policy says now, granting what the request fixed — or, for a group a reload
//! removed, the group rebuilt from the snapshot so that its access is still removed.

use anyhow::bail;

use crate::domain::{AccessRequest, GrantTarget, GroupPolicy, Policy, Refusal};

/// The group whose provider removes this request's access.
pub fn group_to_revoke(policy: &Policy, request: &AccessRequest) -> anyhow::Result<GroupPolicy> {
    match (policy.group(&request.group), &request.grant_target) {
        (Ok(group), Some(snapshot)) => Ok(group.granting(snapshot)),
        (Ok(group), None) => Ok(group.clone()),
        (Err(_), Some(snapshot)) => Ok(GroupPolicy::retired(&request.group, snapshot)),
        (Err(_), None) => bail!(
            "group {} is no longer in the config and request #{} recorded no provider, so its \
             access cannot be removed: put the group back in the file and reload",
            request.group,
            request.id
        ),
    }
}

/// The group this request is granted under: still in the policy (its owners and limits apply),
/// granting what the request fixed when it was made.
pub fn group_to_grant(policy: &Policy, request: &AccessRequest) -> Result<GroupPolicy, Refusal> {
    let Ok(group) = policy.group(&request.group) else {
        return Err(gone(request));
    };
    match &request.grant_target {
        Some(snapshot) => same_target(request, group, snapshot).map(|()| group.clone()),
        None => Ok(group.clone()),
    }
}

/// A request is decided and granted only while its group grants what it did when the request
/// was made: after a reload that moved the group to another provider or target, its owners
/// (perhaps new ones) must not approve access to the old one. Fails closed.
pub fn same_target(
    request: &AccessRequest,
    group: &GroupPolicy,
    snapshot: &GrantTarget,
) -> Result<(), Refusal> {
    if group.grant_target() == *snapshot {
        Ok(())
    } else {
        Err(Refusal::GroupRetargeted {
            id: request.id,
            group: request.group.clone(),
        })
    }
}

/// The refusal for a request whose group a reload removed.
pub fn gone(request: &AccessRequest) -> Refusal {
    Refusal::GroupRemoved {
        id: request.id,
        group: request.group.clone(),
    }
}

/// The groups whose grants share `group`'s membership (same provider and target), the group
/// itself included even when it is no longer in the policy.
pub fn sharing(policy: &Policy, group: &GroupPolicy) -> Vec<String> {
    let mut names = policy.groups_sharing_target(group);
    if !names.contains(&group.name) {
        names.push(group.name.clone());
    }
    names
}
