//! `RequestView`: what every renderer needs to show a request — the request, its group as the
//! request shows it, the decisions and how people are named — loaded once, rendered anywhere.

use super::names::Names;
use super::{Core, owners};
use crate::domain::decision::judge;
use crate::domain::{
    AccessRequest, CardDestination, Decision, GroupPolicy, Owner, Principal, RequestKind,
    RequestStatus, Verdict,
};
use crate::store::{self, decisions};

pub struct RequestView {
    pub request: AccessRequest,
    /// The group as this request shows it (for Entra-owned groups, with the owners it was made
    /// with); `None` when it has left the config.
    pub group: Option<GroupPolicy>,
    pub decisions: Vec<Decision>,
    /// The requester, whoever asked on their behalf and every decider, by name.
    pub names: Names,
}

impl RequestView {
    /// Loads everything a renderer shows about `request`.
    pub async fn load(core: &Core, request: AccessRequest) -> store::Result<RequestView> {
        let group = owners::group_of(core, &request);
        let decisions = decisions::of_request(&*core.db.read()?, request.id)?;
        let mut people = vec![request.requester.account.clone()];
        people.extend(request.submitted_by.iter().map(|s| s.account.clone()));
        people.extend(decisions.iter().map(|d| d.decider.clone()));
        let names = Names::load(&core.db, people).await?;
        Ok(RequestView {
            request,
            group,
            decisions,
            names,
        })
    }

    pub fn description(&self) -> &str {
        self.group
            .as_ref()
            .map(|g| g.description.as_str())
            .unwrap_or_default()
    }

    pub fn owners(&self) -> &[Owner] {
        self.group
            .as_ref()
            .map(|g| g.owners.entries())
            .unwrap_or_default()
    }

    pub fn approvals_required(&self) -> u32 {
        self.group.as_ref().map_or(1, |g| g.approvals_required)
    }

    /// Whether a queued approval card should still go out: only while the request is pending and
    /// confirmed, and to an owner only while they may decide on it.
    pub fn wants_card(&self, destination: &CardDestination) -> bool {
        let confirmed = self.request.confirmed_at.is_some();
        // A break-glass card asks for a review, not a decision: it goes out until one is made.
        let open = match self.request.kind {
            RequestKind::BreakGlass => confirmed && self.request.acknowledged.is_none(),
            _ => confirmed && self.request.status == RequestStatus::Pending,
        };
        match destination {
            CardDestination::Channel { .. } => open,
            CardDestination::Owner { owner } => {
                open && Owner::parse(owner).is_ok_and(|owner| {
                    let asked_by = self.request.submitted_by.as_ref();
                    self.group.as_ref().is_some_and(|g| {
                        g.may_decide(&owner, &self.request.requester)
                            && !asked_by.is_some_and(|s| owner.matches(s))
                    })
                })
            }
        }
    }

    /// Whether this person may decide on the request now: what a click of theirs would be told,
    /// asked without clicking — for showing them the buttons.
    pub fn may_decide(&self, person: &Principal) -> bool {
        self.group.as_ref().is_some_and(|group| {
            judge(
                &self.request,
                group,
                &self.decisions,
                person,
                Verdict::Approve,
            )
            .is_ok()
        })
    }

    /// Whether this person may see the request: its requester, whoever asked on their behalf,
    /// or an owner of its group.
    pub fn may_see(&self, person: &Principal) -> bool {
        self.request.is_asked_by(person) || self.group.as_ref().is_some_and(|g| g.is_owner(person))
    }

    pub fn approvals(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| d.verdict == Verdict::Approve)
            .count()
    }
}
