//! Bad input at the HTTP front door: forged, stale, malformed or oversized requests are turned away and store nothing.

use std::time::Duration;

use crate::common::*;
use chrono::Utc;
use jitbot::domain::RequestStatus;
use serde_json::json;

/// A slash command that would store a request if it got through.
fn request_body() -> String {
    slash_command_body(
        "U0ALICE",
        REQUEST_CHANNEL,
        "request prod-db 2h fixing INC-4711",
    )
}

fn now() -> i64 {
    Utc::now().timestamp()
}

/// The current Unix second, once it has at least half a second left: jitbot then reads the
/// same second as the test, which makes a window edge in the future exact.
async fn early_in_a_second() -> i64 {
    loop {
        let now = Utc::now();
        if now.timestamp_subsec_millis() < 500 {
            return now.timestamp();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Posts `body` with exactly these headers (plus the form content type), signed or not.
async fn post_with_headers(
    t: &TestApp,
    path: &str,
    body: &str,
    headers: &[(&str, String)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", t.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

/// Alice's request for prod-db, with its card posted: something a forged or broken click could change.
async fn pending_request(t: &TestApp) -> i64 {
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    id
}

#[tokio::test]
async fn a_bad_signature_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;
    let body = request_body();
    let ts = now().to_string();

    // Signed, but for another body: the body was tampered with on the way.
    let other_body = slash_command_body("U0ALICE", REQUEST_CHANNEL, "help");
    let tampered = jitbot::slack::verify::sign(SIGNING_SECRET, &ts, other_body.as_bytes());
    // Not a signature at all.
    let garbage = format!("v0={}", "0".repeat(64));
    for signature in [tampered, garbage, "nonsense".to_string()] {
        let response = post_with_headers(
            &t,
            "/slack/commands",
            &body,
            &[
                ("x-slack-request-timestamp", ts.clone()),
                ("x-slack-signature", signature.clone()),
            ],
        )
        .await;
        assert_eq!(response.status(), 401, "signature {signature:?}");
    }

    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_forged_click_is_rejected_and_approves_nothing() {
    let t = TestApp::spawn().await;
    let id = pending_request(&t).await;
    let before = t.state_counts().await;
    let chat_before = t.chat_calls();

    let body = click_body(
        "U0BOB",
        &id.to_string(),
        "jit_approve",
        &format!("{}/respond/U0BOB", t.slack.url),
    );
    let ts = now().to_string();
    let signature = jitbot::slack::verify::sign("not-the-signing-secret", &ts, body.as_bytes());
    let response = post_with_headers(
        &t,
        "/slack/interactions",
        &body,
        &[
            ("x-slack-request-timestamp", ts),
            ("x-slack-signature", signature),
        ],
    )
    .await;

    assert_eq!(response.status(), 401);
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    assert_eq!(t.state_counts().await, before);
    assert_eq!(t.chat_calls(), chat_before);
    assert!(t.private_replies().is_empty());
}

#[tokio::test]
async fn a_stale_timestamp_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;

    let response = t
        .post_signed("/slack/commands", &request_body(), now() - 301)
        .await;

    assert_eq!(response.status(), 401);
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_timestamp_from_the_future_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;

    let response = t
        .post_signed(
            "/slack/commands",
            &request_body(),
            early_in_a_second().await + 301,
        )
        .await;

    assert_eq!(response.status(), 401);
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_timestamp_within_five_minutes_either_way_is_accepted() {
    let t = TestApp::spawn().await;

    let help = slash_command_body("U0ALICE", REQUEST_CHANNEL, "help");
    let past = t.post_signed("/slack/commands", &help, now() - 299).await;
    assert_eq!(past.status(), 200);
    let future = t
        .post_signed("/slack/commands", &help, early_in_a_second().await + 299)
        .await;
    assert_eq!(future.status(), 200);
}

#[tokio::test]
async fn a_request_without_a_signature_header_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;

    let response = post_with_headers(
        &t,
        "/slack/commands",
        &request_body(),
        &[("x-slack-request-timestamp", now().to_string())],
    )
    .await;

    assert_eq!(response.status(), 401);
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_request_without_a_timestamp_header_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;
    let body = request_body();
    let signature =
        jitbot::slack::verify::sign(SIGNING_SECRET, &now().to_string(), body.as_bytes());

    let response = post_with_headers(
        &t,
        "/slack/commands",
        &body,
        &[("x-slack-signature", signature)],
    )
    .await;

    assert_eq!(response.status(), 401);
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_request_signed_with_another_secret_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;
    let body = request_body();
    let ts = now().to_string();
    // Correctly signed, as another Slack app (or an old secret) would sign it.
    let signature =
        jitbot::slack::verify::sign("another-apps-signing-secret", &ts, body.as_bytes());

    let response = post_with_headers(
        &t,
        "/slack/commands",
        &body,
        &[
            ("x-slack-request-timestamp", ts),
            ("x-slack-signature", signature),
        ],
    )
    .await;

    assert_eq!(response.status(), 401);
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_slash_command_without_user_or_channel_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;
    let text = "request prod-db 2h fixing INC-4711";
    let without_user = serde_urlencoded::to_string([
        ("channel_id", REQUEST_CHANNEL),
        ("command", "/jit"),
        ("text", text),
    ])
    .unwrap();
    let without_channel =
        serde_urlencoded::to_string([("user_id", "U0ALICE"), ("command", "/jit"), ("text", text)])
            .unwrap();

    for body in [without_user, without_channel] {
        let response = t.post_signed("/slack/commands", &body, now()).await;
        assert_eq!(response.status(), 400, "{body}");
    }

    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_slash_command_body_that_is_not_a_form_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;
    let json_body = json!({
        "user_id": "U0ALICE",
        "channel_id": REQUEST_CHANNEL,
        "text": "request prod-db 2h fixing INC-4711",
    })
    .to_string();
    // The same field twice is not a form jitbot can read unambiguously.
    let twice = format!("{}&user_id=U0MALLORY", request_body());

    for body in [json_body, twice] {
        let response = t.post_signed("/slack/commands", &body, now()).await;
        assert_eq!(response.status(), 400, "{body}");
    }

    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn an_interaction_without_a_payload_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;

    let response = t
        .post_signed(
            "/slack/interactions",
            "token=deprecated&type=block_actions",
            now(),
        )
        .await;

    assert_eq!(response.status(), 400);
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn an_interaction_payload_that_is_not_json_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;

    for payload in ["not json", "{\"type\": \"block_actions\""] {
        let body = serde_urlencoded::to_string([("payload", payload)]).unwrap();
        let response = t.post_signed("/slack/interactions", &body, now()).await;
        assert_eq!(response.status(), 400, "{payload}");
    }

    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_button_whose_value_is_not_a_request_id_is_rejected_and_nothing_changes() {
    let t = TestApp::spawn().await;
    let id = pending_request(&t).await;
    let before = t.state_counts().await;
    let calls_before = t.slack.calls().len();
    let response_url = format!("{}/respond/U0BOB", t.slack.url);

    for value in ["one", "1x", " 1", ""] {
        let body = click_body("U0BOB", value, "jit_approve", &response_url);
        let response = t.post_signed("/slack/interactions", &body, now()).await;
        assert_eq!(response.status(), 400, "value {value:?}");
    }

    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    assert_eq!(t.state_counts().await, before);
    assert_eq!(
        t.slack.calls().len(),
        calls_before,
        "nobody was looked up, nothing was posted"
    );
}

#[tokio::test]
async fn a_body_larger_than_64_kib_is_rejected_and_nothing_is_stored() {
    let t = TestApp::spawn().await;
    let justification = "x".repeat(70 * 1024);
    let body = slash_command_body(
        "U0ALICE",
        REQUEST_CHANNEL,
        &format!("request prod-db 2h {justification}"),
    );
    assert!(body.len() > 64 * 1024);

    let response = t.post_signed("/slack/commands", &body, now()).await;

    assert_eq!(response.status(), 413);
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn an_interaction_of_another_type_is_acknowledged_and_changes_nothing() {
    let t = TestApp::spawn().await;
    let id = pending_request(&t).await;
    let before = t.state_counts().await;
    let calls_before = t.slack.calls().len();
    // Other kinds of interaction that carry what looks like an Approve button for the request.
    let approve =
        json!([{ "type": "button", "action_id": "jit_approve", "value": id.to_string() }]);
    let team = json!({ "id": "T0ACME", "domain": "acme" });
    let bob = json!({ "id": "U0BOB", "team_id": "T0ACME", "username": "bob", "name": "bob" });
    let payloads = [
        json!({
            "type": "shortcut", "team": team, "user": bob, "callback_id": "jit_shortcut",
            "trigger_id": "1.2.3", "actions": approve,
        }),
        json!({
            "type": "message_action", "team": team, "user": bob, "callback_id": "jit_message_action",
            "trigger_id": "1.2.3", "response_url": format!("{}/respond/U0BOB", t.slack.url),
            "channel": { "id": APPROVAL_CHANNEL, "name": "access-approvals" }, "actions": approve,
        }),
    ];

    for payload in payloads {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let response = t.post_signed("/slack/interactions", &body, now()).await;
        assert_eq!(response.status(), 200, "{payload}");
    }

    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    assert_eq!(t.state_counts().await, before);
    assert_eq!(t.slack.calls().len(), calls_before);
}

#[tokio::test]
async fn slacks_ssl_check_is_acknowledged_and_stores_nothing() {
    let t = TestApp::spawn().await;

    let response = t
        .post_signed("/slack/commands", "ssl_check=1&token=deprecated", now())
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn the_health_check_answers_ok() {
    let t = TestApp::spawn().await;

    let response = reqwest::get(format!("{}/healthz", t.url)).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn the_health_check_fails_once_the_schedulers_thread_has_stopped() {
    let t = TestApp::spawn().await;
    // What the scheduler's thread does as it stops on a panic (`scheduler::stops_loudly`).
    t.app.core.metrics.scheduler_stopped();

    let response = reqwest::get(format!("{}/healthz", t.url)).await.unwrap();

    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("scheduler stopped"), "{text}");
}

#[tokio::test]
async fn a_timestamp_far_outside_the_window_is_rejected_like_any_stale_one() {
    let t = TestApp::spawn().await;
    let body = request_body();

    for ts in [i64::MIN, i64::MIN + 1, -4_000_000_000_000_000_000, i64::MAX] {
        let ts = ts.to_string();
        let signature = jitbot::slack::verify::sign(SIGNING_SECRET, &ts, body.as_bytes());
        let response = reqwest::Client::new()
            .post(format!("{}/slack/commands", t.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", signature)
            .body(body.clone())
            .send()
            .await;
        let status = response.map(|r| r.status()).map_err(|e| format!("{e:#}"));
        assert_eq!(
            status,
            Ok(reqwest::StatusCode::UNAUTHORIZED),
            "timestamp {ts}"
        );
    }

    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_request_whose_body_never_ends_is_dropped_with_408_and_stores_nothing() {
    use tower::ServiceExt;
    let t = TestApp::spawn().await;
    // Time stands still until everything waits, then jumps to the next deadline: the request's.
    tokio::time::pause();
    let trickle = futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
    // Signed headers, so the body is read (its signature can only be checked once it is whole).
    let request = axum::http::Request::post("/slack/commands")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-slack-request-timestamp",
            Utc::now().timestamp().to_string(),
        )
        .header("x-slack-signature", format!("v0={}", "0".repeat(64)))
        .body(axum::body::Body::from_stream(trickle))
        .unwrap();
    let started = tokio::time::Instant::now();
    let answered = tokio::time::timeout(
        Duration::from_secs(60),
        jitbot::http::router(t.app.clone()).oneshot(request),
    )
    .await;
    let response = answered
        .expect("the request was still held after a minute")
        .unwrap();
    assert_eq!(response.status(), 408);
    assert!(started.elapsed() >= jitbot::http::REQUEST_TIMEOUT);
    tokio::time::resume();
    assert_eq!(count_in(&t.app.core.db, "requests"), 0);
}
