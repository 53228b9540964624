//! `status` for owners: the requests awaiting the asker's decision and who holds access to the
//! groups they own — from the database only, judged by the same rules as a click.

use super::names::Names;
use super::{Core, owners};
use crate::domain::decision::judge;
use crate::domain::{
    AccessRequest, GroupPolicy, Listing, OwnerStatus, Principal, RequestStatus, Verdict,
};
use crate::store::{self, Connection, decisions, requests};

/// How many requests each list shows.
pub const SHOWN: usize = 50;
/// How many requests each list reads at most: the answer must stay quick however busy a group is.
const SCANNED: i64 = 500;

/// What `status` adds for someone who owns groups, with the names of the requesters it lists.
pub async fn of_owner(core: &Core, asker: &Principal) -> store::Result<(OwnerStatus, Names)> {
    let groups = maybe_owned(core, asker);
    if groups.is_empty() {
        return Ok((OwnerStatus::default(), Names::default()));
    }
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let db = core.db.read()?;
    let pending = requests::in_groups(&db, &names, RequestStatus::Pending, SCANNED)?;
    let bounded = pending.len() as i64 == SCANNED;
    let mut awaiting = Vec::new();
    for request in pending {
        if awaits(&db, &groups, asker, &request)? {
            awaiting.push(request);
        }
    }
    let active = requests::in_groups(&db, &names, RequestStatus::Active, SCANNED)?;
    // Given back before the names are looked up.
    drop(db);
    let active_bounded = active.len() as i64 == SCANNED;
    let mut holding: Vec<AccessRequest> = active
        .into_iter()
        .filter(|r| as_requested(&groups, r).is_some_and(|g| g.is_owner(asker)))
        .collect();
    holding.sort_by_key(|r| r.expires_at);
    let status = OwnerStatus {
        awaiting: Listing::first(awaiting, SHOWN, bounded),
        holding: Listing::first(holding, SHOWN, active_bounded),
    };
    let people = (status.awaiting.requests.iter())
        .chain(&status.holding.requests)
        .map(|r| r.requester.account.clone())
        .collect();
    Ok((status, Names::load(&core.db, people).await?))
}

/// The groups the asker may own: those listing them, and every group owned in Entra, whose
/// owners each request recorded when it was made (Graph is not asked here).
fn maybe_owned(core: &Core, asker: &Principal) -> Vec<GroupPolicy> {
    core.policy()
        .groups
        .iter()
        .filter(|g| g.owners.from_entra() || g.is_owner(asker))
        .cloned()
        .collect()
}

/// The request's group as the request shows it (with its recorded Entra owners).
fn as_requested(groups: &[GroupPolicy], request: &AccessRequest) -> Option<GroupPolicy> {
    let group = groups.iter().find(|g| g.name == request.group)?;
    Some(owners::as_requested(group, request))
}

/// Whether a click of the asker's would count now: an owner, not the requester, not decided yet.
fn awaits(
    db: &Connection,
    groups: &[GroupPolicy],
    asker: &Principal,
    request: &AccessRequest,
) -> store::Result<bool> {
    let Some(group) = as_requested(groups, request) else {
        return Ok(false);
    };
    if request.confirmed_at.is_none() || !group.is_owner(asker) {
        return Ok(false);
    }
    let earlier = decisions::of_request(db, request.id)?;
    Ok(judge(request, &group, &earlier, asker, Verdict::Approve).is_ok())
}
