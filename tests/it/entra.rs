//! Entra ID groups through Microsoft Graph: grant and revoke as an identity team would trust them.

use crate::common::fake_graph::directory_id;
use crate::common::*;
use chrono::{Duration, Utc};
use jitbot::domain::RequestStatus;

const ADMINS: &str = "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0";
const FINANCE: &str = "5f5f5f5f-6a6a-4b7b-8c8c-9d9d9d9d9d9d";
pub(crate) const ELIGIBLE: &str = "1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e";
const PIM: &str = "0c0c0c0c-1d1d-4e2e-8f3f-4a4a4a4a4a4a";

const GROUPS: &str = r#"
[[group]]
name = "azure-admins"
provider = "entra-group"
target = "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
permanent_members = ["dave@example.com"]

[[group]]
name = "azure-admins-incident"
provider = "entra-group"
target = "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"

[[group]]
name = "finance"
provider = "entra-group"
target = "5f5f5f5f-6a6a-4b7b-8c8c-9d9d9d9d9d9d"
eligible = ["1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e"]
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
sweep = "remove"

[[group]]
name = "pim-admins"
provider = "entra-pim-group"
target = "0c0c0c0c-1d1d-4e2e-8f3f-4a4a4a4a4a4a"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
"#;

/// The Entra groups above, known to the fake Graph.
pub(crate) async fn spawn() -> TestApp {
    let t = TestApp::spawn_with(GROUPS, false).await;
    t.graph.add_group(ADMINS, "Azure admins", &[]);
    t.graph.add_group(FINANCE, "Finance", &[]);
    t.graph.add_group(ELIGIBLE, "Finance staff", &[]);
    t.graph.add_group(PIM, "PIM admins", &[]);
    t
}

/// `user` (a Slack id) asks for `group` and bob approves; returns the request id.
async fn approved(t: &TestApp, user: &str, group: &str) -> i64 {
    let reply = t.say(user, &format!("request {group} 1h deploy")).await;
    let id: i64 = reply
        .split_once('#')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{reply}"));
    t.run_jobs().await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    id
}

#[tokio::test]
async fn a_grant_adds_the_member_and_expiry_removes_them_with_ref() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;

    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(request.requester.entra_id.as_deref(), Some(alice));
    assert_eq!(t.graph.members(ADMINS), [alice]);
    let add = &t.graph.calls_to("POST", "members/$ref")[0];
    assert_eq!(add.path, format!("groups/{ADMINS}/members/$ref"));
    assert_eq!(
        add.body["@odata.id"],
        format!("{}/v1.0/directoryObjects/{alice}", t.graph.url)
    );

    t.run_jobs_at(request.expires_at.unwrap()).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    assert!(t.graph.members(ADMINS).is_empty());
    // The audit trail names the account both times: by email, and by Entra object id.
    for action in ["granted", "revoked"] {
        let events = jitbot::store::audit::list(&t.app.core.db.read().unwrap(), Some(id)).unwrap();
        let event = events.iter().find(|e| e.action == action).unwrap();
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(
            detail["account"],
            serde_json::json!({ "member": "alice@example.com", "directory_id": alice }),
            "{action}"
        );
    }
    let removals = t.graph.calls_to("DELETE", "members");
    assert_eq!(removals.len(), 1);
    assert_eq!(
        removals[0].path,
        format!("groups/{ADMINS}/members/{alice}/$ref"),
        "never the form that deletes the user"
    );

    // One app-only token, asked for with the client credentials, served every call.
    let tokens = t.graph.token_requests();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["grant_type"], "client_credentials");
    assert_eq!(tokens[0]["scope"], "https://graph.microsoft.com/.default");
    assert_eq!(tokens[0]["client_secret"], "test-graph-secret");
}

#[tokio::test]
async fn a_member_before_the_grant_stays_a_member_at_expiry() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    t.graph.add_group(ADMINS, "Azure admins", &[alice]);
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    let request = t.request(id).await;
    assert_eq!(request.already_member, Some(true));

    t.run_jobs_at(request.expires_at.unwrap()).await;

    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    assert_eq!(t.graph.members(ADMINS), [alice]);
    assert!(t.graph.calls_to("POST", "members/$ref").is_empty());
    assert!(t.graph.calls_to("DELETE", "members").is_empty());
    assert!(
        t.audit_actions(id)
            .await
            .contains(&"ended_kept_prior_membership".to_string())
    );
}

