//! The approval gate as an attacker meets it: nothing is trusted for where it comes from, one
//! person counts once on any platform, identity comes from verified facts only, and no card goes
//! out before the requester is checked.

use crate::common::*;
use chrono::Utc;
use jitbot::domain::RequestStatus;
use serde_json::{Value, json};

/// prod-db needs two approvals, with cards in a Slack and a Teams channel.
const TWO_OWNERS_BOTH_PLATFORMS: &str = r#"
[[group]]
name = "prod-db"
owners = ["bob@example.com", "carol@example.com"]
approvals_required = 2
approval_channel = "C0APPROVALS"
teams_approval_channel = "19:approvals00000000000000000000000@thread.tacv2"
"#;

/// The text of the invoke answer: a message for refusals.
fn invoke_text(answer: &Value) -> String {
    answer["value"].as_str().unwrap_or_default().to_string()
}

/// An approve click on request 1 as the Bot Framework would carry it, for `user` in `tenant`.
fn approve_activity(t: &TestApp, user: &str) -> Value {
    let mut activity = t.activity("invoke", user, TEAMS_APPROVALS);
    activity["name"] = json!("adaptiveCard/action");
    activity["value"] = json!({
        "action": { "type": "Action.Execute", "verb": "jit.approve", "data": { "requestId": 1 } },
        "trigger": "manual",
    });
    activity
}

mod transport {
    use super::*;

    /// jitbot without a Teams registration; with `trial`, in local trial mode.
    async fn unregistered(trial: bool) -> TestApp {
        let options = Options {
            teams_app: false,
            teams_trial: trial,
            ..Default::default()
        };
        TestApp::spawn_with_options(DEFAULT_GROUPS, options).await
    }

    /// Posts an activity without a token, with these extra headers; returns the status.
    async fn tokenless(t: &TestApp, activity: &Value, headers: &[(&str, &str)]) -> u16 {
        let mut request = reqwest::Client::new()
            .post(format!("{}/api/messages", t.url))
            .json(activity);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn a_slack_only_install_refuses_a_tokenless_approval_relayed_by_a_local_proxy() {
        let t = unregistered(false).await;
        let id = t.alice_requests("request prod-db 1h deploy").await;
        let before = t.state_counts().await;
        // The attacker's Submit click, as a TLS proxy on this machine forwards it: from
        // 127.0.0.1, without a token, naming their own service URL.
        let mut click = t.activity("message", "mallory", TEAMS_APPROVALS);
        click["value"] = json!({ "jitVerb": "jit.approve", "requestId": id });
        assert_eq!(tokenless(&t, &click, &[]).await, 401);
        assert_eq!(
            tokenless(&t, &click, &[("x-forwarded-for", "203.0.113.9")]).await,
            401
        );
        t.run_jobs().await;
        assert_eq!(t.request(id).await.status, RequestStatus::Pending);
        assert_eq!(t.state_counts().await, before);
        assert!(t.teams.calls().is_empty(), "{:?}", t.teams.calls());
    }

    #[tokio::test]
    async fn trial_mode_refuses_whatever_came_through_a_proxy() {
        let t = unregistered(true).await;
        let mut activity = t.activity("message", "alice", TEAMS_THREAD);
        activity["text"] = json!("jit request prod-db 1h deploy");
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("x-real-ip", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ] {
            assert_eq!(
                tokenless(&t, &activity, &[(name, value)]).await,
                401,
                "{name}"
            );
        }
        assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    }

    #[tokio::test]
    async fn trial_mode_talks_to_this_machine_only_and_says_so() {
        let t = unregistered(true).await;
        let mut activity = t.activity("message", "alice", TEAMS_THREAD);
        activity["text"] = json!("jit request prod-db 1h deploy");
        activity["serviceUrl"] = json!("https://attacker.example/");
        assert_eq!(tokenless(&t, &activity, &[]).await, 403);
        assert_eq!(t.state_counts().await, [0, 0, 0, 0]);

        let health = reqwest::get(format!("{}/healthz", t.url)).await.unwrap();
        assert!(health.text().await.unwrap().contains("LOCAL TRIAL MODE"));
    }

    #[test]
    fn trial_mode_is_refused_on_an_address_others_can_reach() {
        let text = "listen = \"0.0.0.0:3978\"\n[teams]\ntrial_mode = true\n";
        let error = jitbot::Config::parse(text, std::path::Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(error.contains("teams.trial_mode"), "{error}");
        let loopback = "listen = \"127.0.0.1:3978\"\n[teams]\ntrial_mode = true\n";
        assert!(jitbot::Config::parse(loopback, std::path::Path::new(".")).is_ok());
    }

    #[tokio::test]
    async fn what_trial_mode_recorded_is_not_used_once_a_bot_is_registered() {
        let t = unregistered(true).await;
        let mut activity = t.activity("message", "alice", TEAMS_THREAD);
        activity["text"] = json!("jit request prod-db 1h deploy");
        assert_eq!(tokenless(&t, &activity, &[]).await, 200);
        assert_eq!(t.request(1).await.status, RequestStatus::Pending);
        assert!(t.count("teams_users").await > 0);

        let t = t
            .restart_with(Options {
                teams_app: true,
                teams_trial: false,
                ..Default::default()
            })
            .await;
        assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);
        assert_eq!(t.count("teams_users").await, 0);
        assert_eq!(t.count("teams_conversations").await, 0);
        let discarded = jitbot::store::audit::list(&t.app.core.db.read().unwrap(), None).unwrap();
        assert!(discarded.iter().any(|e| e.action == "trial_data_discarded"));
    }
}

mod pinning {
    use super::*;

