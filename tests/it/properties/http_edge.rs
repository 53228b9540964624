//! Arbitrary requests through the front door — signed Slack bodies, Teams activities with a
//! valid token, arbitrary tokens — get a 2xx or 4xx answer, never a 500, and change nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jitbot::domain::Command;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::{json_value, runner, typed_text};
use crate::common::{self, REQUEST_CHANNEL, TEAMS_CHANNEL, TestApp};

/// Runs `check` on each case against one app on a runtime of its own (proptest drives cases
/// synchronously), and checks after each that nothing was stored.
fn against_app<S: Strategy>(
    cases: u32,
    strategy: S,
    check: impl AsyncFn(&TestApp, S::Value) -> Result<reqwest::StatusCode, TestCaseError>,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let before = runtime.block_on(app.state_counts());
    runner(cases)
        .run(&strategy, |input| {
            runtime.block_on(async {
                let status = check(&app, input).await?;
                prop_assert!(
                    status.is_success() || status.is_client_error(),
                    "answered {status}"
                );
                prop_assert_eq!(app.state_counts().await, before, "something was stored");
                Ok(())
            })
        })
        .unwrap();
}

/// Text that would not store a request if it were accepted: anything but a request or a
/// break-glass use of a real group (which are meant to store one).
fn harmless(text: &str) -> bool {
    !matches!(
        Command::parse(text),
        Ok(Command::Request(_) | Command::BreakGlass { .. })
    )
}

#[test]
fn arbitrary_signed_slash_commands_get_an_answer_and_store_nothing() {
    let form = (
        proptest::option::of(prop_oneof!["U0ALICE", "U0BOB", any::<String>()]),
        proptest::option::of(prop_oneof![
            Just(REQUEST_CHANNEL.to_string()),
            any::<String>()
        ]),
        typed_text(),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(user, channel, text, team)| {
            let mut fields = vec![("command", "/jit".to_string()), ("text", text)];
            fields.extend(user.map(|u| ("user_id", u)));
            fields.extend(channel.map(|c| ("channel_id", c)));
            fields.extend(team.map(|t| ("team_id", t)));
            serde_urlencoded::to_string(fields).unwrap()
        });
    let body = prop_oneof![any::<String>(), form];
    against_app(128, body, async |app, body: String| {
        let text = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "text")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        prop_assume!(harmless(&text));
        let response = app
            .post_signed("/slack/commands", &body, Utc::now().timestamp())
            .await;
        Ok(response.status())
    });
}

#[test]
fn arbitrary_signed_interactions_get_an_answer_and_store_nothing() {
    let click = (
        prop_oneof!["jit_approve", "jit_deny", "jit_done", any::<String>()],
        prop_oneof!["1", "-1", "99999999999999999999", any::<String>()],
        prop_oneof!["U0BOB", any::<String>()],
    )
        .prop_map(|(action, value, user)| {
            common::click_body(&user, &value, &action, "http://127.0.0.1:9/respond")
                .replace("jit_approve", &action)
        });
    let payload = json_value().prop_map(|payload| {
        serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
    });
    let body = prop_oneof![any::<String>(), payload, click];
    against_app(128, body, async |app, body: String| {
        let response = app
            .post_signed("/slack/interactions", &body, Utc::now().timestamp())
            .await;
        Ok(response.status())
    });
}

#[test]
fn arbitrary_teams_activities_with_a_valid_token_get_an_answer_and_store_nothing() {
    let activity = (
        typed_text(),
        json_value(),
        prop_oneof!["message", "invoke", any::<String>()],
    )
        .prop_map(|(text, value, kind)| (text, value, kind));
    let body = prop_oneof![
        json_value().prop_map(|v| (None, v)),
        activity.prop_map(|a| (Some(a), Value::Null)),
    ];
    against_app(
        128,
        body,
        async |app, (shaped, raw): (Option<(String, Value, String)>, Value)| {
            let activity = match shaped {
                Some((text, value, kind)) => {
                    prop_assume!(harmless(&text));
                    let mut activity = app.activity(&kind, "alice", TEAMS_CHANNEL);
                    activity["text"] = json!(text);
                    activity["value"] = value;
                    activity
                }
                None => raw,
            };
            Ok(app.post_activity(&activity, None).await.status())
        },
    );
}

#[test]
fn arbitrary_bearer_tokens_are_refused_and_store_nothing() {
    let segment = |json: Value| URL_SAFE_NO_PAD.encode(json.to_string());
    let jwt_shaped = (
        prop_oneof!["RS256", "none", "HS256", any::<String>()],
        any::<String>(),
        json_value(),
        "[A-Za-z0-9_-]{0,90}",
    )
        .prop_map(move |(alg, kid, claims, signature)| {
            let header = json!({ "alg": alg, "kid": kid, "typ": "JWT" });
            format!("{}.{}.{signature}", segment(header), segment(claims))
        });
    let token = prop_oneof!["[!-~]{0,300}", jwt_shaped];
    against_app(128, token, async |app, token: String| {
        let mut activity = app.activity("message", "alice", TEAMS_CHANNEL);
        activity["text"] = json!("<at>JIT Bot</at> jit request prod-db 1h a token test");
        let status = app.post_activity(&activity, Some(&token)).await.status();
        prop_assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
        Ok(status)
    });
}

#[test]
fn arbitrary_unsigned_bodies_are_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let http = reqwest::Client::new();
    let input = (
        prop_oneof!["/slack/commands", "/slack/interactions", "/api/messages"],
        any::<Vec<u8>>(),
    );
    runner(64)
        .run(&input, |(path, body)| {
            runtime.block_on(async {
                let response = http
                    .post(format!("{}{path}", app.url))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                prop_assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
                Ok(())
            })
        })
        .unwrap();
    assert_eq!(runtime.block_on(app.state_counts()), [0; 4]);
}