#[tokio::test]
async fn already_a_member_on_add_and_not_a_member_on_remove_are_success() {
    let t = spawn().await;
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    // Someone adds alice by hand between jitbot's check and its add …
    t.graph.answer_next(
        "POST",
        "members/$ref",
        400,
        "Request_BadRequest",
        "One or more added object references already exist for the following modified properties: 'members'.",
    );
    t.run_jobs().await;
    let request = t.request(id).await;
    assert_eq!(
        request.status,
        RequestStatus::Active,
        "already a member is success"
    );
    let events = jitbot::store::audit::list(&t.app.core.db.read().unwrap(), Some(id)).unwrap();
    let granted = events.iter().find(|e| e.action == "granted").unwrap();
    assert!(
        granted
            .detail
            .contains("\"provider_result\":\"already so\""),
        "{}",
        granted.detail
    );
    // … and removes her by hand before expiry.
    t.graph.add_group(ADMINS, "Azure admins", &[]);
    t.run_jobs_at(request.expires_at.unwrap()).await;

    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    let events = jitbot::store::audit::list(&t.app.core.db.read().unwrap(), Some(id)).unwrap();
    let revoked = events.iter().find(|e| e.action == "revoked").unwrap();
    assert!(
        revoked
            .detail
            .contains("\"provider_result\":\"already so\""),
        "{}",
        revoked.detail
    );
    assert!(
        t.graph
            .calls_to("GET", &format!("groups/{ADMINS}"))
            .iter()
            .any(|c| c.path == format!("groups/{ADMINS}")),
        "the group was confirmed to exist"
    );
}

#[tokio::test]
async fn a_removal_from_a_group_that_does_not_exist_is_not_success() {
    let t = spawn().await;
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    let expires_at = t.request(id).await.expires_at.unwrap();
    t.graph.add_group(ADMINS, "Azure admins", &[]);
    // The group vanishes from Entra.
    t.graph
        .fail_next("GET", &format!("groups/{ADMINS}"), 404, None, 100);
    t.graph.fail_next("DELETE", "members", 404, None, 100);

    t.run_jobs_at(expires_at).await;

    assert_eq!(
        t.request(id).await.status,
        RequestStatus::Revoking,
        "not recorded as revoked"
    );
}

#[tokio::test]
async fn overlapping_grants_share_one_membership_removed_when_the_last_ends() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    let first = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    let second = approved(&t, "U0ALICE", "azure-admins-incident").await;
    let later = Utc::now() + Duration::minutes(30);
    t.run_jobs_at(later).await;
    assert_eq!(t.request(second).await.status, RequestStatus::Active);
    assert_eq!(
        t.request(second).await.already_member,
        Some(false),
        "jitbot's own membership is not prior access"
    );

    // The first ends: the second still holds the membership.
    t.run_jobs_at(t.request(first).await.expires_at.unwrap())
        .await;
    assert_eq!(t.request(first).await.status, RequestStatus::Ended);
    assert_eq!(t.graph.members(ADMINS), [alice]);
    assert!(
        t.audit_actions(first)
            .await
            .contains(&"ended_membership_still_held".to_string())
    );

    // The second ends: now it goes.
    t.run_jobs_at(t.request(second).await.expires_at.unwrap())
        .await;
    assert_eq!(t.request(second).await.status, RequestStatus::Ended);
    assert!(t.graph.members(ADMINS).is_empty());
    assert_eq!(t.graph.calls_to("DELETE", "members").len(), 1);
}