    #[tokio::test]
    async fn an_activity_from_another_bot_framework_channel_is_refused() {
        let t = TestApp::spawn().await;
        // Even a key endorsed for Web Chat does not make Web Chat a way in.
        t.teams
            .publish_keys(&[(crate::common::fake_teams::KEY_ID, &["msteams", "webchat"])]);
        let mut activity = t.activity("message", "alice", TEAMS_THREAD);
        activity["text"] = json!("jit request prod-db 1h deploy");
        activity["channelId"] = json!("webchat");
        assert_eq!(t.post_activity(&activity, None).await.status(), 403);
        assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    }

    #[tokio::test]
    async fn an_activity_from_another_tenant_is_refused() {
        let t = TestApp::spawn().await;
        let other = "99999999-0000-4000-8000-000000000000";
        let mut activity = t.activity("message", "alice", TEAMS_THREAD);
        activity["text"] = json!("jit request prod-db 1h deploy");
        activity["conversation"]["tenantId"] = json!(other);
        activity["channelData"]["tenant"]["id"] = json!(other);
        assert_eq!(t.post_activity(&activity, None).await.status(), 403);
        // Without any tenant at all, likewise.
        activity["conversation"]
            .as_object_mut()
            .unwrap()
            .remove("tenantId");
        activity.as_object_mut().unwrap().remove("channelData");
        assert_eq!(t.post_activity(&activity, None).await.status(), 403);
        assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
    }

    #[tokio::test]
    async fn commands_and_clicks_need_a_directory_identity() {
        let t = TestApp::spawn().await;
        let mut activity = t.activity("message", "alice", TEAMS_THREAD);
        activity["text"] = json!("jit request prod-db 1h deploy");
        activity["from"]
            .as_object_mut()
            .unwrap()
            .remove("aadObjectId");
        assert_eq!(t.post_activity(&activity, None).await.status(), 200);
        let replies = t.teams.wait_for_sent(TEAMS_THREAD, 1).await;
        assert!(
            replies[0]
                .to_string()
                .contains("signed in to your organisation")
        );
        assert_eq!(t.count("requests").await, 0);

        t.alice_requests("request prod-db 1h deploy").await;
        let mut click = approve_activity(&t, "bob");
        click["from"].as_object_mut().unwrap().remove("aadObjectId");
        let answer: Value = t.post_activity(&click, None).await.json().await.unwrap();
        assert!(invoke_text(&answer).contains("could not find out who you are"));
        assert_eq!(t.count("decisions").await, 0);
    }

    #[tokio::test]
    async fn the_bot_connector_token_goes_to_bot_framework_hosts_only() {
        let t = TestApp::spawn().await;
        let sent = t
            .app
            .teams
            .connector
            .send("https://attacker.example/", "19:x@thread.tacv2", &json!({}))
            .await;
        let error = format!("{:#}", sent.unwrap_err());
        assert!(error.contains("not a Bot Framework host"), "{error}");
        assert!(t.teams.token_requests().is_empty(), "a token was fetched");
    }
}

mod one_person_one_vote {
    use super::*;

