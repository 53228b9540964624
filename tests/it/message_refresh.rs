//! A message is updated in chat only when what it shows has changed: the refresh after a request
//! passes its check sends nothing that was just posted, a decision still updates every message,
//! and an update the platform refused is sent again by the job's retry.

use chrono::{Duration, Utc};
use jitbot::domain::RequestStatus;
use serde_json::Value;

use crate::common::*;

/// The Slack `chat.update` calls: (channel, whether Slack accepted it, the arguments).
fn slack_updates(t: &TestApp) -> Vec<(String, bool, Value)> {
    t.slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.update")
        .map(|c| {
            let channel = c.args["channel"].as_str().unwrap_or_default().to_string();
            (channel, c.reply["ok"] == true, c.args)
        })
        .collect()
}

/// The Bot Connector PUTs (updates for everyone): (conversation path, HTTP status, body).
fn teams_updates(t: &TestApp) -> Vec<(String, u16, Value)> {
    t.teams
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT")
        .map(|c| (c.path, c.status, c.body))
        .collect()
}

/// The last update of the Teams approval card (its thread is `<channel>;messageid=…`), as text.
fn last_teams_card_update(t: &TestApp) -> String {
    let card = format!("conversations/{TEAMS_APPROVALS};messageid=");
    let updates = teams_updates(t);
    let (.., body) = updates
        .iter()
        .rev()
        .find(|(path, status, _)| path.starts_with(&card) && *status == 200)
        .unwrap_or_else(|| panic!("the Teams approval card was not updated: {updates:#?}"));
    body.to_string()
}

async fn messages_with_unknown_content(t: &TestApp) -> i64 {
    query_one(
        &t.app.core.db,
        "SELECT COUNT(*) FROM messages WHERE shown_sha256 IS NULL",
        [],
    )
}

#[tokio::test]
async fn a_filed_slack_request_is_posted_once_and_updated_only_when_approved() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;

    // The check passed and its refresh ran: the thread and both cards were posted …
    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Pending);
    assert!(request.confirmed_at.is_some(), "the check passed");
    assert_eq!(t.jobs_left_but_timeouts().await, 0, "the refresh ran");
    assert_eq!(t.slack.posts_in(REQUEST_CHANNEL, None).len(), 1);
    assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);
    assert_eq!(t.teams.started().len(), 1, "the Teams approval card");
    assert_eq!(t.count("messages").await, 3);
    assert_eq!(messages_with_unknown_content(&t).await, 0);
    // … and none of them was updated with what it already showed.
    assert!(slack_updates(&t).is_empty(), "{:#?}", slack_updates(&t));
    assert!(teams_updates(&t).is_empty(), "{:#?}", teams_updates(&t));

    // An approval changes what every message shows: each is updated.
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    assert!(
        t.slack
            .last_update_in(REQUEST_CHANNEL)
            .contains("active until")
    );
    let card = t.slack.last_update_in(APPROVAL_CHANNEL);
    assert!(card.contains("Approved by <@U0BOB>"), "{card}");
    assert!(
        !card.contains("jit_approve"),
        "the buttons are gone: {card}"
    );
    let teams_card = last_teams_card_update(&t);
    assert!(teams_card.contains("active until"), "{teams_card}");
    // Each refresh sent a message only when its rendering changed: no two updates of one
    // message in a row carry the same content.
    let slack = slack_updates(&t)
        .into_iter()
        .map(|(at, _, body)| (at, body));
    let teams = teams_updates(&t)
        .into_iter()
        .map(|(at, _, body)| (at, body));
    for shown in [slack.collect::<Vec<_>>(), teams.collect()] {
        for (n, later) in shown.iter().enumerate() {
            let earlier = shown[..n].iter().rev().find(|(at, _)| *at == later.0);
            assert_ne!(earlier, Some(later), "an update repeated what was shown");
        }
    }
}

#[tokio::test]
async fn a_filed_teams_request_is_posted_once_and_updated_only_when_approved() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 2h fixing INC-4711")
        .await;

    let request = t.request(1).await;
    assert!(request.confirmed_at.is_some(), "the check passed");
    assert_eq!(t.jobs_left_but_timeouts().await, 0, "the refresh ran");
    assert_eq!(t.teams.sent_to(TEAMS_THREAD).len(), 1, "the status card");
    assert_eq!(t.teams.started().len(), 1, "the Teams approval card");
    assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);
    assert_eq!(messages_with_unknown_content(&t).await, 0);
    assert!(teams_updates(&t).is_empty(), "{:#?}", teams_updates(&t));
    assert!(slack_updates(&t).is_empty(), "{:#?}", slack_updates(&t));

    t.teams_click("bob", 1, "jit.approve").await;
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Active);
    let status = t.teams.last_update_in(TEAMS_THREAD).to_string();
    assert!(status.contains("active until"), "{status}");
    let approval = last_teams_card_update(&t);
    assert!(approval.contains("active until"), "{approval}");
    assert!(
        t.slack
            .last_update_in(APPROVAL_CHANNEL)
            .contains("active until")
    );
}

