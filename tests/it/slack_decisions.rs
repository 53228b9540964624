//! Approve and Deny: only owners decide, never on their own request, and the first valid decision wins.

use crate::common::*;
use jitbot::domain::RequestStatus;

#[tokio::test]
async fn a_non_owner_cannot_approve() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;
    let before = t.state_counts().await;

    assert_eq!(t.click("U0MALLORY", id, "jit_approve").await, 200);

    t.slack.wait_for("respond", 1).await;
    assert_eq!(
        t.private_replies(),
        ["You are not an owner of prod-db, so you cannot decide on its requests."]
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    assert_eq!(t.state_counts().await, before, "nothing changed");
}

#[tokio::test]
async fn nobody_approves_their_own_request() {
    let t = TestApp::spawn().await;
    // carol owns prod-db (as slack:U0CAROL) and asks for it herself.
    let reply = t
        .say("U0CAROL", "request prod-db 1h checking the replica")
        .await;
    assert!(reply.contains("Request #1"), "{reply}");
    t.run_jobs().await;
    let before = t.state_counts().await;

    t.click("U0CAROL", 1, "jit_approve").await;

    t.slack.wait_for("respond", 1).await;
    assert_eq!(
        t.private_replies(),
        ["You cannot approve your own request for prod-db; another owner has to."]
    );
    assert_eq!(t.state_counts().await, before);
    // The other owner still can.
    t.click("U0BOB", 1, "jit_approve").await;
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);
}

#[tokio::test]
async fn an_owner_listed_by_email_decides_without_waiting_on_slack() {
    let t = TestApp::spawn().await;
    // bob is listed as bob@example.com. Posting the card looked him up to mention him, so his
    // click is matched from the cache, with no Slack call on the way to the answer.
    let id = t.alice_requests("request prod-db 1h deploy").await;
    assert!(
        t.slack
            .calls_to("users.lookupByEmail")
            .iter()
            .any(|c| c["email"] == "bob@example.com")
    );
    let looked_up = t.slack.calls_to("users.info").len();
    t.click("U0BOB", id, "jit_approve").await;
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);
    assert_eq!(t.slack.calls_to("users.info").len(), looked_up);
}

#[tokio::test]
async fn two_simultaneous_approvals_decide_once() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;
    // Warm the identity cache so that both clicks race on the decision itself.
    t.click("U0MALLORY", id, "jit_approve").await;

    let (a, b) = tokio::join!(
        t.click("U0BOB", id, "jit_approve"),
        t.click("U0CAROL", id, "jit_approve")
    );
    assert_eq!((a.as_u16(), b.as_u16()), (200, 200));

    assert_eq!(t.request(id).await.status, RequestStatus::Approved);
    assert_eq!(t.count("decisions").await, 1, "exactly one decision");
    let actions = t.audit_actions(id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "approved").count(),
        1,
        "{actions:?}"
    );
    let grants: i64 = query_one(
        &t.app.core.db,
        "SELECT COUNT(*) FROM jobs WHERE payload LIKE '%\"grant\"%'",
        [],
    );
    assert_eq!(grants, 1, "one grant job");
    t.slack.wait_for("respond", 2).await;
    let loser = t
        .private_replies()
        .into_iter()
        .find(|r| r.contains("already"))
        .expect("the loser is told");
    assert!(
        loser.starts_with("Request #1 was already approved by <@U0"),
        "{loser}"
    );
}

#[tokio::test]
async fn a_late_click_is_told_who_decided() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    let before = t.state_counts().await;

    // A deny after the approval, and a replay of the very same approval payload.
    t.click("U0CAROL", id, "jit_deny").await;
    t.click("U0BOB", id, "jit_approve").await;

    t.slack.wait_for("respond", 2).await;
    for reply in t.private_replies() {
        assert_eq!(reply, "Request #1 was already approved by <@U0BOB>.");
    }
    assert_eq!(t.state_counts().await, before, "nothing changed");
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);
}

#[tokio::test]
async fn one_deny_denies_and_everyone_sees_it() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;

    t.click("U0CAROL", id, "jit_deny").await;
    t.run_jobs().await;

    assert_eq!(t.request(id).await.status, RequestStatus::Denied);
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    assert_eq!(
        t.slack.replies_in(REQUEST_CHANNEL, &thread),
        ["⛔ Denied by <@U0CAROL>."]
    );
    let card = t.slack.last_update_in(APPROVAL_CHANNEL);
    assert!(!card.contains("jit_approve"), "buttons are gone: {card}");
    assert!(card.contains("Denied by <@U0CAROL>"), "{card}");
    assert!(t.slack.last_update_in(REQUEST_CHANNEL).contains("denied"));
    assert!(
        t.local_members("prod-db-writers").await.is_empty(),
        "nothing granted"
    );
    assert_eq!(
        t.audit_actions(id).await,
        ["requested", "requester_confirmed", "denied"]
    );
    // A denied request does not block asking again.
    assert!(
        t.say("U0ALICE", "request prod-db 1h deploy, take two")
            .await
            .contains("Request #2")
    );
}

#[tokio::test]
async fn cards_go_to_each_owner_by_dm_without_an_approval_channel() {
    let t = TestApp::spawn().await;
    t.alice_requests("request payroll 30m fixing a salary run")
        .await;

    let opened: Vec<String> = t
        .slack
        .calls_to("conversations.open")
        .iter()
        .map(|c| c["users"].to_string())
        .collect();
    for owner in ["U0BOB", "U0CAROL", "U0DAVE"] {
        assert!(
            opened.iter().any(|u| u.contains(owner)),
            "{owner} gets a DM: {opened:?}"
        );
        let card = t.slack.posts_in(&format!("D{owner}"), None);
        assert_eq!(card.len(), 1, "one card for {owner}");
        assert!(card[0].to_string().contains("jit_approve"));
    }
}

#[tokio::test]
async fn a_quorum_needs_distinct_owners_and_every_card_follows() {
    let t = TestApp::spawn().await;
    let id = t
        .alice_requests("request payroll 30m fixing a salary run")
        .await;

    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    assert_eq!(
        t.request(id).await.status,
        RequestStatus::Pending,
        "one of two approvals"
    );
    assert!(
        t.slack
            .last_update_in("DU0DAVE")
            .contains("1 of 2 approvals")
    );

    t.click("U0BOB", id, "jit_approve").await;
    t.slack.wait_for("respond", 1).await;
    assert_eq!(
        t.private_replies(),
        ["You already approved request #1; it needs 1 more approval(s) from other owners."]
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);

    t.click("U0DAVE", id, "jit_approve").await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    for owner in ["DU0BOB", "DU0CAROL", "DU0DAVE"] {
        let card = t.slack.last_update_in(owner);
        assert!(
            !card.contains("jit_approve"),
            "{owner}'s card has no buttons left"
        );
        assert!(
            card.contains("active until"),
            "{owner}'s card shows the grant: {card}"
        );
    }
    assert_eq!(
        t.audit_actions(id).await,
        [
            "requested",
            "requester_confirmed",
            "approval_recorded",
            "approved",
            "granted"
        ]
    );
}

#[tokio::test]
async fn a_click_on_a_card_long_decided_says_where_the_request_stands() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;

    t.click("U0CAROL", id, "jit_approve").await;

    t.slack.wait_for("respond", 1).await;
    assert_eq!(
        t.private_replies(),
        ["Request #1 was already approved by <@U0BOB>; it is active now."]
    );
}
