//! The Slack request form: `/jit` alone opens a modal offering what the person may request, and
//! its submission files a request exactly as the one-liner does — or shows why not, on the field.

use crate::common::*;
use chrono::{Duration, Utc};
use jitbot::domain::{AccessDuration, Account, Platform, Principal, RequestStatus};
use jitbot::store;
use serde_json::{Value, json};

/// A `view_submission` of the form by `user`, with these fields (`None`: left empty).
pub(crate) fn submission(
    user: &str,
    channel: &str,
    group: Option<&str>,
    duration: Option<&str>,
    why: Option<&str>,
) -> Value {
    let group = group.map(|g| json!({ "text": { "type": "plain_text", "text": g }, "value": g }));
    json!({
        "type": "view_submission",
        "team": { "id": "T0ACME", "domain": "acme" },
        "user": { "id": user, "username": user, "name": user, "team_id": "T0ACME" },
        "api_app_id": "A0JITBOT",
        "token": "deprecated",
        "trigger_id": "1.2.4",
        "view": {
            "id": "V0FORM", "team_id": "T0ACME", "type": "modal", "hash": "1700000000.abcdef",
            "callback_id": "jit_request_form", "private_metadata": channel,
            "title": { "type": "plain_text", "text": "Request access" }, "blocks": [],
            "state": { "values": {
                "jit_group": { "group": { "type": "static_select", "selected_option": group } },
                "jit_duration": { "duration": { "type": "plain_text_input", "value": duration } },
                "jit_justification": { "justification": { "type": "plain_text_input", "value": why } },
            } },
        },
        "response_urls": [],
    })
}

async fn submit(t: &TestApp, payload: &Value) -> reqwest::Response {
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    t.post_signed("/slack/interactions", &body, Utc::now().timestamp())
        .await
}

/// Submits a form that must be refused; returns the errors by block id, after checking that
/// nothing changed.
async fn refused(t: &TestApp, payload: Value) -> Value {
    let before = t.state_counts().await;
    let response = submit(t, &payload).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert_eq!(
        t.state_counts().await,
        before,
        "a refused form changed something"
    );
    answer["errors"].clone()
}

