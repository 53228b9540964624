//! Slack over Socket Mode: commands, clicks and form submissions arrive as envelopes on a
//! connection jitbot opened with its app token, and are answered exactly as over HTTP — in the
//! envelope's acknowledgement. A dropped connection is opened again by itself.

use crate::common::*;
use crate::slack_form::submission;
use jitbot::domain::RequestStatus;
use serde_json::{Map, Value, json};

/// jitbot with Slack over Socket Mode (and still over signed HTTP), connected.
async fn connected() -> TestApp {
    spawn_connected(true).await
}

async fn spawn_connected(signing_secret: bool) -> TestApp {
    let options = Options {
        slack_socket_mode: true,
        slack_signing_secret: signing_secret,
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
    t.slack.socket.wait_for_connections(1).await;
    t
}

/// The fields of a form body as the JSON object Socket Mode carries instead.
fn form_as_json(body: &str) -> Value {
    let fields: Map<String, Value> = url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Value::Object(fields)
}

/// Types `/jit <text>` as `user` over Socket Mode; returns the envelope's id.
fn send_command(t: &TestApp, user: &str, text: &str) -> String {
    let payload = form_as_json(&slash_command_body(user, REQUEST_CHANNEL, text));
    t.slack.socket.send_envelope("slash_commands", payload)
}

/// Types `/jit <text>` as `user` over Socket Mode; returns the acknowledgement.
async fn socket_command(t: &TestApp, user: &str, text: &str) -> Value {
    let id = send_command(t, user, text);
    t.slack.socket.ack_of(&id).await
}

/// Clicks a button on request `id`'s card as `user` over Socket Mode; returns the ack.
async fn socket_click(t: &TestApp, user: &str, id: i64, action: &str) -> Value {
    let response_url = format!("{}/respond/{user}", t.slack.url);
    let body = form_as_json(&click_body(user, &id.to_string(), action, &response_url));
    let payload: Value = serde_json::from_str(body["payload"].as_str().unwrap()).unwrap();
    let envelope = t.slack.socket.send_envelope("interactive", payload);
    t.slack.socket.ack_of(&envelope).await
}

#[tokio::test]
async fn a_slash_command_over_socket_mode_files_the_request_as_over_http() {
    let t = connected().await;

    let over_http = t
        .command(
            "U0ALICE",
            REQUEST_CHANNEL,
            "request prod-db 2h fixing INC-1",
        )
        .await;
    let ack = socket_command(&t, "U0DAVE", "request prod-db 2h fixing INC-2").await;

    // The acknowledgement carries what the HTTP response body carries.
    let over_socket = &ack["payload"];
    assert_eq!(over_socket["response_type"], "ephemeral", "{ack}");
    assert_eq!(
        over_socket["text"].as_str().unwrap(),
        over_http["text"].as_str().unwrap().replace("#1", "#2"),
    );
    let request = t.request(2).await;
    assert_eq!(request.group, "prod-db");
    assert_eq!(request.justification, "fixing INC-2");
    assert_eq!(request.status, RequestStatus::Pending);

    // Both requests get the same card in the approval channel.
    t.run_jobs().await;
    let mut cards = t.slack.posts_in(APPROVAL_CHANNEL, None);
    assert_eq!(cards.len(), 2);
    // The two cards' jobs may run in either order.
    cards.sort_by_key(|card| card["blocks"][0]["text"]["text"].to_string());
    // Compared without the "Requested" time, which may be a second apart.
    let blocks = |i: usize| {
        let mut blocks = cards[i]["blocks"].clone();
        blocks[1]["fields"][2] = Value::Null;
        blocks.to_string()
    };
    let (over_http, over_socket) = (blocks(0), blocks(1));
    let as_if_dave = over_http
        .replace("U0ALICE", "U0DAVE")
        .replace("INC-1", "INC-2")
        .replace("\"1\"", "\"2\"")
        .replace("#1", "#2")
        .replace("jit_actions_1", "jit_actions_2");
    assert_eq!(as_if_dave, over_socket);
    assert!(over_socket.contains("jit_approve"), "{over_socket}");
}

#[tokio::test]
async fn an_owner_approves_over_socket_mode_and_a_non_owner_is_refused() {
    let t = connected().await;
    socket_command(&t, "U0ALICE", "request prod-db 1h deploy").await;
    t.run_jobs().await;
    let before = t.state_counts().await;

    let ack = socket_click(&t, "U0MALLORY", 1, "jit_approve").await;
    assert!(
        ack.get("payload").is_none(),
        "a click is acknowledged bare: {ack}"
    );
    t.slack.wait_for("respond", 1).await;
    assert_eq!(
        t.private_replies(),
        ["You are not an owner of prod-db, so you cannot decide on its requests."]
    );
    assert_eq!(t.state_counts().await, before, "nothing changed");

    socket_click(&t, "U0BOB", 1, "jit_approve").await;
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);
    t.run_jobs().await;
    assert_eq!(t.request(1).await.status, RequestStatus::Active);
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );
}

