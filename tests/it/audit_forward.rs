//! `audit_webhook`: every audit event reaches the collector, signed, in order, at least once.

use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// The audit events the collector has received, in the order it received them.
fn forwarded(t: &TestApp) -> Vec<Value> {
    t.webhook
        .deliveries()
        .iter()
        .map(|delivery| delivery.json())
        .filter(|event| event.get("event_id").is_some())
        .collect()
}

#[tokio::test]
async fn a_collector_that_was_down_gets_every_event_in_order() {
    let options = Options {
        scheduler: true,
        audit_webhook: true,
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
    // The collector is down for the first try.
    t.webhook.fail_next(1);
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;
    t.wait_until_confirmed(id).await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.wait_for_status(id, jitbot::domain::RequestStatus::Active)
        .await;
    let events = t.count("audit_events").await;

    let mut got = Vec::new();
    for _ in 0..1000 {
        got = forwarded(&t);
        let last = got.last().and_then(|e| e["event_id"].as_i64()).unwrap_or(0);
        if last >= events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // In order, nothing skipped: a refused event is sent again before any later one.
    let ids: Vec<i64> = got
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, (1..=events).collect::<Vec<_>>(), "{ids:?}");
    assert_eq!(ids[0], ids[1], "the refused first event was sent again");
    assert_eq!(got[0]["action"], "requested");

    // Signed like webhook events, with the secret of audit_webhook_secret_env.
    let delivery = t
        .webhook
        .deliveries()
        .into_iter()
        .find(|d| d.json().get("event_id").is_some())
        .unwrap();
    let expected = jitbot::providers::sign_webhook(
        WEBHOOK_SECRET,
        &delivery.header("x-jitbot-timestamp"),
        &delivery.body,
    );
    assert_eq!(delivery.header("x-jitbot-signature"), expected);
}

/// A round moves the collector's cursor once, past the events the collector took, and stops at
/// the first it refuses: the next round starts at that one and sends none of the earlier again.
#[tokio::test]
async fn a_round_moves_the_cursor_once_and_the_next_starts_at_the_refused_event() {
    let options = Options {
        audit_webhook: true,
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
    t.alice_requests("request prod-db 1h fixing INC-4711").await;
    t.alice_requests("request payroll 1h month end").await;
    let ids = |t: &TestApp| -> Vec<i64> {
        forwarded(t)
            .iter()
            .map(|e| e["event_id"].as_i64().unwrap())
            .collect()
    };
    let sent_before = ids(&t).len();
    let last_taken = ids(&t).last().copied().unwrap_or(0);
    let events = t.count("audit_events").await;
    assert!(
        events - last_taken >= 4,
        "events waiting: {}",
        events - last_taken
    );
    let core = &t.app.core;

    t.webhook.fail_one_after(2);
    let (transactions, _) = core.db.committed();
    let refused = jitbot::access::audit_forward::run(core, chrono::Utc::now()).await;
    assert!(refused.is_err(), "the refused event stops the round");
    assert_eq!(
        core.db.committed().0 - transactions,
        1,
        "one write moves the cursor past the two events taken"
    );

    jitbot::access::audit_forward::run(core, chrono::Utc::now())
        .await
        .unwrap();
    let round_ids = ids(&t)[sent_before..].to_vec();
    let first = last_taken + 1;
    let mut expected = vec![first, first + 1, first + 2];
    expected.extend(first + 2..=events);
    assert_eq!(
        round_ids, expected,
        "the refused event again, then the rest"
    );
}

#[test]
fn an_audit_webhook_over_plain_http_elsewhere_is_refused() {
    let text = "audit_webhook = \"http://collector.example.com/ingest\"\n";
    let error = jitbot::config::Config::parse(text, std::path::Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(error.contains("audit_webhook"), "{error}");
    assert!(error.contains("unencrypted"), "{error}");
}