fn offered(view: &Value) -> Vec<String> {
    view["blocks"][0]["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_empty_jit_opens_the_request_form() {
    let t = TestApp::spawn().await;

    assert_eq!(t.say("U0ALICE", "").await, "Opening the request form…");
    let opened = t.slack.wait_for("views.open", 1).await;
    assert_eq!(opened[0]["trigger_id"], "1.2.3");
    let view = &opened[0]["view"];
    assert_eq!(view["callback_id"], "jit_request_form");
    assert_eq!(view["private_metadata"], REQUEST_CHANNEL);
    assert_eq!(offered(view), ["prod-db", "payroll", "billing"]);
    insta::assert_json_snapshot!(view);

    // `/jit request` alone opens it too; neither stores anything.
    assert_eq!(
        t.say("U0ALICE", "request").await,
        "Opening the request form…"
    );
    t.slack.wait_for("views.open", 2).await;
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn a_form_slack_would_not_open_is_followed_by_a_private_hint() {
    let t = TestApp::spawn().await;
    t.slack.fail_next("views.open", 1, "expired_trigger_id");
    let body = slash_command_body("U0ALICE", REQUEST_CHANNEL, "").replace(
        &serde_urlencoded::to_string([("r", "https://hooks.slack.com/commands/T0ACME/1/x")])
            .unwrap()[2..],
        &serde_urlencoded::to_string([("r", format!("{}/respond/U0ALICE", t.slack.url))]).unwrap()
            [2..],
    );

    let response = t
        .post_signed("/slack/commands", &body, Utc::now().timestamp())
        .await;
    assert_eq!(response.status(), 200);
    let hint = &t.slack.wait_for("respond", 1).await[0];
    assert_eq!(hint["response_type"], "ephemeral");
    assert!(
        hint["text"]
            .as_str()
            .unwrap()
            .contains("/jit request <group>"),
        "{hint}"
    );
}

#[tokio::test]
async fn the_form_lists_only_groups_the_person_may_request() {
    let groups = format!(
        "{DEFAULT_GROUPS}\n[[group]]\nname = \"finance\"\nowners = [\"bob@example.com\"]\n\
         eligible = [\"1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e\"]\n"
    );
    let t = TestApp::spawn_with(&groups, false).await;
    t.alice_requests("request prod-db 2h fixing INC-4711").await;

    assert_eq!(t.say("U0ALICE", "").await, "Opening the request form…");
    let view = &t.slack.wait_for("views.open", 1).await[0]["view"];
    // Not prod-db, which she has asked for already, nor finance, which only eligible people
    // may request and jitbot does not know her to be.
    assert_eq!(offered(view), ["payroll", "billing"]);
}

#[tokio::test]
async fn an_eligible_only_group_is_offered_once_a_request_for_it_passed_its_check() {
    let groups = format!(
        "{DEFAULT_GROUPS}\n[[group]]\nname = \"finance\"\nowners = [\"bob@example.com\"]\n\
         eligible = [\"1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e\"]\n"
    );
    let t = TestApp::spawn_with(&groups, false).await;
    // An earlier request of alice's for finance passed its check (which asked the directory),
    // and is over.
    let alice = Principal::new(Account::new(Platform::Slack, "U0ALICE"));
    let new = store::requests::NewRequest {
        group: "finance",
        requester: &alice,
        justification: "month end",
        duration: AccessDuration::parse("1h").unwrap(),
        origin_channel: REQUEST_CHANNEL,
        requested_at: Utc::now() - Duration::days(3),
        kind: jitbot::domain::RequestKind::Access,
        start_spec: None,
        submitted_by: None,
        grant_target: None,
    };
    let at = Utc::now() - Duration::days(3);
    store::write(&t.app.core.db, |tx| {
        let id = store::requests::insert(tx, new)?;
        assert!(store::requests::confirm(tx, id, &alice, at)?);
        assert!(store::requests::mark_cancelled(tx, id, at, "test")?);
        Ok::<_, store::Error>(())
    })
    .await
    .unwrap();

    assert_eq!(t.say("U0ALICE", "").await, "Opening the request form…");
    let view = &t.slack.wait_for("views.open", 1).await[0]["view"];
    assert_eq!(offered(view), ["prod-db", "payroll", "billing", "finance"]);
}

#[tokio::test]
async fn with_nothing_to_request_the_answer_says_so_instead_of_an_empty_form() {
    let only = "[[group]]\nname = \"prod-db\"\nowners = [\"bob@example.com\"]\napproval_channel = \"C0APPROVALS\"\n";
    let t = TestApp::spawn_with(only, false).await;
    t.alice_requests("request prod-db 2h fixing INC-4711").await;

    let reply = t.say("U0ALICE", "").await;
    assert!(
        reply.starts_with("There is nothing you can request"),
        "{reply}"
    );
    assert!(t.slack.calls_to("views.open").is_empty());
}

#[tokio::test]
async fn submitting_the_form_files_a_request_like_the_one_liner() {
    let t = TestApp::spawn().await;
    let payload = submission(
        "U0ALICE",
        REQUEST_CHANNEL,
        Some("prod-db"),
        Some("2h"),
        Some("  fixing INC-4711 \n"),
    );

    let response = submit(&t, &payload).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "",
        "an empty answer closes the modal"
    );

    let request = t.request(1).await;
    assert_eq!(request.group, "prod-db");
    assert_eq!(request.duration, AccessDuration::parse("2h").unwrap());
    assert_eq!(request.justification, "fixing INC-4711");
    assert_eq!(request.origin_channel, REQUEST_CHANNEL);
    assert_eq!(request.status, RequestStatus::Pending);
    t.run_jobs().await;

    // The thread opens where /jit was typed, and the owners get their card as usual.
    let root = t.slack.posts_in(REQUEST_CHANNEL, None)[0]["text"].to_string();
    assert!(
        root.contains("request #1: <@U0ALICE> asks for *prod-db* for 2h"),
        "{root}"
    );
    let card = t.slack.posts_in(APPROVAL_CHANNEL, None)[0].to_string();
    assert!(
        card.contains("jit_approve") && card.contains("fixing INC-4711"),
        "{card}"
    );
    assert_eq!(t.click("U0BOB", 1, "jit_approve").await, 200);
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);
}

