//! The scheduler: grants and revocations on time, retried with backoff, and nothing lost across
//! a restart.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use jitbot::domain::RequestStatus;
use jitbot::store;
use serde_json::Value;

/// Makes every waiting job due long ago, as if the process had been stopped meanwhile.
async fn time_passes(t: &TestApp) {
    execute(&t.app.core.db, "UPDATE jobs SET due_at = 0", []).await;
}

/// Runs the jobs at `at`, where the webhook fails for the `attempt`-th time, and checks that the
/// grant is retried after `wait_ms` plus at most 10 % jitter.
async fn retried_after(t: &TestApp, at: DateTime<Utc>, attempt: i64, wait_ms: i64) {
    t.run_jobs_at(at).await;
    assert_eq!(t.webhook.deliveries().len(), attempt as usize);
    let job = store::jobs::all(&t.app.core.db.read().unwrap())
        .unwrap()
        .into_iter()
        .find(|j| j.attempts > 0)
        .expect("a retried job");
    assert_eq!(job.attempts, attempt);
    // Both in whole milliseconds, as the database keeps them: `at`'s sub-millisecond part must
    // not make a 2 s wait read 1999 ms.
    let wait = job.due_at - at.timestamp_millis();
    assert!(
        (wait_ms..=wait_ms * 11 / 10).contains(&wait),
        "retry {attempt} after ~{wait_ms} ms, not {wait} ms"
    );
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_backoff_then_granted() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request billing 1h month-end close").await;
    t.webhook.fail_next(2);
    t.click("U0BOB", id, "jit_approve").await;
    let t0 = Utc::now() + Duration::seconds(1);

    retried_after(&t, t0, 1, 2000).await;

    t.run_jobs_at(t0 + Duration::seconds(1)).await;
    assert_eq!(
        t.webhook.deliveries().len(),
        1,
        "not retried before its time"
    );

    let t1 = t0 + Duration::seconds(3);
    retried_after(&t, t1, 2, 4000).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);

    let t2 = t1 + Duration::seconds(5);
    t.run_jobs_at(t2).await;
    let deliveries = t.webhook.deliveries();
    assert_eq!(deliveries.len(), 3);
    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(
        request.granted_at,
        Some(store::from_ms(store::to_ms(t2))),
        "the clock starts at the successful grant"
    );

    // The event is signed, and says what to grant to whom until when.
    let grant = &deliveries[2];
    let signature = jitbot::providers::sign_webhook(
        WEBHOOK_SECRET,
        &grant.header("x-jitbot-timestamp"),
        &grant.body,
    );
    assert_eq!(grant.header("x-jitbot-signature"), signature);
    let event = grant.json();
    assert_eq!(event["action"], "grant");
    assert_eq!(event["request_id"], id);
    assert_eq!(event["group"], "billing");
    assert_eq!(event["target"], "billing-admins");
    assert_eq!(event["user_email"], "alice@example.com");
    assert_eq!(event["expires_at"], (t2 + Duration::hours(1)).to_rfc3339());

    t.run_jobs_at(t2 + Duration::hours(1)).await;
    assert_eq!(
        t.webhook.deliveries().last().unwrap().json()["action"],
        "revoke"
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
}

#[tokio::test]
async fn a_grant_that_keeps_failing_fails_the_request_and_tells_the_owners() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request billing 1h month-end close").await;
    t.webhook
        .fail_next(jitbot::scheduler::GRANT_ATTEMPTS as usize);
    t.click("U0BOB", id, "jit_approve").await;

    let start = Utc::now();
    for minute in 0..15 {
        t.run_jobs_at(start + Duration::minutes(minute * 10)).await;
    }

    let grants = t
        .webhook
        .deliveries()
        .iter()
        .filter(|d| d.json()["action"] == "grant")
        .count();
    assert_eq!(grants, jitbot::scheduler::GRANT_ATTEMPTS as usize);
    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Failed);
    assert!(request.failure.unwrap().contains("500"));
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(
        replies.last().unwrap().contains("Granting access failed"),
        "{replies:?}"
    );
    let card = t.slack.thread_in(APPROVAL_CHANNEL);
    let to_owners = t.slack.replies_in(APPROVAL_CHANNEL, &card);
    assert_eq!(
        to_owners.len(),
        3,
        "a warning after 3 failures, the failure, what it left undone: {to_owners:?}"
    );
    assert!(
        to_owners[0].starts_with("<@U0BOB> ⚠️ The grant for this request has failed 3 times"),
        "{to_owners:?}"
    );
    assert!(
        to_owners[1].contains("Granting access failed"),
        "{to_owners:?}"
    );
    assert_eq!(
        t.audit_actions(id).await,
        [
            "requested",
            "requester_confirmed",
            "approved",
            "grant_failed",
            "failed_grant_undone"
        ]
    );
}

