//! The whole path through Teams: a request in a channel thread, approval on an Adaptive Card,
//! grant, expiry — as the Bot Connector and the provider see it.

use crate::common::*;
use chrono::{Duration, Utc};
use jitbot::domain::RequestStatus;
use serde_json::Value;

/// The card inside a message activity.
fn card(message: &Value) -> &Value {
    &message["attachments"][0]["content"]
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
async fn a_teams_request_is_approved_on_its_card_granted_and_revoked_at_expiry() {
    let t = TestApp::spawn().await;

    assert_eq!(
        t.teams_say(
            "alice",
            TEAMS_THREAD,
            "jit request prod-db 2h fixing INC-4711"
        )
        .await,
        200
    );
    assert_eq!(t.request(1).await.status, RequestStatus::Pending);
    t.run_jobs().await;

    // The status card answers in the thread where alice asked …
    let status = &t.teams.sent_to(TEAMS_THREAD)[0];
    assert_eq!(card(status)["type"], "AdaptiveCard");
    let status_text = card(status).to_string();
    assert!(
        status_text.contains("Access request #1") && status_text.contains("pending"),
        "{status_text}"
    );
    assert!(
        status_text.contains("Alice Example"),
        "the requester by name: {status_text}"
    );
    // … the approval card starts a thread in the Teams approval channel …
    let started = t.teams.started();
    let to_channel = started
        .iter()
        .find(|s| s["channelData"]["channel"]["id"] == TEAMS_APPROVALS)
        .expect("a card in the Teams approval channel");
    let approval = card(&to_channel["activity"]);
    assert_eq!(approval["version"], "1.5");
    assert_eq!(
        actions(approval),
        ["jit.approve", "jit.deny"],
        "owners Teams cannot name yet see the buttons"
    );
    assert_eq!(approval["actions"][0]["fallback"]["type"], "Action.Submit");
    assert!(approval.to_string().contains("fixing INC-4711"));
    // … and the Slack approval channel gets its card too: owners decide wherever they are.
    assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);

    // Bob approves on the Teams card; the answer is his updated view of it.
    let answer = t.teams_click("bob", 1, "jit.approve").await;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert!(
        actions(&answer["value"]).is_empty(),
        "no buttons after the decision: {answer}"
    );
    assert!(
        answer["value"]
            .to_string()
            .contains("Approved by Bob Approver"),
        "{answer}"
    );
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);

    let granted_at = Utc::now();
    t.run_jobs_at(granted_at).await;
    let request = t.request(1).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(request.requester.email(), Some("alice@example.com"));
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );

    // Everyone's card is updated with a PUT, and the thread hears every step.
    let thread_card = TEAMS_APPROVALS.to_string() + ";messageid=";
    let card_update = t
        .teams
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.method == "PUT" && c.path.contains(&thread_card))
        .expect("the approval card was updated");
    assert_eq!(
        actions(card(&card_update.body)),
        ["jit.revoke"],
        "decided: only Revoke is left"
    );
    assert!(card(&card_update.body).to_string().contains("active until"));
    let replies: Vec<String> = t
        .teams
        .sent_to(TEAMS_THREAD)
        .iter()
        .skip(1)
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        replies[0].contains("Approved by Bob Approver"),
        "{replies:?}"
    );
    assert!(replies[1].contains("Access granted"), "{replies:?}");
    // The Slack card follows a decision made in Teams.
    assert!(
        t.slack
            .last_update_in(APPROVAL_CHANNEL)
            .contains("active until")
    );

    t.run_jobs_at(request.expires_at.unwrap() + Duration::seconds(1))
        .await;
    assert_eq!(t.request(1).await.status, RequestStatus::Ended);
    assert!(t.local_members("prod-db-writers").await.is_empty());
    let last = t.teams.sent_to(TEAMS_THREAD).last().unwrap()["text"].to_string();
    assert!(last.contains("Time is up"), "{last}");
    assert!(
        card(&t.teams.last_update_in(TEAMS_THREAD))
            .to_string()
            .contains("ended")
    );
    assert_eq!(
        t.audit_actions(1).await,
        [
            "requested",
            "requester_confirmed",
            "approved",
            "granted",
            "expiring",
            "revoked"
        ]
    );

    // Every Connector call carried the bot's token, fetched once and reused.
    assert!(
        t.teams
            .calls()
            .iter()
            .all(|c| c.authorization.as_deref() == Some("Bearer connector-token-1"))
    );
    let tokens = t.teams.token_requests();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["grant_type"], "client_credentials");
    assert_eq!(tokens[0]["scope"], "https://api.botframework.com/.default");
    assert_eq!(tokens[0]["client_id"], crate::common::fake_teams::APP_ID);
}

