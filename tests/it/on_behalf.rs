//! `for @person`: a manager or a delegate asks for someone else; the person asked for is the one
//! verified, told, granted — and, like whoever asked, not the one who approves.

use crate::common::fake_graph::directory_id;
use crate::common::*;
use jitbot::domain::{Account, Platform, RequestStatus};
use serde_json::{Value, json};

/// prod-db: three owners, mallory a delegate. payroll: its owners' reports are approved by
/// their manager when the manager asks.
const GROUPS: &str = r#"
[[group]]
name = "prod-db"
target = "prod-db-writers"
owners = ["bob@example.com", "carol@example.com", "dave@example.com"]
approval_channel = "C0APPROVALS"
delegates = ["mallory@example.com"]

[[group]]
name = "payroll"
target = "payroll-admins"
owners = ["bob@example.com", "carol@example.com"]
approval_channel = "C0APPROVALS"
delegates = ["carol@example.com"]
manager_can_self_approve = true
"#;

async fn spawn() -> TestApp {
    TestApp::spawn_with(GROUPS, false).await
}

fn slack(id: &str) -> Account {
    Account::new(Platform::Slack, id)
}

/// `user` types `text`; returns the new request's id, its check and messages run.
async fn asks(t: &TestApp, user: &str, text: &str) -> i64 {
    let reply = t.say(user, text).await;
    let id = reply
        .split_once('#')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request id in {reply:?}"));
    t.run_jobs().await;
    id
}

fn manages(t: &TestApp, manager: &str, report: &str) {
    t.graph
        .set_manager(directory_id(report), directory_id(manager));
}

/// The actor and detail of request `id`'s audit event `action`.
async fn event(t: &TestApp, id: i64, action: &str) -> (String, Value) {
    let (actor, detail): (String, String) = t
        .app
        .core
        .db
        .read()
        .unwrap()
        .query_row(
            "SELECT actor, detail FROM audit_events WHERE request_id = ? AND action = ?",
            (id, action),
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    (actor, serde_json::from_str(&detail).unwrap())
}

#[tokio::test]
async fn a_manager_asks_for_their_report_and_the_report_is_granted() {
    let t = spawn().await;
    manages(&t, "alice@example.com", "dave@example.com");

    let id = asks(&t, "U0ALICE", "request prod-db 1h for <@U0DAVE|dave> INC-1").await;

    let request = t.request(id).await;
    assert_eq!(request.requester.account, slack("U0DAVE"));
    assert_eq!(request.submitted_by.unwrap().account, slack("U0ALICE"));
    assert!(request.confirmed_at.is_some(), "{:?}", request.failure);
    assert_eq!(
        request.requester.entra_id.as_deref(),
        Some(directory_id("dave@example.com"))
    );
    let card = t.slack.posts_in(APPROVAL_CHANNEL, None)[0].to_string();
    assert!(
        card.contains("<@U0ALICE> asks for *prod-db* for *1h* on behalf of <@U0DAVE>"),
        "{card}"
    );

    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    assert_eq!(t.local_members("prod-db-writers").await.len(), 1);
    let (actor, detail) = event(&t, id, "requested").await;
    assert_eq!(actor, "slack:U0ALICE");
    assert_eq!(detail["on_behalf_of"], "slack:U0DAVE");
    let (_, confirmed) = event(&t, id, "requester_confirmed").await;
    assert_eq!(
        confirmed["submitted_by"]["entra_id"],
        directory_id("alice@example.com")
    );
}

#[tokio::test]
async fn the_person_is_told_directly() {
    let t = spawn().await;
    manages(&t, "alice@example.com", "dave@example.com");

    asks(&t, "U0ALICE", "request prod-db 1h for <@U0DAVE> INC-1").await;

    let opened = t.slack.calls_to("conversations.open");
    assert!(
        opened
            .iter()
            .any(|call| call.to_string().contains("U0DAVE")),
        "{opened:?}"
    );
    let told = t.slack.posts_in("DU0DAVE", None);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0]["text"]
            .as_str()
            .unwrap()
            .contains("<@U0ALICE> asked for this access on your behalf"),
        "{told:?}"
    );
}