#[tokio::test]
async fn a_grant_given_up_is_undone_in_case_the_receiver_applied_it() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request billing 1h month-end close").await;
    // The receiver applies every grant but answers 500, so jitbot never hears it worked.
    t.webhook
        .fail_next(jitbot::scheduler::GRANT_ATTEMPTS as usize + 2);
    t.click("U0BOB", id, "jit_approve").await;
    let start = Utc::now();
    for step in 0..20 {
        t.run_jobs_at(start + Duration::minutes(step * 10)).await;
    }
    assert_eq!(t.request(id).await.status, RequestStatus::Failed);
    let actions: Vec<Value> = t
        .webhook
        .deliveries()
        .iter()
        .map(|d| d.json()["action"].clone())
        .collect();
    let revokes = actions.iter().filter(|a| *a == "revoke").count();
    // The revocation is retried like any other until the receiver takes it.
    assert_eq!(revokes, 3, "{actions:?}");
    assert_eq!(actions.last().unwrap(), "revoke");
    assert_eq!(
        t.audit_actions(id).await.last().map(String::as_str),
        Some("failed_grant_undone")
    );
    let card = t.slack.thread_in(APPROVAL_CHANNEL);
    let to_owners = t.slack.replies_in(APPROVAL_CHANNEL, &card);
    assert!(
        to_owners.last().unwrap().contains("has been undone"),
        "{to_owners:?}"
    );
    // Chat hears an error id, never the error chain with the receiver's URL.
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    for reply in t
        .slack
        .replies_in(REQUEST_CHANNEL, &thread)
        .iter()
        .chain(&to_owners)
    {
        assert!(!reply.contains("http://"), "{reply}");
        assert!(!reply.contains("500"), "{reply}");
    }
}

#[tokio::test]
async fn a_revocation_that_keeps_failing_warns_the_owners_and_is_never_given_up() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request billing 1h month-end close").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    let expires_at = t.request(id).await.expires_at.unwrap();

    t.webhook.fail_next(1000);
    for step in 0..30 {
        t.run_jobs_at(expires_at + Duration::minutes(step * 10))
            .await;
    }
    assert_eq!(
        t.request(id).await.status,
        RequestStatus::Revoking,
        "still trying after five hours"
    );
    let revokes = t
        .webhook
        .deliveries()
        .iter()
        .filter(|d| d.json()["action"] == "revoke")
        .count();
    assert!(revokes >= 30, "retried every time it came due: {revokes}");
    let card = t.slack.thread_in(APPROVAL_CHANNEL);
    let warnings = t.slack.replies_in(APPROVAL_CHANNEL, &card);
    assert_eq!(warnings.len(), 1, "owners are warned once: {warnings:?}");
    assert!(warnings[0].contains("The revocation for this request has failed 3 times"));

    t.webhook.fail_next(0);
    t.run_jobs_at(expires_at + Duration::hours(6)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    let to_owners = t.slack.replies_in(APPROVAL_CHANNEL, &card);
    assert!(
        to_owners
            .last()
            .unwrap()
            .contains("The revocation went through after all"),
        "{to_owners:?}"
    );
}

#[tokio::test]
async fn a_revocation_that_came_due_while_stopped_runs_at_start() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 30m deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    time_passes(&t).await;
    // Granted 31 minutes ago, so it expired a minute ago — while jitbot was down.
    t.run_jobs_at(Utc::now() - Duration::minutes(31)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );

    let t = t.restart(true).await;

    t.wait_for_status(id, RequestStatus::Ended).await;
    assert!(t.local_members("prod-db-writers").await.is_empty());
}

/// A process killed mid-job leaves its claims behind (`locked_until`, five minutes ahead). The
/// next one frees them before anything claims, so the revocation runs at once, not once the
/// lease runs out.
#[tokio::test]
async fn claims_left_by_a_stopped_process_are_freed_at_start() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 30m deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    time_passes(&t).await;
    t.run_jobs_at(Utc::now() - Duration::minutes(31)).await;
    let lease = jitbot::store::to_ms(Utc::now() + Duration::minutes(5));
    let held =
        "UPDATE jobs SET locked_until = ? WHERE request_id = ? AND payload LIKE '%\"revoke\"%'";
    assert_eq!(execute(&t.app.core.db, held, (lease, id)).await, 1);

    let t = t.restart(true).await;

    t.wait_for_status(id, RequestStatus::Ended).await;
    assert!(t.local_members("prod-db-writers").await.is_empty());
}

#[tokio::test]
async fn the_scheduler_revokes_within_a_second_of_expiry() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    time_passes(&t).await;
    // Granted so that it expires 1.5 s from now.
    t.run_jobs_at(Utc::now() - Duration::hours(1) + Duration::milliseconds(1500))
        .await;
    let expires_at = t.request(id).await.expires_at.unwrap();

    let t = t.restart(true).await;
    let ended_at = t.wait_for_status(id, RequestStatus::Ended).await.ended_at;
    let late = ended_at.expect("revoked") - expires_at;
    assert!(late >= Duration::zero(), "never early: {late}");
    assert!(
        late < Duration::seconds(1),
        "within a second of its time: {late}"
    );
}