#[tokio::test]
async fn the_action_submit_fallback_approves_grants_and_expires_too() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;

    // Older clients send the button's data as a message activity instead of an invoke.
    assert_eq!(
        t.teams_submit("bob", TEAMS_APPROVALS, 1, "jit.approve")
            .await,
        200
    );
    assert_eq!(t.request(1).await.status, RequestStatus::Approved);

    t.run_jobs().await;
    let request = t.request(1).await;
    assert_eq!(request.status, RequestStatus::Active);
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );
    t.run_jobs_at(request.expires_at.unwrap()).await;
    assert_eq!(t.request(1).await.status, RequestStatus::Ended);
    assert!(t.local_members("prod-db-writers").await.is_empty());
    let replies: Vec<String> = t
        .teams
        .sent_to(TEAMS_THREAD)
        .iter()
        .map(|m| m["text"].to_string())
        .collect();
    assert!(
        replies
            .iter()
            .any(|r| r.contains("Approved by Bob Approver")),
        "{replies:?}"
    );
    assert!(
        replies.last().unwrap().contains("Time is up"),
        "{replies:?}"
    );
}

#[tokio::test]
async fn a_deny_through_action_submit_denies() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;

    assert_eq!(
        t.teams_submit("bob", TEAMS_APPROVALS, 1, "jit.deny").await,
        200
    );

    assert_eq!(t.request(1).await.status, RequestStatus::Denied);
    t.run_jobs().await;
    let replies: Vec<String> = t
        .teams
        .sent_to(TEAMS_THREAD)
        .iter()
        .map(|m| m["text"].to_string())
        .collect();
    assert!(
        replies.iter().any(|r| r.contains("Denied by Bob Approver")),
        "{replies:?}"
    );
}

#[tokio::test]
async fn two_owners_clicking_at_once_in_teams_decide_once() {
    let groups = r#"
[[group]]
name = "prod-db"
owners = ["bob@example.com", "carol@example.com"]
teams_approval_channel = "19:approvals00000000000000000000000@thread.tacv2"
"#;
    let t = TestApp::spawn_with(groups, false).await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;

    let (bob, carol) = tokio::join!(
        t.teams_click("bob", 1, "jit.approve"),
        t.teams_click("carol", 1, "jit.deny")
    );

    assert_eq!(t.count("decisions").await, 1, "exactly one decision");
    let answers = [bob, carol];
    let cards = answers
        .iter()
        .filter(|a| a["type"] == "application/vnd.microsoft.card.adaptive")
        .count();
    let told = answers
        .iter()
        .filter(|a| {
            a["value"]
                .as_str()
                .is_some_and(|text| text.starts_with("Request #1 was already"))
        })
        .count();
    assert_eq!(
        (cards, told),
        (1, 1),
        "one decides, the other is told: {answers:?}"
    );
}

#[tokio::test]
async fn a_non_owner_click_is_refused_and_changes_nothing() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;
    let before = t.state_counts().await;

    let answer = t.teams_click("mallory", 1, "jit.approve").await;

    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.activity.message");
    assert_eq!(
        answer["value"],
        "You are not an owner of prod-db, so you cannot decide on its requests."
    );
    assert_eq!(t.state_counts().await, before);
    assert_eq!(t.request(1).await.status, RequestStatus::Pending);

    // Through the Action.Submit path, the refusal is a reply in the conversation.
    let mallory_chat = "a:mallory-chat";
    assert_eq!(
        t.teams_submit("mallory", mallory_chat, 1, "jit.approve")
            .await,
        200
    );
    let reply = &t.teams.wait_for_sent(mallory_chat, 1).await[0];
    assert_eq!(
        reply["text"],
        "You are not an owner of prod-db, so you cannot decide on its requests."
    );
    assert_eq!(t.state_counts().await, before);
}

#[tokio::test]
async fn two_simultaneous_clicks_decide_once_and_the_loser_is_told_who_won() {
    let t = TestApp::spawn().await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;
    // carol owns prod-db as slack:U0CAROL only, so in Teams bob is the one owner; race him
    // against a Slack click by carol.
    let (teams, slack) = tokio::join!(
        t.teams_click("bob", 1, "jit.approve"),
        t.click("U0CAROL", 1, "jit_approve")
    );

    assert_eq!(teams["statusCode"], 200);
    assert_eq!(slack, 200);
    assert_eq!(t.count("decisions").await, 1);
    let actions = t.audit_actions(1).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "approved").count(),
        1,
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_request_made_in_slack_can_be_approved_in_teams() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h deploy").await;

    let answer = t.teams_click("bob", id, "jit.approve").await;
    assert_eq!(
        answer["type"], "application/vnd.microsoft.card.adaptive",
        "{answer}"
    );
    t.run_jobs().await;

    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    let thread = t.slack.thread_in(REQUEST_CHANNEL);
    let replies = t.slack.replies_in(REQUEST_CHANNEL, &thread);
    assert!(
        replies[0].contains("Approved by Bob Approver"),
        "a Teams decider shown by name in Slack: {replies:?}"
    );
    assert!(
        t.slack
            .last_update_in(APPROVAL_CHANNEL)
            .contains("active until")
    );
}

