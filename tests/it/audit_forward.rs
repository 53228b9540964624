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

#[test]
fn an_audit_webhook_over_plain_http_elsewhere_is_refused() {
    let text = "audit_webhook = \"http://collector.example.com/ingest\"\n";
    let error = jitbot::config::Config::parse(text, std::path::Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(error.contains("audit_webhook"), "{error}");
    assert!(error.contains("unencrypted"), "{error}");
}