#[tokio::test]
async fn the_answer_says_for_whom_and_what_is_checked() {
    let t = spawn().await;

    let reply = t
        .say("U0MALLORY", "request prod-db 1h for <@U0ALICE> INC-14")
        .await;

    assert!(
        reply.starts_with("Request #1 for `prod-db` (1h) on behalf of <@U0ALICE> is received."),
        "{reply}"
    );
    assert!(reply.contains("delegate of `prod-db`"), "{reply}");
}

#[tokio::test]
async fn asking_again_for_someone_who_has_a_request_open_is_refused() {
    let t = spawn().await;
    asks(&t, "U0MALLORY", "request prod-db 1h for <@U0ALICE> INC-15").await;

    let reply = t
        .say("U0MALLORY", "request prod-db 1h for <@U0ALICE> INC-15")
        .await;

    assert_eq!(
        reply,
        "The person you ask for already has request #1 for `prod-db`, which is pending."
    );
    assert_eq!(t.count("requests").await, 1);
}

#[tokio::test]
async fn a_delegate_of_the_group_may_ask_for_anyone() {
    let t = spawn().await;

    let id = asks(&t, "U0MALLORY", "request prod-db 1h for <@U0ALICE> INC-2").await;

    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Pending);
    assert!(request.confirmed_at.is_some(), "{:?}", request.failure);
    assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);
}

#[tokio::test]
async fn someone_who_is_neither_manager_nor_delegate_is_refused_and_nothing_is_granted() {
    let t = spawn().await;
    // Bob manages dave, not alice.
    manages(&t, "bob@example.com", "dave@example.com");

    let id = asks(&t, "U0ALICE", "request prod-db 1h for <@U0DAVE> INC-3").await;

    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Cancelled);
    assert!(
        t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty(),
        "no owner is asked"
    );
    // Why goes to alice, who asked, alone; the thread says only that it was cancelled.
    let told = t.slack.direct_messages("U0ALICE").join("\n");
    assert!(
        told.contains("only as their manager in Microsoft Entra ID or as a delegate"),
        "{told}"
    );
    assert!(
        t.slack.posts_in("DU0DAVE", None).is_empty(),
        "dave is not told of it"
    );
    assert!(t.local_members("prod-db-writers").await.is_empty());
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Cancelled);
}

#[tokio::test]
async fn a_graph_outage_during_the_check_asks_nobody_until_it_passes() {
    let t = spawn().await;
    manages(&t, "alice@example.com", "dave@example.com");
    t.graph.fail_next("GET", "manager", 503, None, 1);

    let id = asks(&t, "U0ALICE", "request prod-db 1h for <@U0DAVE> INC-4").await;

    assert!(t.request(id).await.confirmed_at.is_none());
    assert!(t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty());
    t.run_jobs_at(chrono::Utc::now() + chrono::Duration::minutes(5))
        .await;
    assert!(t.request(id).await.confirmed_at.is_some());
}

#[tokio::test]
async fn the_person_asked_for_cannot_approve_and_neither_can_the_manager() {
    let t = spawn().await;
    // Bob, an owner, manages dave, also an owner; prod-db does not let managers self-approve.
    manages(&t, "bob@example.com", "dave@example.com");
    let id = asks(&t, "U0BOB", "request prod-db 1h for <@U0DAVE> INC-5").await;
    assert!(t.request(id).await.confirmed_at.is_some());

    t.click("U0DAVE", id, "jit_approve").await;
    t.click("U0BOB", id, "jit_approve").await;

    t.slack.wait_for("respond", 2).await;
    assert_eq!(
        t.private_replies(),
        [
            "You cannot approve your own request for prod-db; another owner has to.",
            "You asked for this request on someone else's behalf, so you cannot approve it; another owner of prod-db has to."
        ]
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    assert_eq!(t.click("U0CAROL", id, "jit_approve").await, 200);
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);
}