/// Grants of one membership ending in the same pass start together, and neither keeps the
/// membership for the other: who else holds it is read once both are being revoked.
#[tokio::test]
async fn overlapping_grants_ending_together_both_remove_the_membership() {
    let t = spawn().await;
    let first = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    let second = approved(&t, "U0ALICE", "azure-admins-incident").await;
    t.run_jobs().await;
    assert_eq!(t.request(second).await.status, RequestStatus::Active);
    let last_end = t.request(second).await.expires_at.unwrap();
    assert!(t.request(first).await.expires_at.unwrap() <= last_end);

    t.run_jobs_at(last_end + Duration::minutes(1)).await;

    for id in [first, second] {
        assert_eq!(t.request(id).await.status, RequestStatus::Ended, "#{id}");
        let actions = t.audit_actions(id).await;
        assert!(
            actions.contains(&"revoked".to_string()),
            "#{id}: {actions:?}"
        );
    }
    assert!(t.graph.members(ADMINS).is_empty());
}

/// A grant while another grant of the same membership is being revoked (its removal failed
/// once): the membership there is jitbot's, not access the person had before, so the last of
/// the two to end removes it.
#[tokio::test]
async fn a_grant_while_the_same_membership_is_being_revoked_is_not_taken_for_prior_access() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    let first = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    let first_end = t.request(first).await.expires_at.unwrap();
    t.graph.fail_next("DELETE", "members", 503, None, 1);
    t.run_jobs_at(first_end).await;
    assert_eq!(t.request(first).await.status, RequestStatus::Revoking);
    assert_eq!(t.graph.members(ADMINS), [alice]);

    let second = approved(&t, "U0ALICE", "azure-admins-incident").await;
    t.run_jobs_at(first_end).await;
    assert_eq!(t.request(second).await.status, RequestStatus::Active);
    assert_eq!(t.request(second).await.already_member, Some(false));

    // The first's retry finds the second holding the membership, and leaves it.
    t.run_jobs_at(first_end + Duration::minutes(1)).await;
    assert_eq!(t.request(first).await.status, RequestStatus::Ended);
    assert_eq!(t.graph.members(ADMINS), [alice]);
    // The second ends: the membership goes.
    t.run_jobs_at(t.request(second).await.expires_at.unwrap())
        .await;
    assert_eq!(t.request(second).await.status, RequestStatus::Ended);
    assert!(t.graph.members(ADMINS).is_empty());
}

