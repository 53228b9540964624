//! The Adaptive Cards jitbot sends to Teams: every template expands completely into a valid
//! Adaptive Card 1.5 for every state of a request, and what people see is snapshot-tested.

use crate::common::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use jitbot::access::RequestView;
use jitbot::domain::{
    AccessDuration, AccessRequest, Account, Decision, Platform, Principal, RequestStatus, Verdict,
};
use jitbot::store::{self, decisions, requests, teams};
use jitbot::teams::cards::{self, Viewer};
use jitbot::teams::form::{self, FormValues};
use serde_json::Value;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, hour, minute, 0).unwrap()
}

fn alice() -> Principal {
    let (aad, ..) = teams_user("alice");
    Principal::new(Account::new(Platform::Teams, aad)).with_emails(["alice@example.com".into()])
}

fn bob() -> Principal {
    let (aad, ..) = teams_user("bob");
    Principal::new(Account::new(Platform::Teams, aad)).with_emails(["bob@example.com".into()])
}

/// Alice's request #1 for prod-db, asked at 22:00 and, depending on `status`, decided by Bob at
/// 22:01 and granted until 00:01.
async fn request_in(t: &TestApp, status: RequestStatus) -> jitbot::domain::AccessRequest {
    let requester = alice();
    let id = store::write(&t.app.core.db, |tx| {
        let db: &store::Connection = tx;
        for name in ["alice", "bob"] {
            let (aad, mri, display, _) = teams_user(name);
            let user = teams::TeamsUser {
                aad_object_id: aad.into(),
                mri: mri.into(),
                name: Some(display.into()),
                personal_conversation_id: None,
                last_conversation_id: TEAMS_THREAD.into(),
            };
            teams::remember_user(db, &user, at(21, 0))?;
        }
        let id = requests::insert(
            db,
            requests::NewRequest {
                group: "prod-db",
                requester: &requester,
                justification: "fixing INC-4711",
                duration: AccessDuration::parse("2h").unwrap(),
                origin_channel: TEAMS_THREAD,
                requested_at: at(22, 0),
                kind: jitbot::domain::RequestKind::Access,
                start_spec: None,
                submitted_by: None,
                grant_target: None,
            },
        )?;
        assert!(requests::confirm(db, id, &requester, at(22, 0))?);
        let decided = |verdict| {
            let decision = Decision {
                decider: bob().account,
                verdict,
                decided_at: at(22, 1),
                counted_as: bob().own_keys(),
            };
            decisions::insert(db, id, &decision)
        };
        match status {
            RequestStatus::Pending => {}
            RequestStatus::Denied => {
                decided(Verdict::Deny)?;
                requests::mark_decided(db, id, RequestStatus::Denied, at(22, 1))?;
            }
            RequestStatus::Cancelled => {
                requests::mark_cancelled(db, id, at(22, 1), "nobody else can approve")?;
            }
            RequestStatus::Expired => {
                requests::mark_expired(db, id, at(22, 1) + Duration::days(1))?;
            }
            later => {
                decided(Verdict::Approve)?;
                requests::mark_decided(db, id, RequestStatus::Approved, at(22, 1))?;
                if later == RequestStatus::Failed {
                    requests::mark_failed(db, id, "provider down")?;
                } else if later != RequestStatus::Approved {
                    requests::mark_active(db, id, at(22, 1), at(22, 1) + Duration::hours(2))?;
                    if matches!(later, RequestStatus::Revoking | RequestStatus::Ended) {
                        requests::mark_revoking(db, &[id], at(22, 1) + Duration::hours(2))?;
                    }
                    if later == RequestStatus::Ended {
                        requests::mark_ended(db, &[(id, at(0, 1) + Duration::days(1))])?;
                    }
                }
            }
        }
        Ok::<_, store::Error>(id)
    })
    .await
    .unwrap();
    let request = requests::get(&t.app.core.db.read().unwrap(), id)
        .unwrap()
        .unwrap();
    assert_eq!(request.status, status);
    request
}

