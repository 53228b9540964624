//! The whole lifecycle in the thread: cancel, I'm done, revoke, ending soon, extend, pending
//! timeout, scheduled start, break-glass and approval by rule — through Slack and Teams.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use jitbot::domain::RequestStatus;
use serde_json::json;

const GROUPS: &str = r#"
[[group]]
name = "prod-db"
target = "prod-db-writers"
owners = ["bob@example.com", "slack:U0CAROL"]
default_duration = "1h"
max_duration = "2h"
max_total = "3h"
pending_timeout = "4h"
approval_channel = "C0APPROVALS"
teams_approval_channel = "19:approvals00000000000000000000000@thread.tacv2"

[[group]]
name = "sandbox"
target = "sandbox-users"
owners = ["bob@example.com"]
approvals_required = 0
auto_extend = true
approval_channel = "C0APPROVALS"

[[group]]
name = "prod-admin"
target = "prod-admins"
owners = ["bob@example.com", "carol@example.com"]
break_glass = true
break_glass_max = "30m"
security_channel = "C0SECURITY"
approval_channel = "C0APPROVALS"
"#;

/// What an invoke answer said to the clicker.
fn said(answer: &serde_json::Value) -> &str {
    answer["value"].as_str().unwrap_or_default()
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(GROUPS, false).await
}

/// alice asks for prod-db, bob approves and the grant runs; returns when it was granted.
async fn alice_holds_prod_db(t: &TestApp, duration: &str) -> DateTime<Utc> {
    let id = t
        .alice_requests(&format!("request prod-db {duration} fixing INC-4711"))
        .await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    let granted_at = Utc::now();
    t.run_jobs_at(granted_at).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    granted_at
}

fn last_private_reply(t: &TestApp) -> String {
    t.private_replies().last().cloned().unwrap_or_default()
}

/// Waits for the private reply a click produces (sent after the click is answered).
async fn private_reply_after(t: &TestApp, before: usize) -> String {
    for _ in 0..300 {
        if t.private_replies().len() > before {
            return last_private_reply(t);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no private reply came");
}

#[tokio::test]
async fn the_requester_cancels_a_pending_request_and_the_card_loses_its_buttons() {
    let t = spawn().await;
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;

    let stranger = t.say("U0MALLORY", &format!("cancel {id}")).await;
    assert!(stranger.contains("Only the person who asked"), "{stranger}");
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);

    let reply = t.say("U0ALICE", &format!("cancel #{id}")).await;
    assert!(reply.contains("withdrawn"), "{reply}");
    assert_eq!(t.request(id).await.status, RequestStatus::Cancelled);
    t.run_jobs().await;
    let card = t.slack.last_update_in(APPROVAL_CHANNEL);
    assert!(
        !card.contains("jit_approve") && card.contains("cancelled"),
        "{card}"
    );
    assert!(t.audit_actions(id).await.contains(&"cancelled".to_string()));

    // A late click decides nothing.
    let before = t.private_replies().len();
    t.click("U0BOB", id, "jit_approve").await;
    let late = private_reply_after(&t, before).await;
    assert!(late.contains("cancelled"), "{late}");
    assert_eq!(t.request(id).await.status, RequestStatus::Cancelled);
}

#[tokio::test]
async fn im_done_ends_the_access_now_and_the_card_says_released_early() {
    let t = spawn().await;
    alice_holds_prod_db(&t, "2h").await;
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    assert!(
        t.slack.last_update_in(REQUEST_CHANNEL).contains("jit_done"),
        "the request message offers I'm done"
    );

    let before = t.private_replies().len();
    t.click("U0MALLORY", 1, "jit_done").await;
    let refused = private_reply_after(&t, before).await;
    assert!(refused.contains("Only the person who asked"), "{refused}");
    assert_eq!(t.request(1).await.status, RequestStatus::Active);

    let before = t.private_replies().len();
    assert_eq!(t.click("U0ALICE", 1, "jit_done").await, 200);
    assert!(
        private_reply_after(&t, before)
            .await
            .contains("being removed")
    );
    t.run_jobs().await;

    let request = t.request(1).await;
    assert_eq!(request.status, RequestStatus::Ended);
    assert!(t.local_members("prod-db-writers").await.is_empty());
    let card = t.slack.last_update_in(APPROVAL_CHANNEL);
    assert!(card.contains("released early"), "{card}");
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(
        replies.last().unwrap().contains("You're done"),
        "{replies:?}"
    );
    assert!(t.audit_actions(1).await.contains(&"released".to_string()));
}

#[tokio::test]
async fn an_owner_revokes_with_a_reason_and_the_person_is_told_why() {
    let t = spawn().await;
    alice_holds_prod_db(&t, "2h").await;

    let not_owner = t.say("U0ALICE", "revoke 1 no reason").await;
    assert!(not_owner.contains("not an owner"), "{not_owner}");
    let no_reason = t.say("U0CAROL", "revoke 1").await;
    assert!(no_reason.contains("Say why"), "{no_reason}");
    assert_eq!(t.request(1).await.status, RequestStatus::Active);

    let reply = t.say("U0CAROL", "revoke 1 left the team").await;
    assert!(reply.contains("being removed"), "{reply}");
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Ended);
    assert!(t.local_members("prod-db-writers").await.is_empty());
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(
        replies.iter().any(|r| r.contains(
            "<@U0CAROL> ended this access early. I've told the requester why in a direct message."
        )),
        "{replies:?}"
    );
    assert!(
        replies.iter().all(|r| !r.contains("left the team")),
        "the reason stays out of the channel: {replies:?}"
    );
    let told = t.slack.direct_messages("U0ALICE");
    assert!(
        told.iter()
            .any(|r| r.contains("<@U0CAROL> ended this access early: left the team")),
        "{told:?}"
    );
    assert!(
        t.slack
            .last_update_in(APPROVAL_CHANNEL)
            .contains("revoked by <@U0CAROL>")
    );
    assert!(
        t.audit_actions(1)
            .await
            .contains(&"revoked_early".to_string())
    );
}