#[tokio::test]
async fn throttling_honours_retry_after_and_revocations_are_retried_until_they_succeed() {
    let t = spawn().await;
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    t.graph.fail_next("POST", "members/$ref", 429, Some(7), 1);
    let now = Utc::now();
    t.run_jobs_at(now).await;
    let job = jitbot::store::jobs::all(&t.app.core.db.read().unwrap())
        .unwrap()
        .into_iter()
        .find(|j| j.attempts == 1)
        .expect("a retried grant");
    assert_eq!(
        jitbot::store::from_ms(job.due_at),
        jitbot::store::from_ms(jitbot::store::to_ms(now + Duration::seconds(7))),
        "waits exactly Retry-After"
    );
    t.run_jobs_at(now + Duration::seconds(7)).await;
    let expires_at = t
        .request(id)
        .await
        .expires_at
        .expect("granted after the wait");

    // Graph is down at expiry: 503 without Retry-After five times, then it recovers.
    t.graph.fail_next("DELETE", "members", 503, None, 5);
    for minute in 0..5 {
        t.run_jobs_at(expires_at + Duration::minutes(minute * 10))
            .await;
    }
    assert_eq!(t.request(id).await.status, RequestStatus::Revoking);
    t.run_jobs_at(expires_at + Duration::hours(1)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    assert!(t.graph.members(ADMINS).is_empty());
    let card = t.slack.thread_in(APPROVAL_CHANNEL);
    let to_owners = t.slack.replies_in(APPROVAL_CHANNEL, &card);
    assert!(
        to_owners
            .iter()
            .any(|m| m.contains("The revocation for this request has failed 3 times")),
        "{to_owners:?}"
    );
    assert!(
        to_owners.last().unwrap().contains("went through after all"),
        "{to_owners:?}"
    );
}

#[tokio::test]
async fn a_person_entra_cannot_find_is_refused_before_any_owner_is_asked() {
    let t = spawn().await;
    // mallory@example.com is in Slack but not in Entra.
    t.say("U0MALLORY", "request azure-admins 1h deploy").await;
    t.run_jobs().await;

    assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    assert_eq!(
        t.slack.replies_in(REQUEST_CHANNEL, &thread),
        ["🚫 This request was cancelled. I've told the requester why in a direct message."]
    );
    assert_eq!(
        t.slack.direct_messages("U0MALLORY"),
        [
            "Request #1: 🚫 This request was cancelled. Microsoft Entra ID has no account for mallory@example.com, so jitbot cannot grant you `azure-admins`. Ask your administrator."
        ]
    );
    assert!(
        t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty(),
        "no owner was asked"
    );
}

#[tokio::test]
async fn a_disabled_account_is_refused_and_a_guest_is_found_by_mail() {
    let t = spawn().await;
    // dave is a B2B guest: his UPN is not his mail.
    t.say("U0DAVE", "request azure-admins 1h guest work").await;
    t.run_jobs().await;
    assert_eq!(
        t.request(1).await.status,
        RequestStatus::Pending,
        "a B2B guest is found by mail"
    );
    assert_eq!(
        t.request(1).await.requester.entra_id.as_deref(),
        Some(directory_id("dave@example.com"))
    );

    t.say("U0ERIN", "request azure-admins 1h deploy").await;
    t.run_jobs().await;
    assert_eq!(t.request(2).await.status, RequestStatus::Cancelled);
    assert!(
        t.request(2)
            .await
            .failure
            .unwrap()
            .contains("account is disabled")
    );
}

#[tokio::test]
async fn only_eligible_people_may_request_and_others_are_told_whom_to_ask() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    t.say("U0ALICE", "request finance 1h month end").await;
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);
    let reply = t.slack.direct_messages("U0ALICE").remove(0);
    assert!(
        reply.contains(
            "Only members of the groups eligible for `finance` may request it. Ask bob@example.com"
        ),
        "{reply}"
    );
    let check = &t.graph.calls_to("POST", "checkMemberGroups")[0];
    assert_eq!(check.path, format!("users/{alice}/checkMemberGroups"));
    assert_eq!(check.body["groupIds"], serde_json::json!([ELIGIBLE]));

    // A member through a nested group is eligible.
    t.graph.add_transitive_member(alice, ELIGIBLE);
    t.say("U0ALICE", "request finance 1h month end").await;
    t.run_jobs().await;
    assert_eq!(t.request(2).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn what_a_grant_given_up_left_is_not_taken_for_prior_access() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    // Graph keeps refusing the add and then the undo's removal.
    t.graph.fail_next("POST", "members/$ref", 500, None, 10);
    t.graph.fail_next("DELETE", "members", 503, None, 1000);
    let first = approved(&t, "U0ALICE", "azure-admins").await;
    let start = Utc::now();
    for step in 0..15 {
        t.run_jobs_at(start + Duration::minutes(step * 10)).await;
    }
    assert_eq!(t.request(first).await.status, RequestStatus::Failed);
    // Yet the add had gone through: alice is a member, and the undo is still retrying.
    t.graph.add_group(ADMINS, "Azure admins", &[alice]);

    let second = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs_at(start + Duration::minutes(150)).await;
    let request = t.request(second).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(
        request.already_member,
        Some(false),
        "the leftover membership is jitbot's, so it goes when this grant ends"
    );
}

#[tokio::test]
async fn eligibility_is_checked_again_at_the_grant() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    t.graph.add_transitive_member(alice, ELIGIBLE);
    let id = approved(&t, "U0ALICE", "finance").await;
    // Between the approval and the grant, alice left the eligible group.
    t.graph.remove_transitive_member(alice, ELIGIBLE);
    t.run_jobs().await;

    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Failed);
    assert!(t.graph.members(FINANCE).is_empty(), "nothing was granted");
    assert!(t.graph.calls_to("POST", "members/$ref").is_empty());
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(
        replies
            .last()
            .unwrap()
            .contains("approved, but the access was not granted"),
        "{replies:?}"
    );
}