#[tokio::test]
async fn commands_are_answered_in_the_same_conversation() {
    let t = TestApp::spawn().await;
    let chat = "a:alice-chat";

    t.teams_say("alice", chat, "help").await;
    let help = &t.teams.wait_for_sent(chat, 1).await[0];
    assert!(
        card(help)
            .to_string()
            .contains("jit request <group> [duration] [for @person] [from <when>] <justification>")
    );
    assert!(help["replyToId"].as_str().unwrap().starts_with("activity-"));

    t.teams_say("alice", chat, "/jit groups").await;
    let groups = t.teams.wait_for_sent(chat, 2).await[1]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        groups.starts_with("**Groups you can request:**"),
        "{groups}"
    );
    assert!(
        groups.contains("`prod-db` — Read/write on the production database"),
        "{groups}"
    );

    t.teams_say("alice", chat, "jit request prod-bd 1h deploy")
        .await;
    let refusal = t.teams.wait_for_sent(chat, 3).await[2]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        refusal,
        "There is no group called `prod-bd`. Did you mean `prod-db`?"
    );
    assert_eq!(t.count("requests").await, 0);

    t.teams_say("alice", chat, "jit status").await;
    let status = t.teams.wait_for_sent(chat, 4).await[3]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        status.starts_with("You have no pending or active requests. `jit request"),
        "{status}"
    );
}

#[tokio::test]
async fn cards_go_by_dm_to_owners_who_have_talked_to_the_bot() {
    let t = TestApp::spawn().await;
    // carol has used the bot in her personal chat; dave never has.
    t.teams_user_has_talked("carol", "a:carol-chat").await;
    // bob was seen in a channel only: jitbot starts a 1:1 chat with him.
    t.teams_user_has_talked("bob", TEAMS_CHANNEL).await;

    t.teams_alice_requests("jit request payroll 30m salary run")
        .await;

    let to_carol = t.teams.sent_to("a:carol-chat");
    assert_eq!(
        actions(card(to_carol.last().unwrap())),
        ["jit.approve", "jit.deny"]
    );
    let chat_with_bob = t
        .teams
        .started()
        .into_iter()
        .find(|s| s["members"][0]["id"] == "29:bob")
        .expect("a chat started with bob");
    assert_eq!(chat_with_bob["bot"]["id"], BOT_MRI);
    assert_eq!(
        chat_with_bob["channelData"]["tenant"]["id"],
        crate::common::fake_teams::TENANT_ID
    );
    assert_eq!(t.teams.sent_to("a:personal-29:bob").len(), 1);
    assert_eq!(
        t.jobs_left_but_timeouts().await,
        0,
        "dave's card is skipped, not retried"
    );
}

#[tokio::test]
async fn owners_known_to_teams_see_buttons_through_refresh_and_others_see_the_state() {
    let t = TestApp::spawn().await;
    // bob, the only Teams owner of prod-db, has talked to the bot: Teams can name him.
    t.teams_user_has_talked("bob", "a:bob-chat").await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;

    let shared = card(
        &t.teams
            .started()
            .into_iter()
            .find(|s| s["channelData"]["channel"]["id"] == TEAMS_APPROVALS)
            .unwrap()["activity"],
    )
    .clone();
    // carol is listed as slack:U0CAROL: Teams cannot name her, so the shared card keeps its buttons.
    assert_eq!(shared["refresh"]["userIds"], serde_json::json!(["29:bob"]));
    assert_eq!(shared["refresh"]["action"]["verb"], "jit.refresh");

    let for_bob = t.teams_click("bob", 1, "jit.refresh").await;
    assert_eq!(actions(&for_bob["value"]), ["jit.approve", "jit.deny"]);
    let for_mallory = t.teams_click("mallory", 1, "jit.refresh").await;
    assert!(actions(&for_mallory["value"]).is_empty());
    let for_alice = t.teams_click("alice", 1, "jit.refresh").await;
    assert!(
        actions(&for_alice["value"]).is_empty(),
        "the requester cannot approve"
    );
}
