//! `status` for owners: what awaits their decision and who holds their groups now, besides their
//! own requests — from the database alone, on both platforms, telling nobody else's business.

use crate::common::*;
use jitbot::domain::RequestStatus;

const NO_REQUESTS: &str = "You have no pending or active requests. `/jit request <group> [duration] <justification>` asks for one.";

#[tokio::test]
async fn an_owner_sees_what_awaits_their_decision() {
    let t = TestApp::spawn().await;
    t.alice_requests("request prod-db 2h fixing INC-4711 <!channel>")
        .await;
    let (before, posted) = (t.state_counts().await, t.chat_calls());

    // carol owns prod-db as slack:U0CAROL.
    let reply = t.say("U0CAROL", "status").await;

    assert_eq!(
        reply,
        format!(
            "{NO_REQUESTS}\n\n*Awaiting your decision:*\n\
             • #1 <@U0ALICE> asks for `prod-db` for 2h — asked less than a minute ago: “fixing INC-4711 &lt;!channel&gt;”"
        )
    );
    assert_eq!(t.state_counts().await, before, "status changes nothing");
    assert_eq!(t.chat_calls(), posted, "and posts nothing");
}

#[tokio::test]
async fn a_request_leaves_the_list_once_the_owner_decided_it() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request payroll 1h salary run").await;
    // payroll needs two approvals from bob, carol and dave (by email).
    assert_eq!(t.click("U0CAROL", id, "jit_approve").await, 200);
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);

    let carols = t.say("U0CAROL", "status").await;
    let bobs = t.say("U0BOB", "status").await;

    assert_eq!(carols, NO_REQUESTS, "carol has decided");
    assert!(
        bobs.contains("*Awaiting your decision:*\n• #1 <@U0ALICE> asks for `payroll` for 1h"),
        "{bobs}"
    );
}

#[tokio::test]
async fn status_shows_who_holds_my_groups_with_time_left() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    assert_eq!(t.click("U0CAROL", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);

    let reply = t.say("U0CAROL", "status").await;

    assert_eq!(
        reply,
        format!(
            "{NO_REQUESTS}\n\n*Access to your groups now:*\n• <@U0ALICE> holds `prod-db` (#1) — 1h 59m left"
        )
    );
}

#[tokio::test]
async fn a_non_owner_sees_only_their_own_requests() {
    let t = TestApp::spawn().await;
    t.alice_requests("request prod-db 2h fixing INC-4711").await;

    let alices = t.say("U0ALICE", "status").await;
    let mallorys = t.say("U0MALLORY", "status").await;

    assert_eq!(
        alices,
        "*Your requests:*\n• #1 `prod-db` for 2h — ⏳ pending"
    );
    assert_eq!(mallorys, NO_REQUESTS);
}

#[tokio::test]
async fn an_owner_who_asks_does_not_await_their_own_decision() {
    let t = TestApp::spawn().await;
    let reply = t.say("U0CAROL", "request prod-db 1h deploy").await;
    assert!(reply.starts_with("Request #1"), "{reply}");
    t.run_jobs().await;

    let carols = t.say("U0CAROL", "status").await;

    assert_eq!(
        carols,
        "*Your requests:*\n• #1 `prod-db` for 1h — ⏳ pending"
    );
}

#[tokio::test]
async fn a_teams_owner_sees_the_requester_by_name() {
    let t = TestApp::spawn().await;
    t.teams_user_has_talked("alice", "a:alice-chat").await;
    t.teams_user_has_talked("bob", "a:bob-chat").await;
    t.teams_alice_requests("jit request prod-db 1h deploy **now**")
        .await;

    t.teams_say("bob", "a:bob-chat", "jit status").await;

    let reply = &t.teams.wait_for_sent("a:bob-chat", 2).await[1];
    assert_eq!(reply["textFormat"], "plain", "it quotes what alice typed");
    assert_eq!(
        reply["text"],
        "You have no pending or active requests. `jit request <group> [duration] <justification>` asks for one.\n\n\
         Awaiting your decision:\n\
         • #1 Alice Example asks for `prod-db` for 1h — asked less than a minute ago: “deploy **now**”"
    );
}