#[tokio::test]
async fn a_teams_requester_is_known_to_graph_by_their_object_id() {
    let t = spawn().await;
    t.teams_say("alice", TEAMS_THREAD, "jit request azure-admins 1h deploy")
        .await;
    t.run_jobs().await;

    let alice = directory_id("alice@example.com");
    assert_eq!(
        t.request(1).await.requester.entra_id.as_deref(),
        Some(alice)
    );
    assert!(t.graph.calls_to("GET", &format!("users/{alice}")).len() == 1);
    assert!(
        t.graph.calls_to("GET", "users?").is_empty()
            && t.graph.calls().iter().all(|c| !c.query.contains("mail eq"))
    );
}

#[tokio::test]
async fn pim_groups_are_granted_with_an_expiring_assignment_and_removed_with_admin_remove() {
    let t = spawn().await;
    let alice = directory_id("alice@example.com");
    let id = approved(&t, "U0ALICE", "pim-admins").await;
    let granted_at = Utc::now();
    t.run_jobs_at(granted_at).await;

    let assign = &t.graph.calls_to("POST", "assignmentScheduleRequests")[0].body;
    assert_eq!(assign["action"], "adminAssign");
    assert_eq!(assign["accessId"], "member");
    assert_eq!(assign["principalId"], alice);
    assert_eq!(assign["groupId"], PIM);
    assert_eq!(
        assign["scheduleInfo"]["expiration"],
        serde_json::json!({ "type": "afterDuration", "duration": "PT60M" })
    );
    assert_eq!(
        assign["justification"],
        format!("jitbot request #{id}: deploy")
    );

    // Entra did not end it at expiry: jitbot removes it and tells the owners.
    t.run_jobs_at(t.request(id).await.expires_at.unwrap()).await;
    let remove = &t.graph.calls_to("POST", "assignmentScheduleRequests")[1].body;
    assert_eq!(remove["action"], "adminRemove");
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    let card = t.slack.thread_in(APPROVAL_CHANNEL);
    let to_owners = t.slack.replies_in(APPROVAL_CHANNEL, &card);
    assert!(
        to_owners
            .iter()
            .any(|m| m.contains("PIM had not ended the membership")),
        "{to_owners:?}"
    );
}

#[tokio::test]
async fn a_pim_assignment_entra_already_ended_is_recorded_without_alarm() {
    let t = spawn().await;
    let id = approved(&t, "U0ALICE", "pim-admins").await;
    t.run_jobs().await;
    // Entra ended it on time.
    t.graph.add_group(PIM, "PIM admins", &[]);

    t.run_jobs_at(t.request(id).await.expires_at.unwrap()).await;

    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    let card = t.slack.thread_in(APPROVAL_CHANNEL);
    assert!(
        t.slack
            .replies_in(APPROVAL_CHANNEL, &card)
            .iter()
            .all(|m| !m.contains("PIM had not"))
    );
}

#[tokio::test]
async fn the_sweep_reports_members_jitbot_holds_no_grant_for_across_pages() {
    let t = spawn().await;
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    let all: Vec<&str> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .map(|name| {
            crate::common::fake_graph::DIRECTORY
                .iter()
                .find(|u| u.3.to_ascii_lowercase().starts_with(name))
                .unwrap()
                .0
        })
        .collect();
    t.graph.add_group(ADMINS, "Azure admins", &all);
    t.graph.set_page_size(2);

    let findings = jitbot::access::sweep::run(&t.app.core, Utc::now())
        .await
        .unwrap();
    t.run_jobs().await;

    assert_eq!(
        findings.len(),
        1,
        "only azure-admins drifted (azure-admins-incident shares it)"
    );
    let finding = &findings[0];
    assert_eq!(finding.group, "azure-admins");
    // alice holds a grant, dave is a permanent member.
    let shown: Vec<&str> = finding.unexpected.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        shown,
        ["bob@example.com", "carol@example.com", "erin@example.com"]
    );
    assert!(!finding.remove);
    assert_eq!(
        t.graph.members(ADMINS).len(),
        5,
        "report mode removes nobody"
    );
    assert!(
        t.graph
            .calls_to("GET", &format!("groups/{ADMINS}/members"))
            .iter()
            .filter(|c| !c.query.contains("$filter"))
            .count()
            >= 3,
        "all pages were read"
    );
    let report = t.slack.posts_in(APPROVAL_CHANNEL, None).last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        report.contains("Drift in `azure-admins`: 3 member(s)")
            && report.contains("carol@example.com"),
        "{report}"
    );
    let found = jitbot::store::audit::list(&t.app.core.db.read().unwrap(), None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "sweep_found")
        .count();
    assert_eq!(found, 3);
}