    #[tokio::test]
    async fn one_owner_clicking_on_both_platforms_counts_once() {
        let t = TestApp::spawn_with(TWO_OWNERS_BOTH_PLATFORMS, false).await;
        let id = t.alice_requests("request prod-db 1h deploy").await;
        t.click("U0BOB", id, "jit_approve").await;
        let answer = t.teams_click("bob", id, "jit.approve").await;

        assert!(
            invoke_text(&answer).contains("You already approved request #1"),
            "{answer}"
        );
        assert_eq!(t.request(id).await.status, RequestStatus::Pending);
        assert_eq!(t.count("decisions").await, 1);
        assert!(t.local_members("prod-db").await.is_empty());

        // A second owner completes the quorum.
        t.click("U0CAROL", id, "jit_approve").await;
        assert_eq!(t.request(id).await.status, RequestStatus::Approved);
    }

    #[tokio::test]
    async fn nobody_approves_their_own_request_from_their_other_platform() {
        let t = TestApp::spawn().await;
        // Bob's Teams profile shows only his UPN; Slack shows his mail. The directory knows both.
        t.teams.set_profile(
            "bob",
            json!({ "email": null, "userPrincipalName": "bob@example.onmicrosoft.com" }),
        );
        assert_eq!(
            t.teams_say("bob", TEAMS_THREAD, "jit request prod-db 1h deploy")
                .await,
            200
        );
        t.run_jobs().await;
        let request = t.request(1).await;
        assert!(request.confirmed_at.is_some());
        assert!(
            request.requester.has_email("bob@example.com"),
            "{request:?}"
        );

        t.click("U0BOB", 1, "jit_approve").await;
        t.slack.wait_for("respond", 1).await;

        assert_eq!(t.request(1).await.status, RequestStatus::Pending);
        assert_eq!(
            t.private_replies(),
            ["You cannot approve your own request for prod-db; another owner has to."]
        );
        assert_eq!(t.count("decisions").await, 0);
    }
}

mod verified_facts {
    use super::*;

    #[tokio::test]
    async fn an_unconfirmed_slack_email_matches_no_owner() {
        let t = TestApp::spawn().await;
        let id = t.alice_requests("request prod-db 1h deploy").await;
        // Mallory typed bob's address into her profile; Slack never confirmed it.
        t.slack.set_email("U0MALLORY", "bob@example.com", false);
        t.click("U0MALLORY", id, "jit_approve").await;
        t.slack.wait_for("respond", 1).await;
        assert_eq!(t.request(id).await.status, RequestStatus::Pending);
        assert_eq!(
            t.private_replies(),
            ["You are not an owner of prod-db, so you cannot decide on its requests."]
        );
    }

    #[tokio::test]
    async fn a_requester_known_by_nothing_verified_cannot_ask_where_owners_use_two_platforms() {
        let t = TestApp::spawn().await;
        t.slack.set_email("U0ALICE", "alice@example.com", false);
        t.say("U0ALICE", "request prod-db 1h deploy").await;
        t.run_jobs().await;
        assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);
        assert!(t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty());
        let replies = t.slack.direct_messages("U0ALICE");
        assert!(
            replies[0].contains("could not confirm your email address"),
            "{replies:?}"
        );
    }

    #[tokio::test]
    async fn an_owner_known_by_nothing_verified_cannot_decide_where_two_platforms_meet() {
        // Bob is listed by his Slack id and by his Teams id; Slack never confirmed his email, so
        // nothing ties his Slack account to his Teams one.
        let (bob, ..) = teams_user("bob");
        let groups = format!(
            "[[group]]\nname = \"pair\"\nowners = [\"slack:U0BOB\", \"teams:{bob}\", \"carol@example.com\"]\napprovals_required = 2\napproval_channel = \"C0APPROVALS\"\n"
        );
        let t = TestApp::spawn_with(&groups, false).await;
        t.slack.set_email("U0BOB", "bob@example.com", false);
        let id = t.alice_requests("request pair 1h deploy").await;
        t.click("U0BOB", id, "jit_approve").await;
        t.slack.wait_for("respond", 1).await;
        assert!(t.private_replies()[0].contains("could not confirm your email address"));
        // From Teams, where his directory id says who he is, his one vote counts.
        let answer = t.teams_click("bob", id, "jit.approve").await;
        assert!(answer.to_string().contains("1 of 2 approvals"), "{answer}");
        assert_eq!(t.request(id).await.status, RequestStatus::Pending);
        assert_eq!(t.count("decisions").await, 1);
    }

    #[tokio::test]
    async fn only_the_requester_and_the_owners_see_a_card_on_refresh() {
        let t = TestApp::spawn().await;
        let id = t
            .alice_requests("request prod-db 1h secret-incident-details")
            .await;
        let answer = t.teams_click("mallory", id, "jit.refresh").await;
        assert!(
            invoke_text(&answer).contains("Only the requester and the owners"),
            "{answer}"
        );
        assert!(!answer.to_string().contains("secret-incident-details"));
        let for_bob = t.teams_click("bob", id, "jit.refresh").await;
        assert!(for_bob.to_string().contains("secret-incident-details"));
    }

