//! `GET /metrics`: the numbers move as the lifecycle runs.

use crate::common::*;
use chrono::Duration;

async fn scrape(t: &TestApp) -> String {
    let response = reqwest::get(format!("{}/metrics", t.url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    response.text().await.unwrap()
}

/// The value of one sample line, e.g. `jitbot_active_grants`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_move_as_the_lifecycle_runs() {
    let t = TestApp::spawn().await;
    let before = scrape(&t).await;
    assert_eq!(sample(&before, "jitbot_active_grants"), 0.0);

    t.slack.fail_next("chat.postMessage", 1, "ratelimited");
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;
    t.say("U0ALICE", "request nonexistent 1h why").await;
    let queued = scrape(&t).await;
    assert_eq!(
        sample(&queued, "jitbot_requests_total{outcome=\"submitted\"}"),
        1.0
    );
    assert_eq!(
        sample(&queued, "jitbot_requests_total{outcome=\"refused\"}"),
        1.0
    );
    assert!(sample(&queued, "jitbot_job_retries_total{job=\"announce\"}") >= 1.0);
    assert!(sample(&queued, "jitbot_jobs_queued") >= 1.0);

    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    let granted = scrape(&t).await;
    assert_eq!(
        sample(&granted, "jitbot_decisions_total{verdict=\"approve\"}"),
        1.0
    );
    assert_eq!(sample(&granted, "jitbot_decision_seconds_count"), 1.0);
    assert_eq!(sample(&granted, "jitbot_active_grants"), 1.0);

    let end = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(end + Duration::milliseconds(300)).await;
    let ended = scrape(&t).await;
    assert_eq!(sample(&ended, "jitbot_active_grants"), 0.0);
    assert_eq!(sample(&ended, "jitbot_revocation_lag_seconds_count"), 1.0);
    let lag = sample(&ended, "jitbot_revocation_lag_seconds_sum");
    assert!((0.2..0.5).contains(&lag), "lag {lag}");
}

#[tokio::test]
async fn the_oldest_due_job_is_one_waiting_to_run_not_one_running() {
    let t = TestApp::spawn().await;
    let db = &t.app.core.db;
    execute(db, "DELETE FROM jobs", []).await;
    let due = (chrono::Utc::now() - Duration::seconds(90)).timestamp_millis();
    execute(
        db,
        "INSERT INTO jobs (payload, due_at) VALUES ('{\"job\":\"sweep\"}', ?)",
        [due],
    )
    .await;
    let waiting = scrape(&t).await;
    let waited = sample(&waiting, "jitbot_oldest_due_job_seconds");
    assert!((90.0..120.0).contains(&waited), "waited {waited}");
    assert_eq!(sample(&waiting, "jitbot_jobs_queued"), 1.0);

    let lease = (chrono::Utc::now() + Duration::minutes(5)).timestamp_millis();
    execute(db, "UPDATE jobs SET locked_until = ?", [lease]).await;
    let running = scrape(&t).await;
    assert_eq!(sample(&running, "jitbot_oldest_due_job_seconds"), 0.0);
    assert_eq!(sample(&running, "jitbot_jobs_queued"), 1.0);
}

#[tokio::test]
async fn failed_calls_to_other_systems_are_counted_by_service_and_kind() {
    let t = TestApp::spawn().await;
    t.slack.fail_next("chat.postMessage", 1, "ratelimited");
    let id = t.alice_requests("request billing 1h month-end close").await;
    t.webhook.fail_next(1);
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;

    let text = scrape(&t).await;
    let errors = |service: &str, kind: &str| {
        sample(
            &text,
            &format!("jitbot_api_errors_total{{service=\"{service}\",kind=\"{kind}\"}}"),
        )
    };
    assert_eq!(errors("webhook", "http_5xx"), 1.0, "the receiver's 500");
    assert_eq!(errors("slack", "throttled"), 1.0, "Slack's ratelimited");
    assert!(!text.contains("service=\"graph\""), "{text}");
}
