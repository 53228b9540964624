//! Shutdown, as SIGTERM asks for it: no new work, the job in hand finished, out within seconds.

use std::time::Duration;

use crate::common::*;
use jitbot::domain::RequestStatus;

#[tokio::test]
async fn a_shutdown_during_a_grant_finishes_it_and_loses_nothing() {
    let mut t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    let id = t.alice_requests("request billing 1h month end").await;
    t.wait_until_confirmed(id).await;
    // The receiver takes its time with the grant: the shutdown comes while it is in hand.
    t.webhook.delay_next(Duration::from_millis(1500));
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    for _ in 0..300 {
        if !t.webhook.deliveries().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(t.webhook.deliveries().len(), 1, "the grant is in flight");

    let took = t.shut_down().await;
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The grant in hand was finished and recorded, with its revocation queued.
    let request = t.request(id).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert!(t.audit_actions(id).await.contains(&"granted".to_string()));
    assert_eq!(t.webhook.deliveries().len(), 1, "granted once");

    // A new start finds the revocation waiting and does it at the end.
    let t = t.restart(false).await;
    t.run_jobs_at(request.expires_at.unwrap() + chrono::Duration::seconds(1))
        .await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    let actions: Vec<String> = t
        .webhook
        .deliveries()
        .iter()
        .map(|d| d.json()["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(actions, ["grant", "revoke"]);
}