#[tokio::test]
async fn the_manager_who_extends_their_reports_access_cannot_approve_the_extension() {
    let t = spawn().await;
    manages(&t, "bob@example.com", "dave@example.com");
    let id = asks(&t, "U0BOB", "request prod-db 1h for <@U0DAVE> INC-11").await;
    t.click("U0CAROL", id, "jit_approve").await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);

    t.say("U0BOB", &format!("extend {id} 30m")).await;
    t.run_jobs().await;
    let extension = t.request(id + 1).await;
    assert_eq!(extension.submitted_by.unwrap().account, slack("U0BOB"));
    assert!(extension.confirmed_at.is_some(), "{:?}", extension.failure);
    t.click("U0BOB", id + 1, "jit_approve").await;

    t.slack.wait_for("respond", 1).await;
    assert!(t.private_replies()[0].contains("on someone else's behalf"));
    assert_eq!(t.request(id + 1).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn a_manager_who_owns_the_group_self_approves_when_the_group_allows_it() {
    let t = spawn().await;
    manages(&t, "bob@example.com", "alice@example.com");

    let id = asks(&t, "U0BOB", "request payroll 1h for <@U0ALICE> month end").await;
    t.run_jobs().await;

    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    assert_eq!(t.local_members("payroll-admins").await.len(), 1);
    assert!(
        t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty(),
        "no owner is asked"
    );
    let actions = t.audit_actions(id).await;
    assert!(
        actions.contains(&"approved_by_policy".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_delegate_who_is_not_the_manager_never_self_approves() {
    let t = spawn().await;
    manages(&t, "bob@example.com", "alice@example.com");

    // Carol owns payroll and is its delegate, but she is not alice's manager.
    let id = asks(&t, "U0CAROL", "request payroll 1h for <@U0ALICE> month end").await;

    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Pending);
    assert!(request.confirmed_at.is_some());
    t.click("U0CAROL", id, "jit_approve").await;
    t.slack.wait_for("respond", 1).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn an_unknown_person_or_yourself_is_refused_and_nothing_is_stored() {
    let t = spawn().await;
    for (text, answer) in [
        (
            "request prod-db 1h for nobody@example.com INC-6",
            "I could not tell who `nobody@example.com` is",
        ),
        (
            "request prod-db 1h for @dave INC-6",
            "I could not tell who `@dave` is",
        ),
        (
            "request prod-db 1h for <@U0ALICE> INC-6",
            "Ask for yourself without `for`",
        ),
        (
            "request prod-db 1h for alice@example.com INC-6",
            "I could not tell who",
        ),
    ] {
        let reply = t.say("U0ALICE", text).await;
        assert!(reply.contains(answer), "{text}: {reply}");
    }
    assert_eq!(t.count("requests").await, 0);
}

#[tokio::test]
async fn a_mention_of_an_account_slack_does_not_know_is_cancelled_at_the_check() {
    let t = spawn().await;

    let id = asks(&t, "U0MALLORY", "request prod-db 1h for <@U0NOBODY> INC-12").await;

    assert_eq!(t.request(id).await.status, RequestStatus::Cancelled);
    assert!(t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty());
    let opened: Vec<String> = t
        .slack
        .calls_to("conversations.open")
        .iter()
        .map(|call| call["users"].to_string())
        .collect();
    assert!(
        opened.iter().all(|users| users.contains("U0MALLORY")),
        "only mallory, who asked, is told why: {opened:?}"
    );
}

#[tokio::test]
async fn a_verified_email_names_someone_jitbot_has_seen() {
    let t = spawn().await;
    manages(&t, "alice@example.com", "dave@example.com");
    jitbot::store::write(&t.app.core.db, |tx| {
        jitbot::store::identities::remember(
            tx,
            Platform::Slack,
            "U0DAVE",
            &["dave@example.com".to_string()],
            chrono::Utc::now(),
        )
    })
    .await
    .unwrap();

    let id = asks(
        &t,
        "U0ALICE",
        "request prod-db 1h for dave@example.com INC-7",
    )
    .await;

    assert_eq!(t.request(id).await.requester.account, slack("U0DAVE"));
    assert!(t.request(id).await.confirmed_at.is_some());
}

#[tokio::test]
async fn the_submitter_may_cancel_what_they_asked_for() {
    let t = spawn().await;
    let id = asks(&t, "U0MALLORY", "request prod-db 1h for <@U0ALICE> INC-8").await;

    let reply = t.say("U0MALLORY", &format!("cancel {id}")).await;

    assert_eq!(
        t.request(id).await.status,
        RequestStatus::Cancelled,
        "{reply}"
    );
}

#[tokio::test]
async fn in_teams_a_manager_mentions_their_report() {
    let t = spawn().await;
    let (bob_aad, bob_mri, ..) = teams_user("bob");
    let (alice_aad, ..) = teams_user("alice");
    manages(&t, "alice@example.com", "bob@example.com");
    t.teams_user_has_talked("bob", "a:bob-chat").await;
    let before = t.teams.sent_to("a:bob-chat").len();

    let mut activity = t.activity("message", "alice", TEAMS_THREAD);
    activity["text"] = json!(
        "<at>JIT Bot</at> jit request prod-db 1h for <at>Bob Approver</at> INC-9 with <at>Carol Owner</at>"
    );
    activity["entities"] = json!([
        { "type": "mention", "mentioned": { "id": BOT_MRI, "name": "JIT Bot" }, "text": "<at>JIT Bot</at>" },
        { "type": "mention", "mentioned": { "id": bob_mri, "name": "Bob Approver" }, "text": "<at>Bob Approver</at>" },
        { "type": "mention", "mentioned": { "id": "29:carol", "name": "Carol Owner" }, "text": "<at>Carol Owner</at>" },
    ]);
    assert_eq!(t.post_activity(&activity, None).await.status(), 200);
    t.run_jobs().await;

    let request = t.request(1).await;
    assert_eq!(
        request.requester.account,
        Account::new(Platform::Teams, bob_aad)
    );
    assert_eq!(
        request.submitted_by.unwrap().account,
        Account::new(Platform::Teams, alice_aad)
    );
    assert_eq!(request.justification, "INC-9 with <at>Carol Owner</at>");
    assert!(request.confirmed_at.is_some(), "{:?}", request.failure);
    let told = t.teams.wait_for_sent("a:bob-chat", before + 1).await;
    assert!(
        told.last().unwrap().to_string().contains("on your behalf"),
        "{told:?}"
    );
}

#[tokio::test]
async fn in_teams_someone_who_never_talked_to_jitbot_is_refused_and_nothing_is_stored() {
    let t = spawn().await;
    let mut activity = t.activity("message", "alice", TEAMS_THREAD);
    activity["text"] =
        json!("<at>JIT Bot</at> jit request prod-db 1h for <at>Zed Nobody</at> INC-10");
    activity["entities"] = json!([
        { "type": "mention", "mentioned": { "id": BOT_MRI, "name": "JIT Bot" }, "text": "<at>JIT Bot</at>" },
        { "type": "mention", "mentioned": { "id": "29:zed", "name": "Zed Nobody" }, "text": "<at>Zed Nobody</at>" },
    ]);
    assert_eq!(t.post_activity(&activity, None).await.status(), 200);

    // A refusal in a channel says nothing there; the count below shows nothing was stored.
    let replies = t.teams.wait_for_sent(TEAMS_THREAD, 1).await;
    assert!(!replies[0].to_string().contains("Zed"), "{replies:?}");
    assert_eq!(t.count("requests").await, 0);
}

#[tokio::test]
async fn in_teams_an_email_nobody_has_is_refused_and_nothing_is_stored() {
    let t = spawn().await;
    assert_eq!(
        t.teams_say(
            "alice",
            TEAMS_THREAD,
            "jit request prod-db 1h for zed@example.com INC-13"
        )
        .await,
        200
    );

    let replies = t.teams.wait_for_sent(TEAMS_THREAD, 1).await;
    assert!(
        !replies[0].to_string().contains("zed@example.com"),
        "{replies:?}"
    );
    assert_eq!(t.count("requests").await, 0);
}