#[tokio::test]
async fn the_requester_is_warned_before_the_end_with_extend_and_im_done() {
    let t = spawn().await;
    alice_holds_prod_db(&t, "1h").await;
    let expires_at = t.request(1).await.expires_at.unwrap();
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    let replies_before = t.slack.replies_in(REQUEST_CHANNEL, &thread).len();

    t.run_jobs_at(expires_at - Duration::minutes(16)).await;
    assert_eq!(
        t.slack.replies_in(REQUEST_CHANNEL, &thread).len(),
        replies_before
    );
    t.run_jobs_at(expires_at - Duration::minutes(15)).await;
    let warning = t
        .slack
        .posts_in(REQUEST_CHANNEL, Some(&thread))
        .last()
        .cloned()
        .unwrap();
    let text = warning.to_string();
    assert!(text.contains("Your access ends <!date^"), "{text}");
    assert!(text.contains("(15m left)"), "{text}");
    assert!(
        text.contains("jit_extend") && text.contains("jit_done"),
        "{text}"
    );
}

#[tokio::test]
async fn an_approved_extension_moves_the_end_with_no_gap() {
    let t = spawn().await;
    alice_holds_prod_db(&t, "1h").await;
    let first_end = t.request(1).await.expires_at.unwrap();

    let before = t.private_replies().len();
    t.click("U0ALICE", 1, "jit_extend").await;
    let asked = private_reply_after(&t, before).await;
    assert!(asked.contains("1h more on request #1"), "{asked}");
    let again = t.say("U0ALICE", "extend 1 30m").await;
    assert!(again.contains("already has extension #2"), "{again}");
    t.run_jobs().await;
    let extension_card = t.slack.posts_in(APPROVAL_CHANNEL, None).len();
    assert_eq!(extension_card, 2, "the extension has a card of its own");

    assert_eq!(t.click("U0BOB", 2, "jit_approve").await, 200);
    t.run_jobs().await;
    let request = t.request(1).await;
    assert_eq!(request.expires_at, Some(first_end + Duration::hours(1)));
    assert_eq!(t.request(2).await.status, RequestStatus::Ended);

    // At the first end nothing is removed …
    t.run_jobs_at(first_end + Duration::seconds(1)).await;
    assert_eq!(t.request(1).await.status, RequestStatus::Active);
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );
    // … only at the new one.
    t.run_jobs_at(first_end + Duration::hours(1) + Duration::seconds(1))
        .await;
    assert_eq!(t.request(1).await.status, RequestStatus::Ended);
    assert!(t.local_members("prod-db-writers").await.is_empty());
    assert!(t.audit_actions(1).await.contains(&"extended".to_string()));
}