#[tokio::test]
async fn a_slack_update_that_failed_is_sent_again_on_retry() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;

    // Slack refuses the first update: the thread's, which the refresh sends first.
    t.slack.fail_next("chat.update", 1, "internal_error");
    assert_eq!(t.click("U0CAROL", id, "jit_deny").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Denied);
    let updates = slack_updates(&t);
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(
        (updates[0].0.as_str(), updates[0].1),
        (REQUEST_CHANNEL, false)
    );

    // The retry sends it again — it was not taken as shown — and then the card.
    t.run_jobs_at(Utc::now() + Duration::seconds(10)).await;
    let updates = slack_updates(&t);
    let outcome: Vec<(&str, bool)> = updates.iter().map(|(c, ok, _)| (c.as_str(), *ok)).collect();
    assert_eq!(
        outcome,
        [
            (REQUEST_CHANNEL, false),
            (REQUEST_CHANNEL, true),
            (APPROVAL_CHANNEL, true)
        ]
    );
    assert_eq!(updates[1].2, updates[0].2, "the same content, sent again");
    assert!(t.slack.last_update_in(REQUEST_CHANNEL).contains("denied"));
    assert!(last_teams_card_update(&t).contains("Denied"));
    assert_eq!(t.jobs_left_but_timeouts().await, 0);
}

#[tokio::test]
async fn a_teams_update_that_failed_is_sent_again_on_retry_and_nothing_else_twice() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 2h fixing INC-4711")
        .await;

    // The Bot Connector refuses the first update: the status card in alice's thread.
    t.teams.fail_next("PUT", 1);
    t.teams_click("bob", 1, "jit.deny").await;
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Denied);
    let statuses: Vec<u16> = teams_updates(&t).iter().map(|u| u.1).collect();
    assert_eq!(statuses, [503]);
    assert_eq!(slack_updates(&t).len(), 1, "the Slack card was updated");

    t.run_jobs_at(Utc::now() + Duration::seconds(10)).await;
    let updates = teams_updates(&t);
    let thread = format!("conversations/{TEAMS_THREAD}/activities/");
    let outcome: Vec<(bool, u16)> = updates
        .iter()
        .map(|(path, status, _)| (path.starts_with(&thread), *status))
        .collect();
    assert_eq!(
        outcome,
        [(true, 503), (true, 200), (false, 200)],
        "{updates:#?}"
    );
    assert_eq!(updates[1].2, updates[0].2, "the same content, sent again");
    assert!(updates[1].2.to_string().contains("denied"));
    assert_eq!(
        slack_updates(&t).len(),
        1,
        "the Slack card Slack had accepted was not sent again"
    );
    assert_eq!(t.jobs_left_but_timeouts().await, 0);
}

#[tokio::test]
async fn a_retried_check_redraws_the_slack_thread_but_not_the_cards_posted_after_it() {
    let t = TestApp::spawn().await;
    // The check fails once: the thread opens before it passes, the cards only after.
    t.slack.fail_next("users.info", 1, "internal_error");
    let id = t.alice_requests("request prod-db 1h INC-1").await;
    assert!(t.request(id).await.confirmed_at.is_none());
    let thread = t.slack.thread_in(REQUEST_CHANNEL);

    t.run_jobs_at(Utc::now() + Duration::seconds(10)).await;
    assert!(t.request(id).await.confirmed_at.is_some());
    assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);
    assert_eq!(t.teams.started().len(), 1, "the Teams approval card");
    // The refresh the passed check queued redraws the thread, whose content changed, and
    // leaves alone the cards that already show the request as it is.
    let updates = slack_updates(&t);
    let updated: Vec<(&str, &str)> = updates
        .iter()
        .map(|(channel, _, args)| (channel.as_str(), args["ts"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(updated, [(REQUEST_CHANNEL, thread.as_str())]);
    assert!(teams_updates(&t).is_empty(), "{:#?}", teams_updates(&t));
    assert_eq!(messages_with_unknown_content(&t).await, 0);
}

#[tokio::test]
async fn a_message_from_before_the_upgrade_is_updated_on_its_next_refresh_and_remembered() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h INC-1").await;
    // Rows remembered before migration 0012 do not know what they show.
    execute(
        &t.app.core.db,
        "UPDATE messages SET shown_sha256 = NULL",
        [],
    )
    .await;

    // Carol's deny refreshes every message: each is updated once, and remembered.
    assert_eq!(t.click("U0CAROL", id, "jit_deny").await, 200);
    t.run_jobs().await;
    let channels: Vec<String> = slack_updates(&t).into_iter().map(|u| u.0).collect();
    assert_eq!(channels, [REQUEST_CHANNEL, APPROVAL_CHANNEL]);
    assert_eq!(teams_updates(&t).len(), 1, "the Teams approval card");
    assert_eq!(messages_with_unknown_content(&t).await, 0);
}
