//! Steady under load: one hung provider call does not hold other revocations back, and DM
//! channels are opened once per person.

use std::time::{Duration, Instant};

use chrono::Utc;
use jitbot::domain::RequestStatus;

use crate::common::*;

/// `user` asks for billing (a webhook group), bob approves, and the running scheduler grants it.
async fn granted_billing(t: &TestApp, user: &str) -> i64 {
    let reply = t.say(user, "request billing 1h INC-7").await;
    let id: i64 = reply
        .split_once('#')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| {
            n.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no request id in {reply:?}"));
    t.wait_until_confirmed(id).await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.wait_for_status(id, RequestStatus::Active).await;
    id
}

/// The access of request `id` ends now: its revocation comes due, and the scheduler hears it.
async fn comes_due_now(t: &TestApp, id: i64) {
    let now = jitbot::store::to_ms(Utc::now());
    execute(
        &t.app.core.db,
        "UPDATE requests SET expires_at = ? WHERE id = ?",
        (now, id),
    )
    .await;
    execute(
        &t.app.core.db,
        "UPDATE jobs SET due_at = ? WHERE request_id = ? AND payload LIKE '%\"revoke\"%'",
        (now, id),
    )
    .await;
    t.app.core.wake_scheduler();
}

fn revocations_of(t: &TestApp, id: i64) -> usize {
    t.webhook
        .deliveries()
        .iter()
        .filter(|d| d.json()["action"] == "revoke" && d.json()["request_id"] == id)
        .count()
}

#[tokio::test]
async fn a_hung_revocation_does_not_hold_back_another() {
    let t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    let alice = granted_billing(&t, "U0ALICE").await;
    let mallory = granted_billing(&t, "U0MALLORY").await;

    // The receiver holds alice's revocation far longer than a revocation should take.
    t.webhook.delay_next(Duration::from_secs(30));
    comes_due_now(&t, alice).await;
    for _ in 0..500 {
        if revocations_of(&t, alice) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        revocations_of(&t, alice),
        1,
        "alice's revocation is hanging"
    );

    let started = Instant::now();
    comes_due_now(&t, mallory).await;
    t.wait_for_status(mallory, RequestStatus::Ended).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "mallory's revocation waited {:?} behind alice's",
        started.elapsed()
    );
    assert_eq!(t.request(alice).await.status, RequestStatus::Revoking);
}

#[tokio::test]
async fn a_dm_channel_is_opened_once_per_owner() {
    let t = TestApp::spawn().await;
    t.alice_requests("request payroll 30m fixing a salary run")
        .await;
    assert!(
        t.say("U0MALLORY", "request payroll 30m a second run")
            .await
            .contains('#')
    );
    t.run_jobs().await;

    for owner in ["U0BOB", "U0CAROL", "U0DAVE"] {
        let cards = t.slack.posts_in(&format!("D{owner}"), None);
        assert_eq!(cards.len(), 2, "{owner} has a card for each request");
        let opened = t
            .slack
            .calls_to("conversations.open")
            .iter()
            .filter(|call| call["users"].to_string().contains(owner))
            .count();
        assert_eq!(opened, 1, "{owner}'s DM was opened once");
    }
}
