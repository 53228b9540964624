//! The webhook provider: each group's own signing secret, no redirects, and https except to this
//! machine.

use std::process::{Command, Output, Stdio};
use std::time::{Duration as StdDuration, Instant};

use crate::common::*;
use chrono::{Duration, Utc};
use jitbot::domain::RequestStatus;
use jitbot::providers::sign_webhook;
use jitbot::store;

const BILLING_SECRET: &str = "billing-only-secret-5d1f0c";

/// billing signs with its own secret; reports with the global one. Both go to the fake.
const TWO_WEBHOOK_GROUPS: &str = r#"
[[group]]
name = "billing"
provider = "webhook"
webhook_url = "{webhook}"
webhook_secret_env = "BILLING_WEBHOOK_SECRET"
target = "billing-admins"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"

[[group]]
name = "reports"
provider = "webhook"
webhook_url = "{webhook}"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
"#;

fn signed_with(delivery: &fake_webhook::Delivery, secret: &str) -> bool {
    let expected = sign_webhook(
        secret,
        &delivery.header("x-jitbot-timestamp"),
        &delivery.body,
    );
    delivery.header("x-jitbot-signature") == expected
}

#[tokio::test]
async fn a_group_with_its_own_secret_signs_its_events_with_it_and_not_the_global_one() {
    let options = Options {
        webhook_secrets: &[("BILLING_WEBHOOK_SECRET", BILLING_SECRET)],
        ..Default::default()
    };
    let t = TestApp::spawn_with_options(TWO_WEBHOOK_GROUPS, options).await;

    let billing = t.alice_requests("request billing 1h month-end close").await;
    t.click("U0BOB", billing, "jit_approve").await;
    let granted_at = Utc::now();
    t.run_jobs_at(granted_at).await;
    assert_eq!(t.request(billing).await.status, RequestStatus::Active);
    t.run_jobs_at(granted_at + Duration::hours(1)).await;
    assert_eq!(t.request(billing).await.status, RequestStatus::Ended);

    let deliveries = t.webhook.deliveries();
    let actions: Vec<_> = deliveries
        .iter()
        .map(|d| d.json()["action"].clone())
        .collect();
    assert_eq!(actions, ["grant", "revoke"]);
    for delivery in &deliveries {
        assert_eq!(delivery.json()["group"], "billing");
        assert!(
            signed_with(delivery, BILLING_SECRET),
            "billing's own secret"
        );
        assert!(!signed_with(delivery, WEBHOOK_SECRET), "not the global one");
    }

    let reports = t
        .alice_requests("request reports 1h quarterly numbers")
        .await;
    t.click("U0BOB", reports, "jit_approve").await;
    t.run_jobs().await;
    let delivery = t.webhook.deliveries().pop().unwrap();
    assert_eq!(delivery.json()["group"], "reports");
    assert!(signed_with(&delivery, WEBHOOK_SECRET), "the global secret");
    assert!(!signed_with(&delivery, BILLING_SECRET));
}

#[tokio::test]
async fn a_redirecting_receiver_is_not_followed_and_the_grant_is_retried() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request billing 1h month-end close").await;
    t.webhook
        .redirect_next(&[307, 302], "/elsewhere/s3cr3t-path?token=s3cr3t-query");
    t.click("U0BOB", id, "jit_approve").await;

    let t0 = Utc::now() + Duration::seconds(1);
    t.run_jobs_at(t0).await;
    assert_eq!(t.webhook.deliveries().len(), 1);
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);
    let job = store::jobs::all(&t.app.core.db.read().unwrap())
        .unwrap()
        .into_iter()
        .find(|j| j.attempts > 0)
        .expect("the grant waits for a retry");
    let error = job.last_error.unwrap();
    assert!(
        error.contains("307") && error.contains("refused the redirect"),
        "{error}"
    );
    // Where it points, but not the path or query, which may carry a token.
    let receiver = t.webhook.url.trim_end_matches("/hook");
    assert!(
        error.contains(&format!("a redirect to {receiver})")),
        "{error}"
    );
    assert!(!error.contains("s3cr3t"), "{error}");

    t.run_jobs_at(t0 + Duration::seconds(3)).await;
    assert_eq!(t.webhook.deliveries().len(), 2, "retried");
    assert_eq!(t.request(id).await.status, RequestStatus::Approved);

    assert!(
        t.webhook.elsewhere().is_empty(),
        "the redirect target was contacted: {:?}",
        t.webhook.elsewhere()
    );

    t.run_jobs_at(t0 + Duration::seconds(8)).await;
    assert_eq!(t.webhook.deliveries().len(), 3);
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    assert!(t.webhook.elsewhere().is_empty());
}

