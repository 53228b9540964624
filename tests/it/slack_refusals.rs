//! Every way `/jit` and the approval buttons turn a person down: a private reply that says how to fix it, and nothing changed.

use crate::common::*;
use jitbot::domain::RequestStatus;

/// Types `/jit <text>` as `user`, asserts that it stored nothing and called no Slack API, and
/// returns the private reply.
async fn refused(t: &TestApp, user: &str, text: &str) -> String {
    let before = t.state_counts().await;
    let calls_before = t.slack.calls().len();
    let reply = t.say(user, text).await;
    assert_eq!(
        t.state_counts().await,
        before,
        "`/jit {text}` changed something"
    );
    assert_eq!(
        t.slack.calls().len(),
        calls_before,
        "`/jit {text}` called Slack"
    );
    reply
}

/// Clicks as `user`, asserts that it stored nothing and changed no message, and returns the
/// private reply the click got.
async fn refused_click(t: &TestApp, user: &str, id: i64, action: &str) -> String {
    let before = t.state_counts().await;
    let chat_before = t.chat_calls();
    let replies_before = t.private_replies().len();
    assert_eq!(t.click(user, id, action).await, 200);
    t.slack.wait_for("respond", replies_before + 1).await;
    assert_eq!(
        t.state_counts().await,
        before,
        "{user}'s {action} on #{id} changed something"
    );
    assert_eq!(
        t.chat_calls(),
        chat_before,
        "{user}'s {action} on #{id} changed a message"
    );
    let replies = t.private_replies();
    assert_eq!(replies.len(), replies_before + 1, "{replies:?}");
    replies[replies_before].clone()
}

/// Alice's request #1 for prod-db, approved by bob and granted.
async fn active_request(t: &TestApp) -> i64 {
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    id
}

// ---- /jit request ----