/// A structural check of the Adaptive Card 1.5 rules jitbot's cards rely on.
fn assert_valid_adaptive_card_1_5(card: &Value) {
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.5", "Teams supports up to 1.5");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_no_template_left(card, "$");
    for element in card["body"].as_array().expect("a body") {
        assert_element(element);
    }
    for action in card["actions"].as_array().into_iter().flatten() {
        assert_action(action);
    }
    if let Some(refresh) = card.get("refresh") {
        assert_eq!(
            refresh["action"]["type"], "Action.Execute",
            "refresh needs Action.Execute"
        );
        assert!(refresh["action"]["verb"].is_string());
        let users = refresh["userIds"].as_array().expect("userIds is a list");
        assert!(users.len() <= 60, "Teams refreshes for at most 60 users");
        assert!(
            users
                .iter()
                .all(|u| u.as_str().is_some_and(|id| id.starts_with("29:")))
        );
    }
}

fn assert_element(element: &Value) {
    let kind = element["type"].as_str().expect("every element has a type");
    match kind {
        "TextBlock" => {
            assert!(
                element["text"].is_string(),
                "a TextBlock needs text: {element}"
            );
            if let Some(color) = element.get("color") {
                let color = color.as_str().unwrap();
                assert!(
                    [
                        "Default",
                        "Dark",
                        "Light",
                        "Accent",
                        "Good",
                        "Warning",
                        "Attention"
                    ]
                    .contains(&color),
                    "color {color}"
                );
            }
        }
        // What people typed or chose goes into TextRuns, which render no Markdown.
        "RichTextBlock" => {
            for run in element["inlines"]
                .as_array()
                .expect("a RichTextBlock needs inlines")
            {
                assert_eq!(run["type"], "TextRun", "{run}");
                assert!(run["text"].is_string(), "{run}");
            }
        }
        "FactSet" => {
            for fact in element["facts"].as_array().expect("a FactSet needs facts") {
                assert!(
                    fact["title"].is_string() && fact["value"].is_string(),
                    "{fact}"
                );
            }
        }
        "Container" => element["items"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(assert_element),
        // The request form's inputs: each has an id its value is submitted under, and a label.
        "Input.ChoiceSet" => {
            assert!(element["id"].is_string() && element["label"].is_string());
            for choice in element["choices"].as_array().expect("choices") {
                assert!(choice["title"].is_string() && choice["value"].is_string());
            }
        }
        "Input.Text" => {
            assert!(element["id"].is_string() && element["label"].is_string());
            assert!(element["value"].is_string(), "{element}");
        }
        "ActionSet" => element["actions"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(assert_action),
        other => panic!("jitbot's cards use no `{other}` element"),
    }
}

fn assert_action(action: &Value) {
    assert!(
        action["title"].is_string(),
        "an action needs a title: {action}"
    );
    if let Some(style) = action.get("style") {
        assert!(["default", "positive", "destructive"].contains(&style.as_str().unwrap()));
    }
    match action["type"].as_str() {
        Some("Action.Execute") => {
            assert!(action["verb"].is_string());
            if let Some(fallback) = action.get("fallback") {
                assert_eq!(
                    fallback["type"], "Action.Submit",
                    "older clients fall back to Submit"
                );
                assert_action(fallback);
            }
        }
        Some("Action.Submit") => assert!(action["data"].is_object()),
        other => panic!("unexpected action type {other:?}"),
    }
}

/// No `${…}` binding and no `$data`/`$when` directive may reach Teams.
fn assert_no_template_left(value: &Value, path: &str) {
    match value {
        Value::String(s) => assert!(!s.contains("${"), "unexpanded binding at {path}: {s}"),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| assert_no_template_left(v, &format!("{path}[{i}]"))),
        Value::Object(fields) => {
            for (key, v) in fields {
                assert!(
                    !key.starts_with('$') || key == "$schema",
                    "template directive {key} at {path}"
                );
                assert_no_template_left(v, &format!("{path}.{key}"));
            }
        }
        _ => {}
    }
}

/// The approval card of `request` as `viewer` sees it, rendered as the Teams adapter renders it.
async fn approval(t: &TestApp, request: &AccessRequest, viewer: Viewer<'_>) -> Value {
    let view = RequestView::load(&t.app.core, request.clone())
        .await
        .unwrap();
    let refreshers = t.app.teams.refreshers(&view).await.unwrap();
    cards::approval(&view, &refreshers, viewer, at(22, 0)).unwrap()
}

async fn status(t: &TestApp, request: &AccessRequest) -> Value {
    let view = RequestView::load(&t.app.core, request.clone())
        .await
        .unwrap();
    let refreshers = t.app.teams.refreshers(&view).await.unwrap();
    cards::status(&view, &refreshers, at(22, 0)).unwrap()
}

#[tokio::test]
async fn every_template_expands_into_a_valid_card_in_every_state() {
    for state in RequestStatus::ALL {
        let t = TestApp::spawn().await;
        let request = request_in(&t, state).await;
        let owner = bob();
        for viewer in [Viewer::Everyone, Viewer::Person(&owner)] {
            assert_valid_adaptive_card_1_5(&approval(&t, &request, viewer).await);
        }
        assert_valid_adaptive_card_1_5(&status(&t, &request).await);
    }
    assert_valid_adaptive_card_1_5(&cards::help());
    let t = TestApp::spawn().await;
    let policy = t.app.core.policy();
    let groups = &policy.groups;
    assert_valid_adaptive_card_1_5(&form::card(groups, &FormValues::default(), None));
    let typed = FormValues {
        group: "prod-db".into(),
        duration: "2 weeks".into(),
        justification: "fixing".into(),
    };
    assert_valid_adaptive_card_1_5(&form::card(groups, &typed, Some("That is not a duration.")));
}

#[tokio::test]
async fn a_pending_approval_card() {
    let t = TestApp::spawn().await;
    let request = request_in(&t, RequestStatus::Pending).await;
    insta::assert_json_snapshot!(approval(&t, &request, Viewer::Everyone).await);
}

#[tokio::test]
async fn an_owners_own_view_of_a_pending_card_has_the_buttons_and_the_requesters_has_not() {
    let t = TestApp::spawn().await;
    // bob has talked to the bot, so the shared card names him for refresh and has no buttons.
    let (aad, ..) = teams_user("bob");
    store::write(&t.app.core.db, |tx| {
        store::identities::remember(
            tx,
            Platform::Teams,
            aad,
            &["bob@example.com".to_string()],
            at(21, 0),
        )
    })
    .await
    .unwrap();
    let request = request_in(&t, RequestStatus::Pending).await;
    let owner = bob();
    let for_bob = approval(&t, &request, Viewer::Person(&owner)).await;
    insta::assert_json_snapshot!(for_bob);
    let requester = alice();
    let for_alice = approval(&t, &request, Viewer::Person(&requester)).await;
    assert!(
        for_alice
            .get("actions")
            .is_none_or(|a| a.as_array().unwrap().is_empty())
    );
}

#[tokio::test]
async fn an_active_approval_card() {
    let t = TestApp::spawn().await;
    let request = request_in(&t, RequestStatus::Active).await;
    insta::assert_json_snapshot!(approval(&t, &request, Viewer::Everyone).await);
}

#[tokio::test]
async fn a_card_asked_on_someones_behalf_names_both() {
    let t = TestApp::spawn().await;
    let mut request = request_in(&t, RequestStatus::Pending).await;
    request.submitted_by = Some(bob());
    let approval = approval(&t, &request, Viewer::Everyone).await;
    let status = status(&t, &request).await;
    assert_valid_adaptive_card_1_5(&approval);
    assert_valid_adaptive_card_1_5(&status);
    insta::assert_json_snapshot!(serde_json::json!({ "approval": approval, "status": status }));
}

#[tokio::test]
async fn a_denied_status_card() {
    let t = TestApp::spawn().await;
    let request = request_in(&t, RequestStatus::Denied).await;
    insta::assert_json_snapshot!(status(&t, &request).await);
}

#[test]
fn the_help_card() {
    insta::assert_json_snapshot!(cards::help());
}

#[tokio::test]
async fn the_request_form_card() {
    let t = TestApp::spawn().await;
    let policy = t.app.core.policy();
    let groups = &policy.groups;
    insta::assert_json_snapshot!(form::card(groups, &FormValues::default(), None));
}
