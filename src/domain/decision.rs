//! Deciding on a request: who may, and when the decisions add up — pure rules, table-tested.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::identity::{Account, PersonKey, Principal};
use super::policy::GroupPolicy;
use super::refusal::Refusal;
use super::request::{AccessRequest, RequestStatus, Verdict};

/// One owner's answer, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The account the owner clicked from.
    pub decider: Account,
    pub verdict: Verdict,
    pub decided_at: DateTime<Utc>,
    /// Every key the decider was known by at the click: a later click sharing any of them is the
    /// same person again.
    pub counted_as: BTreeSet<PersonKey>,
}

/// What a valid decision does to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// Still `Pending` while approvals are missing.
    pub status: RequestStatus,
    pub approvals: u32,
    pub required: u32,
    pub counted_as: BTreeSet<PersonKey>,
}

/// Judges one click against the request, the group as it is now and the earlier decisions.
/// `group` must be the request's group with its current owners.
pub fn judge(
    request: &AccessRequest,
    group: &GroupPolicy,
    earlier: &[Decision],
    decider: &Principal,
    verdict: Verdict,
) -> Result<Judged, Refusal> {
    settled(request, earlier)?;
    if request.confirmed_at.is_none() {
        return Err(Refusal::RequesterUnconfirmed { id: request.id });
    }
    if !group.is_owner(decider) {
        return Err(Refusal::NotOwner {
            group: group.name.clone(),
        });
    }
    let counted_as = group.keys_of(decider);
    let requester = group.keys_of(&request.requester);
    if !group.allow_self_approval && !counted_as.is_disjoint(&requester) {
        return Err(Refusal::OwnRequest {
            group: group.name.clone(),
        });
    }
    // Whoever asked on the requester's behalf is no second pair of eyes either; a manager who
    // may approve what they ask is approved by rule at the check, never here.
    if let Some(submitter) = &request.submitted_by
        && !counted_as.is_disjoint(&group.keys_of(submitter))
    {
        return Err(Refusal::AskedByYou {
            group: group.name.clone(),
        });
    }
    let approvals_before = earlier
        .iter()
        .filter(|d| d.verdict == Verdict::Approve)
        .count() as u32;
    if earlier
        .iter()
        .any(|d| !d.counted_as.is_disjoint(&counted_as))
    {
        return Err(Refusal::AlreadyApproved {
            id: request.id,
            missing: group.approvals_required.saturating_sub(approvals_before),
        });
    }
    let approvals = approvals_before + u32::from(verdict == Verdict::Approve);
    let status = match verdict {
        Verdict::Deny => RequestStatus::Denied,
        Verdict::Approve if approvals >= group.approvals_required => RequestStatus::Approved,
        Verdict::Approve => RequestStatus::Pending,
    };
    Ok(Judged {
        status,
        approvals,
        required: group.approvals_required,
        counted_as,
    })
}