#[tokio::test]
async fn the_sweep_removes_drift_in_remove_mode_and_audits_it() {
    let t = spawn().await;
    let carol = directory_id("carol@example.com");
    t.graph.add_group(FINANCE, "Finance", &[carol]);

    // The sweep is a job like any other: queued at start, run by the scheduler.
    jitbot::access::sweep::schedule(&t.app.core, Utc::now())
        .await
        .unwrap();
    t.run_jobs().await;

    assert!(t.graph.members(FINANCE).is_empty());
    assert_eq!(
        t.graph.calls_to("DELETE", "members")[0].path,
        format!("groups/{FINANCE}/members/{carol}/$ref")
    );
    let removed: Vec<String> = jitbot::store::audit::list(&t.app.core.db.read().unwrap(), None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "sweep_removed")
        .map(|e| e.detail)
        .collect();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].contains(carol));
    assert_eq!(
        jitbot::store::audit::verify(&t.app.core.db.read().unwrap()).unwrap(),
        jitbot::store::audit::ChainCheck::Intact { events: 1 }
    );
    let report = t.slack.posts_in(APPROVAL_CHANNEL, None).last().unwrap()["text"].to_string();
    assert!(
        report.contains("Drift in `finance`") && report.contains("were removed"),
        "{report}"
    );
}

#[tokio::test]
async fn the_sweep_comes_round_again_and_a_restart_neither_skips_nor_doubles_it() {
    let t = spawn().await;
    let now = Utc::now();
    let core = &t.app.core;
    jitbot::access::sweep::schedule(core, now).await.unwrap();
    jitbot::access::sweep::schedule(core, now).await.unwrap();
    let waiting = |t: &TestApp| {
        jitbot::store::jobs::all(&t.app.core.db.read().unwrap())
            .unwrap()
            .into_iter()
            .filter(|j| j.payload.contains("\"sweep\""))
            .map(|j| j.due_at)
            .collect::<Vec<i64>>()
    };
    assert_eq!(
        waiting(&t).len(),
        1,
        "one sweep waits, however often it is queued"
    );

    t.run_jobs_at(now).await;
    let next = waiting(&t);
    assert_eq!(next.len(), 1);
    let expected = (now + Duration::hours(1)).timestamp_millis();
    assert!(
        (next[0] - expected).abs() < 1000,
        "the next sweep is due an hour later"
    );
    // It runs again when its time comes.
    let listed = t.graph.calls_to("GET", "members").len();
    t.run_jobs_at(now + Duration::hours(1)).await;
    assert!(t.graph.calls_to("GET", "members").len() > listed);
}