#[tokio::test]
async fn an_empty_duration_means_the_groups_default() {
    let t = TestApp::spawn().await;
    let payload = submission(
        "U0ALICE",
        REQUEST_CHANNEL,
        Some("payroll"),
        None,
        Some("month end"),
    );

    assert_eq!(submit(&t, &payload).await.status(), 200);
    let request = t.request(1).await;
    let default = t
        .app
        .core
        .policy()
        .group("payroll")
        .unwrap()
        .default_duration;
    assert_eq!(request.duration, default);
}

#[tokio::test]
async fn a_bad_duration_in_the_form_is_shown_on_its_field_and_changes_nothing() {
    let t = TestApp::spawn().await;

    let errors = refused(
        &t,
        submission(
            "U0ALICE",
            REQUEST_CHANNEL,
            Some("prod-db"),
            Some("2 weeks"),
            Some("fixing"),
        ),
    )
    .await;
    assert!(errors["jit_duration"].is_string(), "{errors}");
    assert_eq!(errors.as_object().unwrap().len(), 1);

    let errors = refused(
        &t,
        submission(
            "U0ALICE",
            REQUEST_CHANNEL,
            Some("prod-db"),
            Some("9h"),
            Some("fixing"),
        ),
    )
    .await;
    let too_long = errors["jit_duration"].as_str().unwrap();
    assert!(too_long.contains("at most 8h"), "{too_long}");
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn other_bad_input_is_shown_on_the_field_to_fix() {
    let t = TestApp::spawn().await;

    let errors = refused(
        &t,
        submission(
            "U0ALICE",
            REQUEST_CHANNEL,
            Some("prod-db"),
            Some("2h"),
            Some("   "),
        ),
    )
    .await;
    assert_eq!(errors["jit_justification"], "Say why you need prod-db.");
    let errors = refused(
        &t,
        submission("U0ALICE", REQUEST_CHANNEL, None, Some("2h"), Some("fixing")),
    )
    .await;
    assert_eq!(errors["jit_group"], "Choose a group.");
    let errors = refused(
        &t,
        submission(
            "U0ALICE",
            REQUEST_CHANNEL,
            Some("prod-bd"),
            None,
            Some("fixing"),
        ),
    )
    .await;
    assert!(
        errors["jit_group"]
            .as_str()
            .unwrap()
            .contains("no group called"),
        "{errors}"
    );

    // A second request for a group already asked for is refused on the group.
    t.alice_requests("request prod-db 2h fixing INC-4711").await;
    let errors = refused(
        &t,
        submission(
            "U0ALICE",
            REQUEST_CHANNEL,
            Some("prod-db"),
            None,
            Some("again"),
        ),
    )
    .await;
    assert!(
        errors["jit_group"]
            .as_str()
            .unwrap()
            .contains("already have request #1"),
        "{errors}"
    );
}

#[tokio::test]
async fn a_form_from_another_workspace_files_nothing() {
    let t = TestApp::spawn().await;
    let mut payload = submission(
        "U0ALICE",
        REQUEST_CHANNEL,
        Some("prod-db"),
        Some("2h"),
        Some("fixing"),
    );
    payload["user"]["team_id"] = json!("T0OTHER");

    let errors = refused(&t, payload).await;
    assert!(
        errors["jit_group"].as_str().unwrap().contains("workspace"),
        "{errors}"
    );
}

#[tokio::test]
async fn a_malformed_submission_is_a_400_with_a_reason() {
    let t = TestApp::spawn().await;
    let good = submission(
        "U0ALICE",
        REQUEST_CHANNEL,
        Some("prod-db"),
        Some("2h"),
        Some("fixing"),
    );

    let mut other_view = good.clone();
    other_view["view"]["callback_id"] = json!("someone_elses_form");
    let mut no_channel = good.clone();
    no_channel["view"]["private_metadata"] = json!("");
    let mut odd_channel = good.clone();
    odd_channel["view"]["private_metadata"] = json!("C0/../../x");
    let mut no_view_id = good.clone();
    no_view_id["view"].as_object_mut().unwrap().remove("id");
    for payload in [other_view, no_channel, odd_channel, no_view_id] {
        let response = submit(&t, &payload).await;
        assert_eq!(response.status(), 400, "{payload}");
        assert!(
            !response.text().await.unwrap().is_empty(),
            "a reason is given"
        );
    }
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
}