fn jitbot(args: &[&str], env: &[(&str, &str)], unset: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitbot"));
    command
        .args(args)
        .env_remove("JITBOT_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in unset {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    // `serve` must fail at start; should it start instead, it is stopped rather than waited for.
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

fn config_file(dir: &tempfile::TempDir, groups: &str) -> String {
    let path = dir.path().join("jitbot.toml");
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://jitbot.db\"\n{groups}"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_group_with_webhook_http2_sends_its_events_over_http2_and_the_others_over_http1() {
    let groups = TWO_WEBHOOK_GROUPS.replace(
        "webhook_secret_env = \"BILLING_WEBHOOK_SECRET\"",
        "webhook_secret_env = \"BILLING_WEBHOOK_SECRET\"\nwebhook_http2 = true",
    );
    let options = Options {
        webhook_secrets: &[("BILLING_WEBHOOK_SECRET", BILLING_SECRET)],
        ..Default::default()
    };
    let t = TestApp::spawn_with_options(&groups, options).await;
    let billing = t.alice_requests("request billing 1h month-end close").await;
    let reports = t
        .alice_requests("request reports 1h quarterly numbers")
        .await;
    t.click("U0BOB", billing, "jit_approve").await;
    t.click("U0BOB", reports, "jit_approve").await;
    let granted_at = Utc::now();
    t.run_jobs_at(granted_at).await;
    t.run_jobs_at(granted_at + Duration::hours(1)).await;
    assert_eq!(t.request(billing).await.status, RequestStatus::Ended);
    assert_eq!(t.request(reports).await.status, RequestStatus::Ended);

    let sent: Vec<(String, String, reqwest::Version)> = t
        .webhook
        .deliveries()
        .iter()
        .map(|d| {
            let event = d.json();
            let (group, action) = (&event["group"], &event["action"]);
            (
                group.as_str().unwrap().into(),
                action.as_str().unwrap().into(),
                d.version,
            )
        })
        .collect();
    let over = |group: &str| -> Vec<(String, reqwest::Version)> {
        sent.iter()
            .filter(|(g, _, _)| g == group)
            .map(|(_, action, version)| (action.clone(), *version))
            .collect()
    };
    let (http1, http2) = (reqwest::Version::HTTP_11, reqwest::Version::HTTP_2);
    assert_eq!(
        over("billing"),
        [("grant".into(), http2), ("revoke".into(), http2)]
    );
    assert_eq!(
        over("reports"),
        [("grant".into(), http1), ("revoke".into(), http1)]
    );
    assert!(
        t.webhook
            .deliveries()
            .iter()
            .all(|d| signed_with(d, BILLING_SECRET) || signed_with(d, WEBHOOK_SECRET)),
        "signed as over HTTP/1.1"
    );
}

#[test]
fn webhook_http2_is_taken_by_webhooks_over_plain_http_only() {
    let dir = tempfile::tempdir().unwrap();
    let group = |provider: &str, url: Option<&str>| {
        let url = url
            .map(|url| format!("webhook_url = \"{url}\"\n"))
            .unwrap_or_default();
        format!(
            "[[group]]\nname = \"billing\"\nprovider = \"{provider}\"\n{url}webhook_http2 = true\n\
             owners = [\"bob@example.com\"]\n"
        )
    };
    let accepted = config_file(&dir, &group("webhook", Some("http://127.0.0.1:8080/hook")));
    let accepted = jitbot(&["check-config", "--config", &accepted], &[], &[]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    assert!(
        stdout(&accepted)
            .contains("billing: provider webhook (signed with JITBOT_WEBHOOK_SECRET, over HTTP/2)"),
        "{}",
        stdout(&accepted)
    );

    for (provider, url, says) in [
        (
            "webhook",
            Some("https://hooks.example.com/jitbot"),
            "webhook_http2: an https:// endpoint agrees on HTTP/2 in the TLS handshake",
        ),
        (
            "local",
            None,
            "webhook_http2: only the webhook provider takes webhook_http2",
        ),
    ] {
        let config = config_file(&dir, &group(provider, url));
        let refused = jitbot(&["check-config", "--config", &config], &[], &[]);
        assert!(!refused.status.success(), "{provider} {url:?}");
        let error = stderr(&refused);
        assert!(
            error.contains(&format!("[[group]] #1 `billing`, {says}")),
            "{error}"
        );
    }
}

#[test]
fn http_webhook_urls_are_refused_unless_they_stay_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let group = |url: &str| {
        format!(
            "[[group]]\nname = \"billing\"\nprovider = \"webhook\"\nwebhook_url = \"{url}\"\nowners = [\"bob@example.com\"]\n"
        )
    };

    let config = config_file(&dir, &group("http://example.com/hook"));
    let refused = jitbot(&["check-config", "--config", &config], &[], &[]);
    assert!(!refused.status.success());
    let error = stderr(&refused);
    assert!(
        error.contains("[[group]] #1 `billing`, webhook_url: `http://example.com/hook`")
            && error.contains("use https://"),
        "{error}"
    );

    for url in ["http://127.0.0.1:8080/hook", "http://localhost:8080/hook"] {
        let config = config_file(&dir, &group(url));
        let accepted = jitbot(&["check-config", "--config", &config], &[], &[]);
        assert!(accepted.status.success(), "{url}: {}", stderr(&accepted));
    }
}

#[test]
fn webhook_secret_env_is_taken_by_webhook_groups_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        &dir,
        "[[group]]\nname = \"billing\"\nprovider = \"webhook\"\nwebhook_url = \"https://hooks.example.com/jitbot\"\n\
         webhook_secret_env = \"BILLING_WEBHOOK_SECRET\"\nowners = [\"bob@example.com\"]\n",
    );
    let accepted = jitbot(&["check-config", "--config", &config], &[], &[]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    assert!(
        stdout(&accepted)
            .contains("billing: provider webhook (signed with BILLING_WEBHOOK_SECRET)"),
        "{}",
        stdout(&accepted)
    );

    let config = config_file(
        &dir,
        "[[group]]\nname = \"prod-db\"\nwebhook_secret_env = \"BILLING_WEBHOOK_SECRET\"\nowners = [\"bob@example.com\"]\n",
    );
    let refused = jitbot(&["check-config", "--config", &config], &[], &[]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(
            "[[group]] #1 `prod-db`, webhook_secret_env: only the webhook provider takes a webhook_secret_env"
        ),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn serve_does_not_start_without_each_webhook_groups_secret_and_names_it() {
    // A variable no other test or process uses: tests run in parallel.
    const OWN: &str = "JITBOT_TEST_WEBHOOK_SECRET_8C2E41";
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        &dir,
        &TWO_WEBHOOK_GROUPS
            .replace("{webhook}", "https://hooks.example.com/jitbot")
            .replace("BILLING_WEBHOOK_SECRET", OWN),
    );
    let serve = ["serve", "--config", config.as_str()];

    let neither = jitbot(&serve, &[], &[OWN, "JITBOT_WEBHOOK_SECRET"]);
    assert!(!neither.status.success());
    let error = stderr(&neither);
    assert!(
        error.contains(&format!(
            "the webhook group billing signs its events with the secret in {OWN}, which is not set"
        )) && error.contains(
            "the webhook group reports signs its events with the secret in JITBOT_WEBHOOK_SECRET"
        ),
        "{error}"
    );

    // billing's own variable is read from the environment; only the global one is missing now.
    let own_only = jitbot(&serve, &[(OWN, BILLING_SECRET)], &["JITBOT_WEBHOOK_SECRET"]);
    assert!(!own_only.status.success());
    let error = stderr(&own_only);
    assert!(
        error.contains("group reports") && !error.contains("group billing"),
        "{error}"
    );
    assert!(
        !error.contains(BILLING_SECRET),
        "the secret is never printed"
    );
}