#[tokio::test]
async fn an_extension_never_goes_beyond_max_total() {
    let t = spawn().await;
    alice_holds_prod_db(&t, "2h").await;
    let refused = t.say("U0ALICE", "extend 1 2h").await;
    assert!(
        refused.contains("at most 3h in all") && refused.contains("by 1h at most"),
        "{refused}"
    );
    let before = t.count("requests").await;
    assert_eq!(t.count("requests").await, before);
    let reply = t.say("U0ALICE", "extend 1").await;
    assert!(
        reply.contains("1h more"),
        "the default fits what is left: {reply}"
    );
}

#[tokio::test]
async fn an_extension_nobody_approved_lets_the_access_end_at_its_time() {
    let t = spawn().await;
    alice_holds_prod_db(&t, "1h").await;
    t.say("U0ALICE", "extend 1 30m").await;
    t.run_jobs().await;

    let end = t.request(1).await.expires_at.unwrap();
    t.run_jobs_at(end + Duration::seconds(1)).await;
    assert_eq!(t.request(1).await.status, RequestStatus::Ended);
    assert_eq!(t.request(2).await.status, RequestStatus::Cancelled);
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(
        replies
            .iter()
            .any(|r| r.contains("extension was not applied")),
        "{replies:?}"
    );
    let before = t.private_replies().len();
    t.click("U0BOB", 2, "jit_approve").await;
    assert!(private_reply_after(&t, before).await.contains("cancelled"));
}

#[tokio::test]
async fn a_self_service_group_is_granted_without_owners_and_extends_itself() {
    let t = spawn().await;
    let id = t.alice_requests("request sandbox 1h trying things").await;
    t.run_jobs().await;
    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert!(
        t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty(),
        "nobody is asked"
    );
    assert!(
        t.audit_actions(id)
            .await
            .contains(&"approved_by_policy".to_string())
    );

    t.say("U0ALICE", &format!("extend {id} 30m")).await;
    t.run_jobs().await;
    t.run_jobs().await;
    assert_eq!(
        t.request(id).await.expires_at,
        Some(request.expires_at.unwrap() + Duration::minutes(30))
    );
}

#[tokio::test]
async fn a_request_nobody_decides_is_reminded_halfway_then_expires() {
    let t = spawn().await;
    let asked_at = Utc::now();
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;
    let card_ts = t.slack.thread_in(APPROVAL_CHANNEL);

    t.run_jobs_at(asked_at + Duration::hours(2) + Duration::seconds(1))
        .await;
    let under_card = t.slack.replies_in(APPROVAL_CHANNEL, &card_ts);
    assert!(
        under_card.iter().any(|r| r.contains("Reminder")),
        "{under_card:?}"
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);

    t.run_jobs_at(asked_at + Duration::hours(4) + Duration::seconds(1))
        .await;
    assert_eq!(t.request(id).await.status, RequestStatus::Expired);
    assert!(
        !t.slack
            .last_update_in(APPROVAL_CHANNEL)
            .contains("jit_approve")
    );
    let before = t.private_replies().len();
    t.click("U0BOB", id, "jit_approve").await;
    assert!(private_reply_after(&t, before).await.contains("expired"));
    assert_eq!(t.request(id).await.status, RequestStatus::Expired);
}