    /// A click as `clicker` whose payload says it comes from workspace `team`.
    async fn click_from(t: &TestApp, clicker: &str, team: &str) -> u16 {
        let body = click_body(
            clicker,
            "1",
            "jit_approve",
            &format!("{}/respond/{clicker}", t.slack.url),
        );
        let body = body.replace("T0ACME", team);
        t.post_signed("/slack/interactions", &body, Utc::now().timestamp())
            .await
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn a_click_from_another_workspace_cannot_decide() {
        let t = TestApp::spawn().await;
        let id = t.alice_requests("request prod-db 1h deploy").await;
        assert_eq!(click_from(&t, "U0BOB", "T0OTHER").await, 200);
        // A Slack Connect user in a shared channel: the payload is ours, the user is not.
        t.slack.move_to_team("U0CAROL", "T0PARTNER");
        assert_eq!(click_from(&t, "U0CAROL", "T0ACME").await, 200);

        assert_eq!(t.request(id).await.status, RequestStatus::Pending);
        assert_eq!(t.count("decisions").await, 0);
        t.slack.wait_for("respond", 2).await;
        let replies = t.private_replies();
        assert_eq!(replies.len(), 2);
        assert!(
            replies.iter().all(|r| r.contains("another workspace")),
            "{replies:?}"
        );
    }

    #[tokio::test]
    async fn a_slack_connect_user_cannot_ask() {
        let t = TestApp::spawn().await;
        t.slack.move_to_team("U0MALLORY", "T0PARTNER");
        let reply = t.say("U0MALLORY", "request prod-db 1h deploy").await;
        assert!(reply.contains("Request #1"), "{reply}");
        t.run_jobs().await;
        assert_eq!(t.request(1).await.status, RequestStatus::Cancelled);
        assert!(t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty());
        // Once jitbot knows its workspace, a command from another is refused at once.
        t.app.slack.api.team_id().await.unwrap();
        let body = slash_command_body("U0MALLORY", REQUEST_CHANNEL, "request billing 1h x")
            .replace("T0ACME", "T0PARTNER");
        let answer: Value = t
            .post_signed("/slack/commands", &body, Utc::now().timestamp())
            .await
            .json()
            .await
            .unwrap();
        assert!(
            answer["text"]
                .as_str()
                .unwrap()
                .contains("another workspace")
        );
        assert_eq!(t.count("requests").await, 1);
    }

    #[tokio::test]
    async fn a_teams_guest_is_not_matched_to_an_owner_by_email() {
        let t = TestApp::spawn().await;
        let id = t.alice_requests("request prod-db 1h deploy").await;
        // A guest from another tenant whose home tenant calls them bob@example.com.
        t.teams.set_profile(
            "mallory",
            json!({ "email": "bob@example.com", "userPrincipalName": "mallory_evil.example#EXT#@example.onmicrosoft.com", "userRole": "guest" }),
        );
        let answer = t.teams_click("mallory", id, "jit.approve").await;
        assert!(invoke_text(&answer).contains("not an owner"), "{answer}");
        assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    }
}

mod checks_before_cards {
    use super::*;

    use crate::entra::ELIGIBLE;

    #[tokio::test]
    async fn no_card_goes_out_while_the_requester_cannot_be_checked() {
        let t = crate::entra::spawn().await;
        t.graph.add_transitive_member(
            crate::common::fake_graph::directory_id("alice@example.com"),
            ELIGIBLE,
        );
        t.graph.fail_next("GET", "users", 503, None, 1);

        let reply = t.say("U0ALICE", "request finance 1h month-end").await;
        assert!(reply.contains("checking your account"), "{reply}");
        t.run_jobs().await;

        // Graph is down: the request waits, no owner is asked, and nobody can decide.
        let request = t.request(1).await;
        assert_eq!(request.status, RequestStatus::Pending);
        assert!(request.confirmed_at.is_none());
        assert!(t.slack.posts_in(APPROVAL_CHANNEL, None).is_empty());
        t.click("U0BOB", 1, "jit_approve").await;
        t.slack.wait_for("respond", 1).await;
        assert_eq!(t.request(1).await.status, RequestStatus::Pending);
        assert!(t.private_replies()[0].contains("still being checked"));

        // Once Graph answers, the retried check passes and the card goes out.
        t.run_jobs_at(Utc::now() + chrono::Duration::minutes(10))
            .await;
        assert!(t.request(1).await.confirmed_at.is_some());
        assert_eq!(t.slack.posts_in(APPROVAL_CHANNEL, None).len(), 1);
    }