#[tokio::test]
async fn an_unknown_group_with_a_close_name_suggests_it() {
    let t = TestApp::spawn().await;

    let reply = refused(&t, "U0ALICE", "request prod-bd 2h fixing INC-4711").await;

    assert_eq!(
        reply,
        "There is no group called `prod-bd`. Did you mean `prod-db`?"
    );
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn an_unknown_group_with_nothing_close_points_to_the_group_list() {
    let t = TestApp::spawn().await;

    let reply = refused(&t, "U0ALICE", "request kubernetes-admin 2h fixing INC-4711").await;

    assert_eq!(
        reply,
        "There is no group called `kubernetes-admin`. `/jit groups` lists the groups you can request."
    );
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_duration_above_the_maximum_is_refused_with_the_maximum() {
    let t = TestApp::spawn().await;

    let reply = refused(&t, "U0ALICE", "request prod-db 9h fixing INC-4711").await;

    assert_eq!(
        reply,
        "`prod-db` can be requested for at most 8h; you asked for 9h. Ask again with 8h or less."
    );
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_request_without_a_justification_is_refused() {
    let t = TestApp::spawn().await;

    for text in [
        "request prod-db 2h",
        "request prod-db",
        "request prod-db 2h    ",
    ] {
        let reply = refused(&t, "U0ALICE", text).await;
        assert_eq!(
            reply,
            // Escaped for mrkdwn: Slack shows `<justification>`.
            "Say why you need `prod-db`: `/jit request prod-db [duration] &lt;justification&gt;`, e.g. `fixing INC-4711`.",
            "/jit {text}"
        );
    }
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn an_unparseable_duration_is_refused_instead_of_becoming_the_justification() {
    let t = TestApp::spawn().await;

    let reply = refused(&t, "U0ALICE", "request prod-db 2 weeks because").await;
    assert_eq!(
        reply,
        "`2` is not a duration I understand: use minutes, hours or days such as 30m, 2h, 1h30m or 1d"
    );
    let reply = refused(&t, "U0ALICE", "request prod-db 0m because").await;
    assert_eq!(
        reply,
        "`0m` is not a duration I understand: use minutes, hours or days such as 30m, 2h, 1h30m or 1d"
    );

    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn an_unknown_verb_is_refused() {
    let t = TestApp::spawn().await;

    let reply = refused(&t, "U0ALICE", "gimme prod-db 2h fixing INC-4711").await;

    assert_eq!(reply, "I don't know the command `gimme`. Try `/jit help`.");
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_second_request_for_a_group_while_the_first_is_pending_is_refused() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;

    let reply = refused(&t, "U0ALICE", "request PROD-DB 4h still fixing INC-4711").await;

    assert_eq!(
        reply,
        format!(
            "You already have request #{id} for `prod-db`, which is pending. `/jit status` shows it."
        )
    );
    assert_eq!(t.count("requests").await, 1);
    // The refusal is about that group only: another group can still be requested.
    let other = t.say("U0ALICE", "request billing 1h month-end close").await;
    assert!(
        other.starts_with("Request #2 for `billing` (1h) is received."),
        "{other}"
    );
}

#[tokio::test]
async fn a_second_request_for_a_group_while_the_first_is_active_is_refused() {
    let t = TestApp::spawn().await;
    let id = active_request(&t).await;

    let reply = refused(&t, "U0ALICE", "request prod-db 1h one more thing").await;

    assert_eq!(
        reply,
        format!(
            "You already have request #{id} for `prod-db`, which is active. `/jit status` shows it."
        )
    );
    assert_eq!(t.count("requests").await, 1);
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
}

#[tokio::test]
async fn a_request_that_only_the_requester_could_approve_is_refused() {
    let groups = r#"
[[group]]
name = "solo"
owners = ["slack:U0ALICE"]
"#;
    let t = TestApp::spawn_with(groups, false).await;

    let reply = refused(&t, "U0ALICE", "request solo 1h fixing INC-4711").await;

    assert_eq!(
        reply,
        "You are the only owner of `solo`, and nobody may approve their own request. Ask an administrator to add another owner."
    );
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

// ---- read-only commands ----

#[tokio::test]
async fn help_lists_every_command() {
    let t = TestApp::spawn().await;

    for text in ["help", "  HELP "] {
        let reply = t.say("U0ALICE", text).await;
        assert!(reply.contains("`/jit request` — A form"), "{reply}");
        assert!(
            reply.contains(
                "`/jit request &lt;group&gt; [duration] [for @person] [from &lt;when&gt;] &lt;justification&gt;`"
            ),
            "{reply}"
        );
        for command in ["extend", "done", "cancel", "revoke", "breakglass"] {
            assert!(reply.contains(&format!("`/jit {command}")), "{reply}");
        }
        assert!(reply.contains("`/jit groups`"), "{reply}");
        assert!(reply.contains("`/jit status`"), "{reply}");
        assert!(reply.contains("`/jit help`"), "{reply}");
    }
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn groups_lists_every_group_with_its_maximum_and_owners() {
    let t = TestApp::spawn().await;

    let reply = t.say("U0ALICE", "groups").await;

    assert_eq!(
        reply,
        [
            "*Groups you can request:*",
            "• `prod-db` — Read/write on the production database",
            "   up to 8h (default 1h), approved by bob@example.com, <@U0CAROL>",
            "• `payroll`",
            "   up to 8h (default 1h), approved by bob@example.com, carol@example.com, dave@example.com (2 approvals needed)",
            "• `billing`",
            "   up to 8h (default 1h), approved by bob@example.com",
        ]
        .join("\n")
    );
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn status_without_requests_says_how_to_make_one() {
    let t = TestApp::spawn().await;

    let reply = t.say("U0ALICE", "status").await;

    assert_eq!(
        reply,
        "You have no pending or active requests. `/jit request <group> [duration] <justification>` asks for one."
    );
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn status_shows_a_pending_request_to_its_requester_only() {
    let t = TestApp::spawn().await;
    t.alice_requests("request prod-db 2h fixing INC-4711").await;
    let before = t.state_counts().await;

    let reply = t.say("U0ALICE", "status").await;

    assert_eq!(
        reply,
        "*Your requests:*\n• #1 `prod-db` for 2h — ⏳ pending"
    );
    let bobs = t.say("U0BOB", "status").await;
    assert!(
        bobs.starts_with("You have no pending or active requests."),
        "{bobs}"
    );
    assert_eq!(t.state_counts().await, before);
}

#[tokio::test]
async fn status_shows_the_time_left_on_an_active_request() {
    let t = TestApp::spawn().await;
    let id = active_request(&t).await;
    let expires_at = t
        .request(id)
        .await
        .expires_at
        .expect("an active request ends");
    let before = t.state_counts().await;

    let reply = t.say("U0ALICE", "status").await;

    assert_eq!(
        reply,
        format!(
            "*Your requests:*\n• #1 `prod-db` for 2h — 🔓 active until {} (1h 59m left)",
            jitbot::slack::text::date(expires_at)
        )
    );
    assert_eq!(t.state_counts().await, before);
}

// ---- the Approve and Deny buttons ----

#[tokio::test]
async fn a_click_on_a_request_that_does_not_exist_is_refused() {
    let t = TestApp::spawn().await;

    let reply = refused_click(&t, "U0BOB", 99, "jit_approve").await;

    assert_eq!(reply, "There is no request #99.");
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn a_non_owner_cannot_approve() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;

    let reply = refused_click(&t, "U0MALLORY", id, "jit_approve").await;

    assert_eq!(
        reply,
        "You are not an owner of prod-db, so you cannot decide on its requests."
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn an_owner_cannot_approve_their_own_request() {
    let t = TestApp::spawn().await;
    let reply = t.say("U0BOB", "request prod-db 1h schema migration").await;
    assert!(
        reply.starts_with("Request #1 for `prod-db` (1h) is received."),
        "{reply}"
    );
    t.run_jobs().await;

    let reply = refused_click(&t, "U0BOB", 1, "jit_approve").await;

    assert_eq!(
        reply,
        "You cannot approve your own request for prod-db; another owner has to."
    );
    assert_eq!(t.request(1).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn a_click_on_a_decided_request_says_who_decided_it() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);

    let reply = refused_click(&t, "U0CAROL", id, "jit_deny").await;

    assert_eq!(
        reply,
        format!("Request #{id} was already approved by <@U0BOB>.")
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);
}

#[tokio::test]
async fn a_second_approval_by_the_same_owner_is_refused() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request payroll 1h quarterly run").await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    assert_eq!(t.count("decisions").await, 1);

    let reply = refused_click(&t, "U0BOB", id, "jit_approve").await;

    assert_eq!(
        reply,
        format!(
            "You already approved request #{id}; it needs 1 more approval(s) from other owners."
        )
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn a_click_by_someone_slack_cannot_identify_is_refused() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;

    let reply = refused_click(&t, "U0STRANGER", id, "jit_approve").await;

    assert!(
        reply.starts_with("I could not find out who you are ("),
        "{reply}"
    );
    assert!(
        reply.ends_with("). Please try again in a moment."),
        "{reply}"
    );
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn a_request_that_cannot_reach_its_quorum_without_the_requester_is_refused() {
    // Two approvals from two owners: when one of them asks, only one other owner is left.
    let groups = r#"
[[group]]
name = "pair"
owners = ["slack:U0BOB", "slack:U0CAROL"]
approvals_required = 2
"#;
    let t = TestApp::spawn_with(groups, false).await;

    let before = t.state_counts().await;
    let reply = t.say("U0BOB", "request pair 1h fixing INC-4711").await;

    assert!(
        !reply.contains("pending"),
        "a request nobody can ever approve was accepted: {reply}"
    );
    assert!(reply.contains("`pair`"), "{reply}");
    assert_eq!(t.state_counts().await, before);
}

#[tokio::test]
async fn a_request_only_the_requester_could_approve_is_cancelled_once_their_email_is_known() {
    // The only owner is listed by email. The slash command answers from the cache alone, so the
    // first time alice asks, jitbot cannot know yet that she is that owner.
    let groups = r#"
[[group]]
name = "solo"
owners = ["alice@example.com"]
"#;
    let t = TestApp::spawn_with(groups, false).await;

    let reply = t.say("U0ALICE", "request solo 1h fixing INC-4711").await;
    assert!(reply.contains("Request #1"), "{reply}");
    t.run_jobs().await;

    // Once Slack told jitbot her email, the request is cancelled and she is told why …
    assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);
    assert_eq!(
        t.slack.direct_messages("U0ALICE"),
        [
            "Request #1: 🚫 This request was cancelled. You are the only owner of `solo`, and nobody may approve their own request. Ask an administrator to add another owner."
        ]
    );
    // … the thread opens showing it cancelled (the check ran first), so it needs no update …
    let thread = &t.slack.posts_in(REQUEST_CHANNEL, None)[0];
    assert!(thread.to_string().contains("cancelled"), "{thread}");
    assert!(t.slack.calls_to("chat.update").is_empty());
    // … no card was sent to her own DM, and the group is not blocked by a request nobody can decide.
    assert!(
        t.slack
            .posts_in("DU0ALICE", None)
            .iter()
            .all(|post| !post.to_string().contains("jit_approve")),
        "her DM holds the reason, not a card"
    );
    assert_eq!(t.audit_actions(1).await, ["requested", "cancelled"]);
    let before = t.state_counts().await;
    assert_eq!(
        t.say("U0ALICE", "request solo 1h fixing INC-4711").await,
        "You are the only owner of `solo`, and nobody may approve their own request. Ask an administrator to add another owner."
    );
    assert_eq!(t.state_counts().await, before);
}