#[tokio::test]
async fn a_scheduled_start_is_read_in_the_requesters_zone_and_granted_then() {
    let t = spawn().await;
    t.slack.set_time_zone("U0ALICE", "America/New_York");
    let reply = t
        .say(
            "U0ALICE",
            "request prod-db 1h from tomorrow 09:00 the release",
        )
        .await;
    assert!(reply.contains("starting tomorrow 09:00"), "{reply}");
    t.run_jobs().await;

    let zone: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let tomorrow = Utc::now().with_timezone(&zone).date_naive() + chrono::Days::new(1);
    let nine = tomorrow
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_local_timezone(zone)
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(t.request(1).await.starts_at, Some(nine));

    assert_eq!(t.click("U0BOB", 1, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);
    assert!(t.local_members("prod-db-writers").await.is_empty());
    assert!(
        t.slack
            .last_update_in(REQUEST_CHANNEL)
            .contains("jit_cancel"),
        "it can still be withdrawn"
    );

    let lookups = t.slack.calls_to("users.info").len();
    t.run_jobs_at(nine + Duration::seconds(1)).await;
    let request = t.request(1).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(
        request.expires_at,
        Some(nine + Duration::hours(1) + Duration::seconds(1))
    );
    assert!(
        t.slack.calls_to("users.info").len() > lookups,
        "the account is checked again at the start"
    );
}

#[tokio::test]
async fn a_start_in_the_past_is_refused_with_the_reason_in_the_thread() {
    let t = spawn().await;
    let id = t
        .alice_requests("request prod-db 1h from 2020-01-01 09:00 too late")
        .await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Cancelled);
    let told = t.slack.direct_messages("U0ALICE");
    assert!(
        told.iter().any(|r| r.contains("already passed")),
        "{told:?}"
    );
}

#[tokio::test]
async fn break_glass_is_granted_at_once_announced_and_reviewed() {
    let t = spawn().await;
    let refused = t.say("U0ALICE", "breakglass prod-db outage").await;
    assert!(refused.contains("no break-glass"), "{refused}");

    let id = t
        .alice_requests("breakglass prod-admin db down INC-9")
        .await;
    t.run_jobs().await;
    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(request.duration.to_string(), "30m");
    assert_eq!(t.local_members("prod-admins").await, ["alice@example.com"]);
    let extended = t.say("U0ALICE", &format!("extend {id} 7h")).await;
    assert!(extended.contains("cannot be extended"), "{extended}");
    let again = t.say("U0ALICE", "breakglass prod-admin still down").await;
    assert!(again.contains("not been reviewed yet"), "{again}");
    let alarm = t.slack.posts_in("C0SECURITY", None);
    assert!(alarm[0].to_string().contains("Break-glass"), "{alarm:?}");
    let card = t.slack.posts_in(APPROVAL_CHANNEL, None)[0].to_string();
    assert!(
        card.contains("jit_ack") && !card.contains("jit_approve"),
        "{card}"
    );

    // Unreviewed, the owners hear of it again a day later.
    let card_ts = t.slack.thread_in(APPROVAL_CHANNEL);
    t.run_jobs_at(Utc::now() + Duration::days(1) + Duration::minutes(1))
        .await;
    assert!(
        t.slack
            .replies_in(APPROVAL_CHANNEL, &card_ts)
            .iter()
            .any(|r| r.contains("not been reviewed")),
    );

    let before = t.private_replies().len();
    t.click("U0ALICE", id, "jit_ack").await;
    let own = private_reply_after(&t, before).await;
    assert!(own.contains("not an owner") || own.contains("own"), "{own}");
    let before = t.private_replies().len();
    t.click("U0BOB", id, "jit_ack").await;
    assert!(private_reply_after(&t, before).await.contains("reviewed"));
    assert!(t.request(id).await.acknowledged.is_some());
    assert!(
        t.audit_actions(id)
            .await
            .contains(&"acknowledged".to_string())
    );
}

#[tokio::test]
async fn a_teams_requester_ends_access_from_the_status_card() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 2h fixing INC-4711")
        .await;
    t.teams_click("bob", 1, "jit.approve").await;
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Active);
    let status_card = t.teams.last_update_in(TEAMS_THREAD).to_string();
    assert!(
        status_card.contains("jit.done") && status_card.contains("jit.extend"),
        "{status_card}"
    );

    let refused = t.teams_click("carol", 1, "jit.done").await;
    assert!(said(&refused).contains("Only the person"), "{refused}");
    let done = t.teams_click("alice", 1, "jit.done").await;
    assert!(said(&done).contains("being removed"), "{done}");
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Ended);
}

