//! The whole path through Slack: request, approve, grant, expire — as Slack and the provider see it.

use crate::common::*;
use chrono::{Duration, Utc};
use jitbot::domain::RequestStatus;

#[tokio::test]
async fn a_request_is_approved_granted_and_revoked_at_expiry() {
    let t = TestApp::spawn().await;

    let reply = t.say("U0ALICE", "request prod-db 2h fixing INC-4711").await;
    assert!(
        reply.contains("Request #1") && reply.contains("checking your account"),
        "{reply}"
    );
    t.run_jobs().await;

    // The visible message in the channel where alice asked, and the card in the approval channel.
    let root = &t.slack.posts_in(REQUEST_CHANNEL, None)[0];
    let root_text = root["text"].as_str().unwrap();
    assert!(
        root_text.contains("request #1: <@U0ALICE> asks for *prod-db* for 2h"),
        "{root_text}"
    );
    assert!(root_text.contains("pending"), "{root_text}");
    let card = &t.slack.posts_in(APPROVAL_CHANNEL, None)[0];
    let card_json = card.to_string();
    assert!(
        card_json.contains("jit_approve") && card_json.contains("jit_deny"),
        "{card_json}"
    );
    assert!(card_json.contains("fixing INC-4711"), "{card_json}");
    assert!(
        card_json.contains("<@U0BOB>") && card_json.contains("<@U0CAROL>"),
        "owners are mentioned: {card_json}"
    );

    assert_eq!(t.click("U0BOB", 1, "jit_approve").await, 200);
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);
    let granted_at = Utc::now();
    t.run_jobs_at(granted_at).await;

    let request = t.request(1).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(
        request.expires_at,
        Some(request.granted_at.unwrap() + Duration::hours(2))
    );
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );

    // Every event is a reply in the request's thread.
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(replies[0].contains("Approved by <@U0BOB>"), "{replies:?}");
    assert!(replies[1].contains("Access granted"), "{replies:?}");

    // The card lost its buttons and says who approved.
    let last_card = t.slack.last_update_in(APPROVAL_CHANNEL);
    assert!(!last_card.contains("jit_approve"), "{last_card}");
    assert!(last_card.contains("Approved by <@U0BOB>"), "{last_card}");

    // Nothing happens before the time is up …
    t.run_jobs_at(granted_at + Duration::minutes(119)).await;
    assert_eq!(t.request(1).await.status, RequestStatus::Active);
    // … and at expiry the access is removed and alice is told in the thread.
    t.run_jobs_at(request.expires_at.unwrap() + Duration::seconds(1))
        .await;
    assert_eq!(t.request(1).await.status, RequestStatus::Ended);
    assert!(t.local_members("prod-db-writers").await.is_empty());
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(
        replies.last().unwrap().contains("Time is up"),
        "{replies:?}"
    );
    assert!(
        t.slack.last_update_in(REQUEST_CHANNEL).contains("ended"),
        "the thread root shows the end"
    );
    let last_card = t.slack.last_update_in(APPROVAL_CHANNEL);
    assert!(last_card.contains("ended"), "{last_card}");

    assert_eq!(
        t.audit_actions(1).await,
        [
            "requested",
            "requester_confirmed",
            "approved",
            "granted",
            "expiring",
            "revoked"
        ]
    );
    assert_eq!(
        jitbot::store::audit::verify(&t.app.core.db.read().unwrap()).unwrap(),
        jitbot::store::audit::ChainCheck::Intact { events: 6 }
    );
    assert_eq!(t.count("jobs").await, 0, "no job is left behind");
}

#[tokio::test]
async fn the_card_does_not_wait_for_the_thread_s_post() {
    let t = TestApp::spawn().await;
    t.slack.hold_posts_in(REQUEST_CHANNEL);

    t.say("U0ALICE", "request prod-db 2h fixing INC-4711").await;
    let jobs = tokio::spawn({
        let core = t.app.core.clone();
        async move { jitbot::scheduler::run_due(&core, Utc::now()).await.unwrap() }
    });

    // The card goes out while Slack has not yet answered the thread's post.
    let cards = t.slack.wait_for("chat.postMessage", 1).await;
    assert_eq!(cards[0]["channel"], APPROVAL_CHANNEL, "{cards:?}");
    assert!(t.slack.posts_in(REQUEST_CHANNEL, None).is_empty());
    t.slack.release_posts_in(REQUEST_CHANNEL);
    jobs.await.unwrap();
    t.run_jobs().await;

    let root = &t.slack.posts_in(REQUEST_CHANNEL, None);
    assert_eq!(root.len(), 1, "the thread once: {root:?}");
    assert!(root[0]["text"].as_str().unwrap().contains("request #1"));
    assert_eq!(
        t.slack.posts_in(APPROVAL_CHANNEL, None).len(),
        1,
        "the card once"
    );
}