/// A request that is no longer pending is refused with where it stands and who decided it.
pub fn settled(request: &AccessRequest, earlier: &[Decision]) -> Result<(), Refusal> {
    if request.status == RequestStatus::Pending {
        return Ok(());
    }
    let verdict = if request.status == RequestStatus::Denied {
        Verdict::Deny
    } else {
        Verdict::Approve
    };
    Err(Refusal::AlreadyDecided {
        id: request.id,
        verdict,
        by: earlier
            .iter()
            .filter(|d| d.verdict == verdict)
            .map(|d| d.decider.clone())
            .collect(),
        status: request.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccessDuration, Owner, Owners, Platform, ProviderKind, Sweep};

    fn group(owners: &[&str], required: u32) -> GroupPolicy {
        GroupPolicy {
            name: "prod-db".into(),
            description: String::new(),
            provider: ProviderKind::Local,
            target: "prod-db".into(),
            owners: Owners::Listed(owners.iter().map(|o| Owner::parse(o).unwrap()).collect()),
            default_duration: AccessDuration::parse("1h").unwrap(),
            max_duration: AccessDuration::parse("8h").unwrap(),
            approvals_required: required,
            approval_channels: Vec::new(),
            allow_self_approval: false,
            eligible: Vec::new(),
            sweep: Sweep::Off,
            permanent_members: Vec::new(),
            lifecycle: Default::default(),
            webhook_http2: false,
        }
    }

    fn slack(id: &str, email: Option<&str>) -> Principal {
        Principal::new(Account::new(Platform::Slack, id)).with_emails(email.map(str::to_owned))
    }

    fn teams(id: &str, email: Option<&str>) -> Principal {
        Principal::new(Account::new(Platform::Teams, id)).with_emails(email.map(str::to_owned))
    }

    fn request(requester: Principal) -> AccessRequest {
        AccessRequest {
            id: 7,
            group: "prod-db".into(),
            requester,
            justification: "INC-1".into(),
            duration: AccessDuration::parse("1h").unwrap(),
            status: RequestStatus::Pending,
            origin_channel: "C0".into(),
            requested_at: DateTime::<Utc>::MIN_UTC,
            decided_at: None,
            granted_at: None,
            expires_at: None,
            ended_at: None,
            already_member: None,
            failure: None,
            confirmed_at: Some(DateTime::<Utc>::MIN_UTC),
            owner_snapshot: None,
            kind: crate::domain::RequestKind::Access,
            start_spec: None,
            starts_at: None,
            submitted_by: None,
            ended_early: None,
            acknowledged: None,
            grant_target: None,
        }
    }

    fn decided(group: &GroupPolicy, by: &Principal) -> Decision {
        Decision {
            decider: by.account.clone(),
            verdict: Verdict::Approve,
            decided_at: DateTime::<Utc>::MIN_UTC,
            counted_as: group.keys_of(by),
        }
    }

    const BOB_TEAMS: &str = "2a3b4c5d-6e7f-4a81-92b3-c4d5e6f7a8b9";

    #[test]
    fn one_owner_counts_once_on_every_platform() {
        let g = group(&["bob@example.com", "carol@example.com"], 2);
        let alice = request(slack("U0ALICE", Some("alice@example.com")));
        let bob_slack = slack("U0BOB", Some("bob@example.com"));
        let bob_teams = teams(BOB_TEAMS, Some("bob@example.com"));
        let first = judge(&alice, &g, &[], &bob_slack, Verdict::Approve).unwrap();
        assert_eq!(first.status, RequestStatus::Pending);
        let again = judge(
            &alice,
            &g,
            &[decided(&g, &bob_slack)],
            &bob_teams,
            Verdict::Approve,
        );
        assert_eq!(again, Err(Refusal::AlreadyApproved { id: 7, missing: 1 }));
        let carol = slack("U0CAROL", Some("carol@example.com"));
        let second = judge(
            &alice,
            &g,
            &[decided(&g, &bob_slack)],
            &carol,
            Verdict::Approve,
        );
        assert_eq!(second.unwrap().status, RequestStatus::Approved);
    }

    #[test]
    fn an_owner_listed_by_id_and_matched_by_email_elsewhere_counts_once() {
        // Bob is listed by his Teams id; his Slack account shares his verified address.
        let g = group(&[&format!("teams:{BOB_TEAMS}"), "carol@example.com"], 2);
        let alice = request(slack("U0ALICE", Some("alice@example.com")));
        let bob_teams = teams(BOB_TEAMS, Some("bob@example.com"));
        let bob_slack = slack("U0BOB", Some("bob@example.com"));
        assert!(!g.is_owner(&bob_slack));
        let earlier = [decided(&g, &bob_teams)];
        assert!(matches!(
            judge(&alice, &g, &earlier, &bob_slack, Verdict::Approve),
            Err(Refusal::NotOwner { .. })
        ));
    }

    #[test]
    fn nobody_approves_their_own_request_from_another_platform() {
        let g = group(&["bob@example.com", "carol@example.com"], 1);
        // Bob asked in Teams, where his profile shows his UPN and mail; he clicks in Slack.
        let asked = request(
            teams(BOB_TEAMS, Some("bob@corp.example.com"))
                .with_emails(["bob@example.com".to_string()]),
        );
        let bob_slack = slack("U0BOB", Some("bob@example.com"));
        assert!(matches!(
            judge(&asked, &g, &[], &bob_slack, Verdict::Approve),
            Err(Refusal::OwnRequest { .. })
        ));
        // Listed by Teams id, asking from Slack: the directory ties both to one object id.
        let g = group(&[&format!("teams:{BOB_TEAMS}"), "carol@example.com"], 1);
        let asked = request(slack("U0BOB", None).with_entra_id(Some(BOB_TEAMS.into())));
        let bob_teams = teams(BOB_TEAMS, None);
        assert!(matches!(
            judge(&asked, &g, &[], &bob_teams, Verdict::Approve),
            Err(Refusal::OwnRequest { .. })
        ));
    }

    #[test]
    fn whoever_asked_on_the_requesters_behalf_cannot_approve_from_any_platform() {
        let g = group(&["bob@example.com", "carol@example.com"], 1);
        let mut asked = request(slack("U0DAVE", Some("dave@example.com")));
        asked.submitted_by = Some(slack("U0BOB", Some("bob@example.com")));
        for bob in [
            slack("U0BOB", Some("bob@example.com")),
            teams(BOB_TEAMS, Some("bob@example.com")),
        ] {
            assert!(matches!(
                judge(&asked, &g, &[], &bob, Verdict::Approve),
                Err(Refusal::AskedByYou { .. })
            ));
        }
        let carol = slack("U0CAROL", Some("carol@example.com"));
        assert!(judge(&asked, &g, &[], &carol, Verdict::Approve).is_ok());
    }

    #[test]
    fn nobody_decides_before_the_requester_is_confirmed() {
        let g = group(&["bob@example.com"], 1);
        let mut unconfirmed = request(slack("U0ALICE", None));
        unconfirmed.confirmed_at = None;
        let bob = slack("U0BOB", Some("bob@example.com"));
        assert_eq!(
            judge(&unconfirmed, &g, &[], &bob, Verdict::Approve),
            Err(Refusal::RequesterUnconfirmed { id: 7 })
        );
    }

    #[test]
    fn an_unconfirmed_address_matches_no_owner() {
        let g = group(&["bob@example.com"], 1);
        let alice = request(slack("U0ALICE", Some("alice@example.com")));
        // Slack showed an address but did not confirm it, so the adapter added none.
        let claimant = slack("U0MALLORY", None);
        assert!(matches!(
            judge(&alice, &g, &[], &claimant, Verdict::Approve),
            Err(Refusal::NotOwner { .. })
        ));
    }

    #[test]
    fn a_deny_ends_it_and_later_clicks_hear_who_decided() {
        let g = group(&["bob@example.com", "carol@example.com"], 2);
        let mut alice = request(slack("U0ALICE", Some("alice@example.com")));
        let bob = slack("U0BOB", Some("bob@example.com"));
        let denied = judge(&alice, &g, &[], &bob, Verdict::Deny).unwrap();
        assert_eq!(denied.status, RequestStatus::Denied);
        alice.status = RequestStatus::Denied;
        let mut by_bob = decided(&g, &bob);
        by_bob.verdict = Verdict::Deny;
        let carol = slack("U0CAROL", Some("carol@example.com"));
        assert_eq!(
            judge(&alice, &g, &[by_bob], &carol, Verdict::Approve),
            Err(Refusal::AlreadyDecided {
                id: 7,
                verdict: Verdict::Deny,
                by: vec![bob.account.clone()],
                status: RequestStatus::Denied,
            })
        );
    }

    #[test]
    fn self_approval_is_allowed_only_where_the_group_says_so() {
        let mut g = group(&["alice@example.com"], 1);
        let alice = slack("U0ALICE", Some("alice@example.com"));
        let asked = request(alice.clone());
        assert!(matches!(
            judge(&asked, &g, &[], &alice, Verdict::Approve),
            Err(Refusal::OwnRequest { .. })
        ));
        g.allow_self_approval = true;
        assert_eq!(
            judge(&asked, &g, &[], &alice, Verdict::Approve)
                .unwrap()
                .status,
            RequestStatus::Approved
        );
    }
}