const ONCALL: &str = "0c0c0c0c-1d1d-4e2e-8f3f-4a4a4a4a4a4a";
const ONCALL_STAFF: &str = "1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e";

const ENTRA_GROUPS: &str = r#"
[[group]]
name = "oncall"
provider = "entra-pim-group"
target = "0c0c0c0c-1d1d-4e2e-8f3f-4a4a4a4a4a4a"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
auto_approve_for = ["1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e"]
max_duration = "2h"
max_total = "4h"
"#;

async fn spawn_entra() -> TestApp {
    let t = TestApp::spawn_with(ENTRA_GROUPS, false).await;
    t.graph.add_group(ONCALL, "On-call admins", &[]);
    t.graph.add_group(ONCALL_STAFF, "On-call staff", &[]);
    t
}

#[tokio::test]
async fn members_of_auto_approve_for_are_granted_without_an_owner() {
    let t = spawn_entra().await;
    let alice = crate::common::fake_graph::directory_id("alice@example.com");
    t.graph.add_transitive_member(alice, ONCALL_STAFF);

    let id = t.alice_requests("request oncall 1h paged").await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    assert!(t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty());
    assert!(
        t.audit_actions(id)
            .await
            .contains(&"approved_by_policy".to_string())
    );

    // Anyone else is asked about as usual.
    let reply = t.say("U0DAVE", "request oncall 1h curious").await;
    assert!(reply.contains("Request #2"), "{reply}");
    t.run_jobs().await;
    assert_eq!(t.request(2).await.status, RequestStatus::Pending);
    assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);
}

#[tokio::test]
async fn an_extension_of_pim_access_moves_the_pim_end_too() {
    let t = spawn_entra().await;
    let alice = crate::common::fake_graph::directory_id("alice@example.com");
    t.graph.add_transitive_member(alice, ONCALL_STAFF);
    let id = t.alice_requests("request oncall 1h paged").await;
    t.run_jobs().await;
    let end = t.request(id).await.expires_at.unwrap();

    // An extension is a request too: a member of auto_approve_for gets it without an owner,
    // within max_total.
    t.say("U0ALICE", &format!("extend {id} 1h")).await;
    t.run_jobs().await;
    t.run_jobs().await;
    assert!(t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty());
    assert_eq!(
        t.request(id).await.expires_at,
        Some(end + Duration::hours(1))
    );
    let extend = t
        .graph
        .calls_to("POST", "assignmentScheduleRequests")
        .into_iter()
        .find(|call| call.body["action"] == "adminExtend")
        .expect("PIM is told the new end");
    assert_eq!(
        extend.body["scheduleInfo"]["expiration"]["endDateTime"],
        (end + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
}

#[tokio::test]
async fn a_teams_requester_is_warned_in_a_card_that_shows_their_own_time() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 2h fixing INC-4711")
        .await;
    t.teams_click("bob", 1, "jit.approve").await;
    t.run_jobs().await;
    let expires_at = t.request(1).await.expires_at.unwrap();

    t.run_jobs_at(expires_at - Duration::minutes(15)).await;
    let warning = t.teams.sent_to(TEAMS_THREAD).last().cloned().unwrap();
    let card = warning["attachments"][0]["content"].to_string();
    assert!(
        card.contains("{{DATE(") && card.contains("(15m left)"),
        "{card}"
    );
    assert!(
        card.contains("jit.extend") && card.contains("jit.done"),
        "{card}"
    );

    let asked = t.teams_click("alice", 1, "jit.extend").await;
    assert!(said(&asked).contains("more on request #1"), "{asked}");
}

#[tokio::test]
async fn a_decision_after_the_pending_timeout_is_refused_even_before_the_expiry_runs() {
    use jitbot::access::decide::{DecisionInput, decide};
    use jitbot::domain::{Account, Platform, Principal, Refusal, Verdict};
    let t = spawn().await;
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;
    let requested_at = t.request(id).await.requested_at;
    let bob = Principal::new(Account::new(Platform::Slack, "U0BOB"))
        .with_emails(["bob@example.com".to_string()]);
    let input = DecisionInput {
        request_id: id,
        decider: bob,
        verdict: Verdict::Approve,
        channel: None,
    };
    let late = requested_at + Duration::hours(4);
    match decide(&t.app.core, input, late).await {
        Err(jitbot::access::AccessError::Refused(Refusal::TooOld { .. })) => {}
        other => panic!("expected TooOld, got {other:?}"),
    }
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn in_teams_the_requester_cancels_and_an_owner_revokes_from_the_cards() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 2h fixing INC-4711")
        .await;
    let status_card = t.teams.sent_to(TEAMS_THREAD)[0].to_string();
    assert!(status_card.contains("jit.cancel"), "{status_card}");
    let cancelled = t.teams_click("alice", 1, "jit.cancel").await;
    assert!(said(&cancelled).contains("withdrawn"), "{cancelled}");
    assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);

    assert_eq!(
        t.teams_say("alice", TEAMS_THREAD, "jit request prod-db 2h again")
            .await,
        200
    );
    t.run_jobs().await;
    t.teams_click("bob", 2, "jit.approve").await;
    t.run_jobs().await;
    assert_eq!(t.request(2).await.status, RequestStatus::Active);
    let by_requester = t.teams_click("alice", 2, "jit.revoke").await;
    assert!(
        said(&by_requester).contains("not an owner"),
        "{by_requester}"
    );
    let revoked = t.teams_click("bob", 2, "jit.revoke").await;
    assert!(said(&revoked).contains("being removed"), "{revoked}");
    t.run_jobs().await;
    let request = t.request(2).await;
    assert_eq!(request.status, RequestStatus::Ended);
    assert!(t.local_members("prod-db-writers").await.is_empty());
}

