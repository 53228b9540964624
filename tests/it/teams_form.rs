//! The Teams request form: `jit request` alone answers with an Adaptive Card form, whose
//! submission — `Action.Execute`, or the `Action.Submit` fallback — files a request like the
//! one-liner, or says why not and changes nothing.

use crate::common::*;
use jitbot::domain::{AccessDuration, RequestStatus};
use serde_json::{Value, json};

/// The card inside a message activity.
fn card(message: &Value) -> &Value {
    &message["attachments"][0]["content"]
}

fn choices(card: &Value) -> Vec<String> {
    let set = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "Input.ChoiceSet")
        .expect("a group picker");
    set["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap().to_string())
        .collect()
}

/// `user` submits the form with `Action.Execute`; returns the invoke answer.
async fn execute(t: &TestApp, user: &str, inputs: Value) -> Value {
    let mut activity = t.activity("invoke", user, TEAMS_THREAD);
    activity["name"] = json!("adaptiveCard/action");
    activity["value"] = json!({
        "action": { "type": "Action.Execute", "id": "submit", "verb": "jit.request", "data": inputs },
        "trigger": "manual",
    });
    let response = t.post_activity(&activity, None).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `user` submits the form with the `Action.Submit` fallback; returns the reply's text.
async fn submit(t: &TestApp, user: &str, inputs: Value) -> String {
    submit_in(t, user, TEAMS_THREAD, inputs).await
}

/// The `Action.Submit` fallback in `conversation`; returns the reply sent there.
async fn submit_in(t: &TestApp, user: &str, conversation: &str, mut inputs: Value) -> String {
    let before = t.teams.sent_to(conversation).len();
    let mut activity = t.activity("message", user, conversation);
    inputs["jitVerb"] = json!("jit.request");
    activity["value"] = inputs;
    assert_eq!(t.post_activity(&activity, None).await.status(), 200);
    let sent = t.teams.wait_for_sent(conversation, before + 1).await;
    sent[before]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn jit_request_alone_answers_with_a_form() {
    let t = TestApp::spawn().await;

    assert_eq!(t.teams_say("alice", TEAMS_THREAD, "jit request").await, 200);
    let form = &t.teams.wait_for_sent(TEAMS_THREAD, 1).await[0];
    let form = card(form);
    assert_eq!(form["version"], "1.5");
    assert_eq!(choices(form), ["prod-db", "payroll", "billing"]);
    let action = &form["actions"][0];
    assert_eq!(action["type"], "Action.Execute");
    assert_eq!(action["verb"], "jit.request");
    assert_eq!(action["fallback"]["data"]["jitVerb"], "jit.request");
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn the_teams_form_leaves_out_groups_already_asked_for() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 2h fixing INC-4711")
        .await;

    let before = t.teams.sent_to(TEAMS_THREAD).len();
    assert_eq!(t.teams_say("alice", TEAMS_THREAD, "jit request").await, 200);
    let sent = t.teams.wait_for_sent(TEAMS_THREAD, before + 1).await;
    assert_eq!(choices(card(&sent[before])), ["payroll", "billing"]);
}

#[tokio::test]
async fn the_teams_form_submits_a_request() {
    let t = TestApp::spawn().await;

    // Action.Execute: the answer replaces the form with what became of it.
    let inputs =
        json!({ "group": "prod-db", "duration": "2h", "justification": " fixing INC-4711 " });
    let answer = execute(&t, "alice", inputs).await;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    let text = answer["value"]["body"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Request #1 for prod-db (2h) received"),
        "{text}"
    );
    let request = t.request(1).await;
    assert_eq!(
        (request.group.as_str(), request.justification.as_str()),
        ("prod-db", "fixing INC-4711")
    );
    assert_eq!(request.duration, AccessDuration::parse("2h").unwrap());
    assert_eq!(request.origin_channel, TEAMS_THREAD);

    // Action.Submit: a plain reply in the conversation.
    let inputs = json!({ "group": "payroll", "duration": "", "justification": "month end" });
    let reply = submit(&t, "alice", inputs).await;
    assert!(reply.starts_with("Request #2 for payroll"), "{reply}");
    assert_eq!(t.request(2).await.status, RequestStatus::Pending);

    // Both go on as any request: the owners get their card.
    t.run_jobs().await;
    assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);
}

#[tokio::test]
async fn bad_input_in_the_teams_form_is_refused_and_changes_nothing() {
    let t = TestApp::spawn().await;

    let inputs = json!({ "group": "prod-db", "duration": "2 weeks", "justification": "fixing" });
    let answer = execute(&t, "alice", inputs).await;
    // The form again, with the reason above it and what was typed kept.
    let form = &answer["value"];
    assert!(form["body"][1]["text"].is_string(), "{form}");
    assert_eq!(form["body"][1]["color"], "Attention");
    let typed: Vec<&Value> = form["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["value"])
        .collect();
    assert!(
        typed.contains(&&json!("2 weeks")) && typed.contains(&&json!("fixing")),
        "{form}"
    );

    // In a channel a refusal says nothing there …
    let reply = submit(
        &t,
        "alice",
        json!({ "group": "prod-db", "duration": "9h", "justification": "x" }),
    )
    .await;
    assert!(!reply.contains("8h"), "{reply}");
    // … and in the personal chat it says why.
    let personal = "a:personal-29:alice";
    let why = |inputs| submit_in(&t, "alice", personal, inputs);
    let reply = why(json!({ "group": "prod-db", "duration": "9h", "justification": "x" })).await;
    assert!(reply.contains("at most 8h"), "{reply}");
    let reply = why(json!({ "group": "prod-db", "justification": "   " })).await;
    assert_eq!(reply, "Say why you need prod-db.");
    let reply = why(json!({ "group": 7, "justification": "why" })).await;
    assert_eq!(reply, "Choose a group.");
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
}
