//! Teams has no ephemeral messages: what only one person may read — a refusal, their status —
//! asked for in a channel goes to their personal chat with the bot, or is not said there at all.

use crate::common::*;
use jitbot::domain::RequestStatus;
use jitbot::teams::reply::ASK_DIRECTLY;

const UNKNOWN_GROUP: &str = "There is no group called `prod-bd`. Did you mean `prod-db`?";

fn texts(t: &TestApp, conversation: &str) -> Vec<String> {
    t.teams
        .sent_to(conversation)
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_refusal_in_a_teams_channel_goes_to_the_personal_chat() {
    let t = TestApp::spawn().await;
    t.teams_user_has_talked("alice", "a:alice-chat").await;

    t.teams_say("alice", TEAMS_THREAD, "jit request prod-bd 1h deploy")
        .await;

    let personal = t.teams.wait_for_sent("a:alice-chat", 2).await;
    assert_eq!(personal[1]["text"], UNKNOWN_GROUP);
    assert!(
        t.teams.sent_to(TEAMS_THREAD).is_empty(),
        "nothing in the channel: {:?}",
        texts(&t, TEAMS_THREAD)
    );
    assert_eq!(t.count("requests").await, 0);
}

#[tokio::test]
async fn a_refusal_in_a_channel_without_a_personal_chat_reveals_nothing() {
    let t = TestApp::spawn().await;

    t.teams_say("mallory", TEAMS_THREAD, "jit request prod-bd 1h deploy")
        .await;

    let sent = t.teams.wait_for_sent(TEAMS_THREAD, 1).await;
    assert_eq!(sent[0]["text"], ASK_DIRECTLY);
    assert!(!sent[0].to_string().contains("prod-bd"));
}

#[tokio::test]
async fn a_refused_click_in_a_channel_goes_to_the_personal_chat() {
    let t = TestApp::spawn().await;
    t.teams_user_has_talked("mallory", "a:mallory-chat").await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;
    let before = t.state_counts().await;

    // Mallory clicks the Action.Submit fallback on the card in the approvals channel.
    t.teams_submit("mallory", TEAMS_CHANNEL, 1, "jit.approve")
        .await;

    let personal = t.teams.wait_for_sent("a:mallory-chat", 2).await;
    assert_eq!(
        personal[1]["text"],
        "You are not an owner of prod-db, so you cannot decide on its requests."
    );
    assert!(t.teams.sent_to(TEAMS_CHANNEL).is_empty());
    assert_eq!(t.state_counts().await, before);
}

#[tokio::test]
async fn status_asked_in_a_channel_is_answered_in_the_personal_chat() {
    let t = TestApp::spawn().await;
    t.teams_user_has_talked("bob", "a:bob-chat").await;
    t.teams_alice_requests("jit request prod-db 1h deploy")
        .await;
    let in_thread = t.teams.sent_to(TEAMS_THREAD).len();

    t.teams_say("bob", TEAMS_THREAD, "jit status").await;

    let personal = t.teams.wait_for_sent("a:bob-chat", 2).await;
    let status = personal[1]["text"].as_str().unwrap();
    assert!(status.contains("Awaiting your decision:"), "{status}");
    assert_eq!(t.teams.sent_to(TEAMS_THREAD).len(), in_thread);
}

#[tokio::test]
async fn help_in_a_channel_is_answered_there() {
    let t = TestApp::spawn().await;
    t.teams_user_has_talked("alice", "a:alice-chat").await;

    t.teams_say("alice", TEAMS_THREAD, "jit help").await;

    let sent = t.teams.wait_for_sent(TEAMS_THREAD, 1).await;
    assert_eq!(
        sent[0]["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
}

#[tokio::test]
async fn why_a_request_was_cancelled_is_told_in_a_direct_message() {
    // carol, the only owner, has never talked to the bot: no card can reach anyone.
    let (carol, ..) = teams_user("carol");
    let groups = format!("[[group]]\nname = \"lonely\"\nowners = [\"teams:{carol}\"]\n");
    let t = TestApp::spawn_with(&groups, false).await;

    t.teams_alice_requests("jit request lonely 1h deploy").await;
    t.run_jobs().await;

    assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);
    let reason = t.request(1).await.failure.expect("a reason is kept");
    let direct = texts(&t, "a:personal-29:alice");
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert!(direct[0].contains(&reason), "{direct:?}");
    let in_thread = texts(&t, TEAMS_THREAD);
    assert!(
        in_thread.contains(
            &"🚫 This request was cancelled. I've told the requester why in a direct message."
                .to_string()
        ),
        "{in_thread:?}"
    );
    assert!(in_thread.iter().all(|text| !text.contains(&reason)));
}