#[tokio::test]
async fn in_teams_a_start_is_read_in_the_zone_the_client_reports() {
    let t = TestApp::spawn().await;
    let mut activity = t.activity("message", "alice", TEAMS_THREAD);
    activity["text"] =
        json!("<at>JIT Bot</at> jit request prod-db 1h from tomorrow 09:00 the release");
    activity["entities"] = json!([{ "type": "mention", "mentioned": { "id": BOT_MRI, "name": "JIT Bot" }, "text": "<at>JIT Bot</at>" }]);
    activity["localTimezone"] = json!("Asia/Tokyo");
    assert_eq!(t.post_activity(&activity, None).await.status(), 200);
    t.run_jobs().await;

    let zone: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
    let tomorrow = Utc::now().with_timezone(&zone).date_naive() + chrono::Days::new(1);
    let nine = tomorrow
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_local_timezone(zone)
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(t.request(1).await.starts_at, Some(nine));

    // A zone the client made up is not taken: the last real one it reported stands.
    activity["localTimezone"] = json!("Mars/Olympus_Mons");
    activity["id"] = json!("activity-mars");
    activity["text"] =
        json!("<at>JIT Bot</at> jit request payroll 1h from tomorrow 09:00 month end");
    assert_eq!(t.post_activity(&activity, None).await.status(), 200);
    t.run_jobs().await;
    assert_eq!(t.request(2).await.starts_at, Some(nine));
}

#[tokio::test]
async fn in_teams_break_glass_is_granted_at_once_and_acknowledged_on_the_card() {
    let groups = r#"
[[group]]
name = "prod-admin"
target = "prod-admins"
owners = ["bob@example.com", "carol@example.com"]
break_glass = true
teams_approval_channel = "19:approvals00000000000000000000000@thread.tacv2"
"#;
    let t = TestApp::spawn_with(groups, false).await;
    t.teams_alice_requests("jit breakglass prod-admin db down INC-9")
        .await;
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Active);
    assert_eq!(t.local_members("prod-admins").await, ["alice@example.com"]);
    let card = t
        .teams
        .started()
        .iter()
        .find(|s| s.to_string().contains("jit.ack"))
        .cloned()
        .expect("the owners' card asks for a review");
    assert!(!card.to_string().contains("jit.approve"), "{card}");

    let own = t.teams_click("alice", 1, "jit.ack").await;
    assert!(!said(&own).contains("reviewed"), "{own}");
    let ack = t.teams_click("bob", 1, "jit.ack").await;
    assert!(said(&ack).contains("reviewed"), "{ack}");
    assert!(t.request(1).await.acknowledged.is_some());
}