/// Runs `jitbot check-config --online` against this app's config, off the async runtime that
/// serves the fake Graph it talks to.
async fn check_online(t: &TestApp) -> std::process::Output {
    let config = t.config_path();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_jitbot"))
            .args([
                "check-config",
                "--online",
                "--config",
                config.to_str().unwrap(),
            ])
            .env("AZURE_TENANT_ID", crate::common::fake_teams::TENANT_ID)
            .env("AZURE_CLIENT_ID", "99999999-8888-7777-6666-555555555555")
            .env("AZURE_CLIENT_SECRET", "test-graph-secret")
            .env_remove("JITBOT_CONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn check_config_online_confirms_groups_and_permissions() {
    let t = spawn().await;
    t.graph.set_roles(&[
        "GroupMember.ReadWrite.All",
        "User.Read.All",
        "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    ]);

    let output = check_online(&t).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "✓ azure-admins: target {ADMINS} is the Entra group \"Azure admins\""
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "✓ finance: eligible {ELIGIBLE} is the Entra group \"Finance staff\""
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "✓ application permission PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("online checks passed"));
}

#[tokio::test]
async fn check_config_online_says_what_is_missing() {
    let t = spawn().await;
    t.graph.set_roles(&["User.Read.All"]);
    t.graph
        .fail_next("GET", &format!("groups/{FINANCE}"), 404, None, 1);

    let output = check_online(&t).await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("3 problem(s) found online"), "{stderr}");
    assert!(
        stderr.contains("lacks the application permission GroupMember.ReadWrite.All"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "lacks the application permission PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "finance: target {FINANCE} is not an Entra group jitbot can see"
        )),
        "{stderr}"
    );
}

const ENTRA_OWNED: &str = r#"
[[group]]
name = "platform-admins"
provider = "entra-group"
target = "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0"
owners = "entra"
approval_channel = "C0APPROVALS"

[[group]]
name = "platform-admins-dm"
provider = "entra-group"
target = "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0"
owners = "entra"
"#;

async fn entra_owned() -> TestApp {
    let t = TestApp::spawn_with(ENTRA_OWNED, false).await;
    t.graph.add_group(ADMINS, "Azure admins", &[]);
    t.graph.set_owners(
        ADMINS,
        &[
            directory_id("bob@example.com"),
            directory_id("carol@example.com"),
        ],
    );
    t
}

#[tokio::test]
async fn the_entra_groups_owners_approve_and_are_shown_on_the_card() {
    let t = entra_owned().await;
    t.say("U0ALICE", "request platform-admins 1h deploy").await;
    t.run_jobs().await;

    let card = t.slack.posts_in(APPROVAL_CHANNEL, None)[0].to_string();
    assert!(
        card.contains("<@U0BOB>") && card.contains("<@U0CAROL>"),
        "owners from Entra on the card: {card}"
    );
    assert_eq!(t.click("U0CAROL", 1, "jit_approve").await, 200);
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);
    assert!(
        t.graph
            .calls_to("GET", &format!("groups/{ADMINS}/owners"))
            .len()
            >= 2,
        "owners read at the request and again at the click"
    );
}

