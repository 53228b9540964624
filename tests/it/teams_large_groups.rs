//! Groups with more owners than Teams can refresh a card for (`refresh.userIds` holds at most
//! 60): the shared card keeps its buttons, and every click is still authorised.

use crate::common::*;
use jitbot::domain::RequestStatus;
use serde_json::{Value, json};

/// The Entra object id and `29:` id of generated owner `n`.
fn owner(n: usize) -> (String, String) {
    (
        format!("00000000-0000-4000-8000-{n:012}"),
        format!("29:owner-{n}"),
    )
}

/// A group `platform` owned by `count` Teams users, its cards in the Teams approvals channel.
fn owned_by(count: usize) -> String {
    let owners: Vec<String> = (0..count)
        .map(|n| format!("\"teams:{}\"", owner(n).0))
        .collect();
    format!(
        "[[group]]\nname = \"platform\"\nowners = [{}]\nteams_approval_channel = \"{TEAMS_APPROVALS}\"\n",
        owners.join(", ")
    )
}

/// An activity from generated owner `n` in `conversation`.
fn from_owner(t: &TestApp, kind: &str, n: usize, conversation: &str) -> Value {
    let (aad, mri) = owner(n);
    let mut activity = t.activity(kind, "alice", conversation);
    activity["from"] = json!({ "id": mri, "name": format!("Owner {n}"), "aadObjectId": aad });
    activity
}

/// Every generated owner says `help` to the bot in their personal chat, so Teams can name them.
async fn owners_have_talked(t: &TestApp, count: usize) {
    for n in 0..count {
        let (aad, mri) = owner(n);
        let (name, email) = (format!("Owner {n}"), format!("owner-{n}@example.com"));
        t.teams.add_user(&aad, &mri, &name, &email);
        let mut activity = from_owner(t, "message", n, &format!("a:owner-{n}"));
        activity["text"] = json!("help");
        assert_eq!(t.post_activity(&activity, None).await.status(), 200);
    }
}

fn actions(card: &Value) -> Vec<String> {
    card["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["verb"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_card_for_61_owners_keeps_its_buttons() {
    let t = TestApp::spawn_with(&owned_by(61), false).await;
    owners_have_talked(&t, 61).await;

    t.teams_alice_requests("jit request platform 1h deploy")
        .await;

    let started = t
        .teams
        .started()
        .into_iter()
        .find(|s| s["channelData"]["channel"]["id"] == TEAMS_APPROVALS)
        .expect("the card starts a thread in the approvals channel");
    let shared = &started["activity"]["attachments"][0]["content"];
    assert_eq!(actions(shared), ["jit.approve", "jit.deny"]);
    assert_eq!(shared["actions"][0]["type"], "Action.Execute");
    let refreshed = shared["refresh"]["userIds"].as_array().unwrap();
    assert_eq!(refreshed.len(), 60, "Teams refreshes at most 60 people");

    // A non-owner's click is refused and changes nothing.
    let before = t.state_counts().await;
    let answer = t.teams_click("mallory", 1, "jit.approve").await;
    assert_eq!(
        answer["value"],
        "You are not an owner of platform, so you cannot decide on its requests."
    );
    assert_eq!(t.state_counts().await, before);

    // The owner left out of the refresh list decides with the shared card's buttons.
    let mut click = from_owner(&t, "invoke", 60, TEAMS_APPROVALS);
    click["name"] = json!("adaptiveCard/action");
    click["value"] = json!({
        "action": { "type": "Action.Execute", "id": "button", "verb": "jit.approve", "data": { "requestId": 1 } },
        "trigger": "manual",
    });
    assert!(!refreshed.contains(&json!(owner(60).1)));
    let answer: Value = t.post_activity(&click, None).await.json().await.unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        t.request(1).await.status,
        RequestStatus::Approved,
        "{answer}"
    );
}

#[tokio::test]
async fn a_card_for_60_owners_refreshes_them_all_and_hides_its_buttons_from_others() {
    let t = TestApp::spawn_with(&owned_by(60), false).await;
    owners_have_talked(&t, 60).await;

    t.teams_alice_requests("jit request platform 1h deploy")
        .await;

    let started = t
        .teams
        .started()
        .into_iter()
        .find(|s| s["channelData"]["channel"]["id"] == TEAMS_APPROVALS)
        .expect("the card starts a thread in the approvals channel");
    let shared = &started["activity"]["attachments"][0]["content"];
    assert!(actions(shared).is_empty(), "owners get theirs by refresh");
    assert_eq!(shared["refresh"]["userIds"].as_array().unwrap().len(), 60);
}