#[tokio::test]
async fn a_member_before_the_grant_keeps_that_access_at_expiry() {
    let t = TestApp::spawn().await;
    store::write(&t.app.core.db, |tx| {
        store::local_memberships::add(tx, "prod-db-writers", "alice@example.com", Utc::now())
    })
    .await
    .unwrap();
    let id = t.alice_requests("request prod-db 1h deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    let request = t.request(id).await;
    assert_eq!(request.already_member, Some(true));

    t.run_jobs_at(request.expires_at.unwrap()).await;

    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    assert!(
        t.slack
            .replies_in(REQUEST_CHANNEL, &thread)
            .last()
            .unwrap()
            .contains("left in place")
    );
    assert!(
        t.audit_actions(id)
            .await
            .contains(&"ended_kept_prior_membership".to_string())
    );
}

#[tokio::test]
async fn a_grant_repeated_after_a_crash_does_not_mistake_its_own_membership_for_prior_access() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    // The first run checked membership and granted, then the process died before recording it.
    store::write(&t.app.core.db, |tx| {
        store::requests::record_prior_membership(tx, id, false)?;
        store::local_memberships::add(tx, "prod-db-writers", "alice@example.com", Utc::now())
    })
    .await
    .unwrap();

    t.run_jobs().await;
    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(request.already_member, Some(false));
    t.run_jobs_at(request.expires_at.unwrap()).await;
    assert!(
        t.local_members("prod-db-writers").await.is_empty(),
        "jitbot's own grant is removed"
    );
}

#[tokio::test]
async fn the_thread_moves_to_a_dm_when_the_bot_cannot_post_in_the_channel() {
    let t = TestApp::spawn().await;
    t.slack.fail_next("chat.postMessage", 1, "not_in_channel");
    let id = t.alice_requests("request prod-db 1h deploy").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;

    let thread = t.slack.thread_in("DU0ALICE");
    let replies = t.slack.replies_in("DU0ALICE", &thread);
    assert!(replies[0].contains("Approved by <@U0BOB>"), "{replies:?}");
}

#[tokio::test]
async fn a_slack_outage_delays_messages_but_loses_none() {
    let t = TestApp::spawn().await;
    t.slack.fail_next("chat.postMessage", 3, "internal_error");
    let reply = t.say("U0ALICE", "request prod-db 1h deploy").await;
    assert!(
        reply.contains("Request #1"),
        "answered at once, whatever Slack does: {reply}"
    );

    let start = Utc::now();
    for second in [0, 3, 10, 30] {
        t.run_jobs_at(start + Duration::seconds(second)).await;
    }
    for channel in [REQUEST_CHANNEL, APPROVAL_CHANNEL] {
        let posted = t
            .slack
            .calls()
            .into_iter()
            .filter(|c| {
                c.method == "chat.postMessage"
                    && c.args["channel"] == channel
                    && c.reply["ok"] == true
            })
            .count();
        assert_eq!(posted, 1, "exactly one message got through to {channel}");
    }
    assert_eq!(t.jobs_left_but_timeouts().await, 0);
}

#[tokio::test]
async fn jobs_waiting_at_a_stop_run_after_the_restart() {
    let t = TestApp::spawn().await;
    let reply = t.say("U0ALICE", "request prod-db 1h deploy").await;
    assert!(reply.contains("Request #1"));
    assert!(t.slack.calls().is_empty(), "nothing posted yet");

    let t = t.restart(true).await;

    t.slack.wait_for("chat.postMessage", 2).await;
    assert!(!t.slack.thread_in(REQUEST_CHANNEL).is_empty());
    assert!(!t.slack.thread_in(APPROVAL_CHANNEL).is_empty());
}

/// The jobs a job queues for its own request run right after it, in the same pass: the approval
/// card that the requester's check queues is posted without waiting for a later pass.
#[tokio::test]
async fn the_jobs_a_job_queues_for_its_request_run_in_the_same_pass() {
    let t = TestApp::spawn().await;
    let reply = t.say("U0ALICE", "request prod-db 1h INC-4711").await;
    assert!(reply.contains('#'), "{reply}");
    let now = Utc::now();

    jitbot::scheduler::run_due(&t.app.core, now).await.unwrap();

    let cards: Vec<Value> = t
        .slack
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|post| post.to_string().contains("jit_approve"))
        .collect();
    assert_eq!(cards.len(), 1, "the card, in the pass that ran the check");
    let left: Vec<_> = store::jobs::all(&t.app.core.db.read().unwrap())
        .unwrap()
        .into_iter()
        .filter(|job| job.due_at <= now.timestamp_millis())
        .map(|job| job.payload)
        .collect();
    assert!(
        left.is_empty(),
        "nothing due left for the next pass: {left:?}"
    );
}