#[tokio::test]
async fn someone_who_stopped_being_an_owner_or_was_disabled_cannot_approve() {
    let t = entra_owned().await;
    t.graph.set_owners(
        ADMINS,
        &[
            directory_id("bob@example.com"),
            directory_id("erin@example.com"),
            directory_id("carol@example.com"),
        ],
    );
    t.say("U0ALICE", "request platform-admins 1h deploy").await;
    t.run_jobs().await;
    // Between the request and the click, bob is removed as an owner of the Entra group.
    t.graph.set_owners(
        ADMINS,
        &[
            directory_id("erin@example.com"),
            directory_id("carol@example.com"),
        ],
    );
    let before = t.state_counts().await;

    t.click("U0BOB", 1, "jit_approve").await;
    t.click("U0ERIN", 1, "jit_approve").await;

    t.slack.wait_for("respond", 2).await;
    assert_eq!(
        t.private_replies(),
        [
            "You are not an owner of platform-admins, so you cannot decide on its requests.",
            "You are not an owner of platform-admins, so you cannot decide on its requests."
        ],
        "bob is no longer an owner; erin's account is disabled"
    );
    assert_eq!(t.state_counts().await, before);
    assert_eq!(t.request(1).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn entra_owners_get_their_cards_by_dm_and_the_only_owner_cannot_request_alone() {
    let t = entra_owned().await;
    t.say("U0ALICE", "request platform-admins-dm 1h deploy")
        .await;
    t.run_jobs().await;
    assert_eq!(t.slack.posts_in("DU0BOB", None).len(), 1);
    assert_eq!(t.slack.posts_in("DU0CAROL", None).len(), 1);

    t.graph
        .set_owners(ADMINS, &[directory_id("bob@example.com")]);
    t.say("U0BOB", "request platform-admins-dm 1h deploy").await;
    t.run_jobs().await;
    assert_eq!(t.request(2).await.status, RequestStatus::Cancelled);
    assert!(
        t.request(2)
            .await
            .failure
            .unwrap()
            .starts_with("You are the only owner of `platform-admins-dm`")
    );
}

#[tokio::test]
async fn a_click_is_answered_in_time_even_when_graph_is_slow_or_down() {
    let t = entra_owned().await;
    t.say("U0ALICE", "request platform-admins 1h deploy").await;
    t.run_jobs().await;
    let before = t.state_counts().await;
    let refusal = "I could not check the owners of `platform-admins` with Microsoft Entra ID just now, so nothing was decided. Please try again in a moment.";

    // Graph takes longer than a click may wait …
    t.graph.delay("owners", std::time::Duration::from_secs(4));
    let started = std::time::Instant::now();
    assert_eq!(t.click("U0CAROL", 1, "jit_approve").await, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2500),
        "Slack wants an answer within 3 s: {:?}",
        started.elapsed()
    );
    t.slack.wait_for("respond", 1).await;
    assert_eq!(t.private_replies(), [refusal]);
    assert_eq!(t.state_counts().await, before, "nothing was decided");

    // … or fails: the same clear answer, not an error id.
    let t = entra_owned().await;
    t.say("U0ALICE", "request platform-admins 1h deploy").await;
    t.run_jobs().await;
    t.graph.fail_next("GET", "owners", 503, None, 1);
    t.click("U0CAROL", 1, "jit_approve").await;
    t.slack.wait_for("respond", 1).await;
    assert_eq!(t.private_replies(), [refusal]);
    assert_eq!(t.request(1).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn an_entra_owner_sees_what_awaits_them_without_asking_graph() {
    let t = entra_owned().await;
    t.say("U0ALICE", "request platform-admins 1h deploy").await;
    t.run_jobs().await;
    let graph_calls = t.graph.calls().len();

    let carols = t.say("U0CAROL", "status").await;
    let mallorys = t.say("U0MALLORY", "status").await;

    assert!(
        carols.contains(
            "*Awaiting your decision:*\n• #1 <@U0ALICE> asks for `platform-admins` for 1h"
        ),
        "{carols}"
    );
    assert!(!mallorys.contains("Awaiting"), "{mallorys}");
    assert_eq!(
        t.graph.calls().len(),
        graph_calls,
        "status asks only the database"
    );
}

/// jitbot as in `spawn`, but proving who it is to Entra ID with `credential`.
async fn spawn_with_credential(credential: GraphCredential) -> TestApp {
    let options = Options {
        graph_credential: credential,
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(GROUPS, options).await;
    t.graph.add_group(ADMINS, "Azure admins", &[]);
    t
}

#[tokio::test]
async fn workload_identity_federation_gets_graph_tokens_without_a_secret() {
    let t = spawn_with_credential(GraphCredential::FederatedTokenFile).await;
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);

    let asked = &t.graph.token_requests()[0];
    assert_eq!(asked["grant_type"], "client_credentials");
    assert_eq!(
        asked["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(asked["client_assertion"], FEDERATED_TOKEN);
    assert!(!asked.contains_key("client_secret"));
}

#[tokio::test]
async fn a_managed_identity_gets_graph_tokens_from_the_metadata_endpoint() {
    let t = spawn_with_credential(GraphCredential::ManagedIdentity).await;
    let id = approved(&t, "U0ALICE", "azure-admins").await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);

    let asked = &t.graph.token_requests()[0];
    assert_eq!(asked["metadata_header"], "true");
    assert_eq!(asked["resource"], "https://graph.microsoft.com/");
    assert_eq!(asked["client_id"], "99999999-8888-7777-6666-555555555555");
    assert!(!asked.contains_key("client_secret"));
}

/// A token Entra ID refuses (a wrong client secret, say) fails the call before it reaches Graph:
/// counted as the token endpoint's failure, not Graph's, so that an operator looks there.
#[tokio::test]
async fn a_refused_token_is_counted_as_the_token_endpoint_s_failure() {
    let t = spawn().await;
    t.graph.refuse_next_tokens(1);
    t.say("U0ALICE", "request azure-admins 1h deploy").await;
    t.run_jobs().await;

    assert_eq!(t.graph.token_requests().len(), 1, "refused once");
    let metrics = reqwest::get(format!("{}/metrics", t.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jitbot_api_errors_total{service=\"token\",kind=\"http_4xx\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("service=\"graph\""), "{metrics}");
}