#[tokio::test]
async fn a_form_submitted_over_socket_mode_files_a_request_or_shows_errors() {
    let t = connected().await;
    let bad = submission(
        "U0ALICE",
        REQUEST_CHANNEL,
        Some("prod-db"),
        Some("9h"),
        Some("fixing"),
    );
    let before = t.state_counts().await;

    let envelope = t.slack.socket.send_envelope("interactive", bad);
    let ack = t.slack.socket.ack_of(&envelope).await;
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");
    let error = ack["payload"]["errors"]["jit_duration"].as_str().unwrap();
    assert!(error.contains("at most 8h"), "{error}");
    assert_eq!(
        t.state_counts().await,
        before,
        "a refused form changed something"
    );

    let good = submission(
        "U0ALICE",
        REQUEST_CHANNEL,
        Some("prod-db"),
        Some("2h"),
        Some("fixing"),
    );
    let envelope = t.slack.socket.send_envelope("interactive", good);
    let ack = t.slack.socket.ack_of(&envelope).await;
    assert!(
        ack.get("payload").is_none(),
        "an empty ack closes the modal: {ack}"
    );
    assert_eq!(t.request(1).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn after_a_dropped_connection_jitbot_reconnects_and_the_next_command_works() {
    let t = connected().await;

    t.slack.socket.drop_connection();
    t.slack.socket.wait_for_connections(2).await;
    let ack = socket_command(&t, "U0ALICE", "request prod-db 1h after a drop").await;
    assert_filed(&ack, 1);

    // Slack's own `disconnect` (it rotates connections) is followed by a new one at once.
    t.slack.socket.ask_to_reconnect();
    t.slack.socket.wait_for_connections(3).await;
    let ack = socket_command(&t, "U0ALICE", "request payroll 1h after a refresh").await;
    assert_filed(&ack, 2);
}

#[tokio::test]
async fn an_envelope_delivered_again_is_answered_once_with_the_first_answer() {
    let t = connected().await;
    let id = send_command(&t, "U0ALICE", "request prod-db 1h delivered twice");
    let first = t.slack.socket.ack_of(&id).await;
    assert_filed(&first, 1);

    // Again on the same connection, as when Slack did not get the acknowledgement in time…
    t.slack.socket.deliver_again(&id);
    t.slack.socket.acks_of(&id, 2).await;
    // …and on a new connection, as after the one it went out on dropped.
    t.slack.socket.drop_connection();
    t.slack.socket.wait_for_connections(2).await;
    t.slack.socket.deliver_again(&id);
    let acks = t.slack.socket.acks_of(&id, 3).await;

    assert!(acks.iter().all(|ack| *ack == first), "{acks:#?}");
    assert_eq!(t.count("requests").await, 1, "filed once");
    assert_eq!(t.audit_actions(1).await, ["requested"]);
}

#[tokio::test]
async fn a_malformed_envelope_gets_a_clear_answer_and_changes_nothing() {
    let t = connected().await;
    let before = t.state_counts().await;

    let no_user = json!({ "channel_id": REQUEST_CHANNEL, "text": "request prod-db 1h x" });
    let not_an_object = json!("request prod-db 1h x");
    for (kind, payload) in [
        ("slash_commands", no_user),
        ("slash_commands", not_an_object.clone()),
        ("interactive", not_an_object),
        ("interactive", json!({ "type": "block_actions" })),
    ] {
        let envelope = t.slack.socket.send_envelope(kind, payload.clone());
        let ack = t.slack.socket.ack_of(&envelope).await;
        let text = ack["payload"]["text"].as_str().unwrap_or_default();
        assert!(text.contains("malformed"), "{kind} {payload}: {ack}");
    }
    assert_eq!(t.state_counts().await, before, "nothing changed");
    assert!(t.slack.calls().is_empty(), "{:?}", t.slack.calls());

    // The same connection still works.
    let ack = socket_command(&t, "U0ALICE", "request prod-db 1h still here").await;
    assert_filed(&ack, 1);
    assert_eq!(t.slack.socket.connections(), 1);
}

#[tokio::test]
async fn without_a_signing_secret_only_socket_mode_is_open() {
    let t = spawn_connected(false).await;

    let body = slash_command_body("U0ALICE", REQUEST_CHANNEL, "request prod-db 1h x");
    let response = t
        .post_signed("/slack/commands", &body, chrono::Utc::now().timestamp())
        .await;
    assert_eq!(
        response.status(),
        401,
        "HTTP stays closed without the secret"
    );
    assert_eq!(t.count("requests").await, 0);

    let ack = socket_command(&t, "U0ALICE", "request prod-db 1h over the socket").await;
    assert_filed(&ack, 1);
}

/// The ack of a `/jit request` over the socket answers with the new request's number.
fn assert_filed(ack: &serde_json::Value, id: i64) {
    let text = ack["payload"]["text"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("Request #{id}")), "{ack}");
}