    #[tokio::test]
    async fn a_request_that_can_reach_no_owner_is_cancelled_with_the_reason() {
        // Carol is listed by her Teams id and has never talked to the bot: no DM can reach her.
        let (carol, ..) = teams_user("carol");
        let groups = format!("[[group]]\nname = \"quiet\"\nowners = [\"teams:{carol}\"]\n");
        let t = TestApp::spawn_with(&groups, false).await;
        t.say("U0ALICE", "request quiet 1h deploy").await;
        t.run_jobs().await;

        let request = t.request(1).await;
        assert_eq!(request.status, RequestStatus::Cancelled);
        let replies = t.slack.direct_messages("U0ALICE");
        assert!(
            replies[0].contains("Nobody can be asked to approve"),
            "{replies:?}"
        );
    }
}

mod what_people_see {
    use super::*;

    const INJECTED: &str = "<!channel> <@U0BOB> <https://x.example|runbook> [runbook](https://x.example) **now** & more";

    #[tokio::test]
    async fn a_justification_cannot_ping_or_link_in_slack() {
        let t = TestApp::spawn().await;
        let id = t
            .alice_requests(&format!("request prod-db 1h {INJECTED}"))
            .await;
        let posts: Vec<String> = t
            .slack
            .calls_to("chat.postMessage")
            .iter()
            .map(Value::to_string)
            .collect();
        let everything = posts.join("\n");
        assert!(!everything.contains("<!channel>"), "{everything}");
        assert!(!everything.contains("<https://x.example"), "{everything}");
        assert!(
            everything.contains("&lt;!channel&gt; &lt;@U0BOB&gt;"),
            "{everything}"
        );
        assert!(everything.contains("&amp; more"), "{everything}");
        // The only mention of bob is jitbot's own, naming the owners.
        let card = t.slack.posts_in(APPROVAL_CHANNEL, None)[0].to_string();
        assert_eq!(card.matches("<@U0BOB>").count(), 1, "{card}");
        assert_eq!(t.request(id).await.justification, INJECTED);
    }

    #[tokio::test]
    async fn a_typed_group_name_is_shown_literally() {
        let t = TestApp::spawn().await;
        let reply = t.say("U0ALICE", "request <!here> 1h fixing it").await;
        assert!(reply.contains("&lt;!here&gt;"), "{reply}");
        assert!(!reply.contains("<!here>"), "{reply}");
    }

    #[tokio::test]
    async fn a_justification_renders_no_markdown_in_teams() {
        let t = TestApp::spawn().await;
        t.teams_alice_requests(&format!("jit request prod-db 1h {INJECTED}"))
            .await;
        let cards: Vec<Value> = t
            .teams
            .calls()
            .into_iter()
            .filter_map(|c| {
                let sent = c.body.get("activity").unwrap_or(&c.body);
                sent["attachments"][0]["content"].as_object().cloned()
            })
            .map(Value::Object)
            .collect();
        assert!(cards.len() >= 2, "the status card and the approval card");
        for card in &cards {
            let body = card["body"].as_array().unwrap();
            let text_blocks = body
                .iter()
                .filter(|e| e["type"] == "TextBlock")
                .map(|e| e["text"].as_str().unwrap_or_default());
            for text in text_blocks {
                assert!(!text.contains("runbook"), "Markdown-rendering text: {text}");
            }
        }
        // The approval card shows it, literally, in a TextRun.
        assert!(
            cards
                .iter()
                .any(|card| card.to_string().contains(r#""text":"<!channel> <@U0BOB>"#)),
            "{cards:?}"
        );
    }

    #[tokio::test]
    async fn teams_notices_are_plain_text() {
        let t = TestApp::spawn().await;
        t.teams_alice_requests("jit request prod-db 1h deploy")
            .await;
        t.click("U0BOB", 1, "jit_approve").await;
        t.run_jobs().await;
        let notices: Vec<Value> = t
            .teams
            .sent_to(TEAMS_THREAD)
            .into_iter()
            .filter(|m| m["text"].is_string())
            .collect();
        assert!(!notices.is_empty());
        assert!(
            notices.iter().all(|m| m["textFormat"] == "plain"),
            "{notices:?}"
        );
    }
}
