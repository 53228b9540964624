//! Reloading the policy (SIGHUP): a broken file keeps the old policy, a new group becomes
//! requestable, and requests in flight keep the provider and target they were made under.

use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use crate::common::*;
use chrono::Duration;
use jitbot::domain::RequestStatus;
use jitbot::reload::{ReloadError, Reloaded};

/// A group that the default ones do not have.
const STAGING: &str = r#"
[[group]]
name = "staging"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
"#;

/// Rewrites the test app's config file with these groups (its other settings unchanged) and
/// reloads it as SIGHUP does.
async fn reload_groups(t: &TestApp, groups: &str) -> Result<Reloaded, ReloadError> {
    let path = t.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let settings = &text[..text.find("[[group]]").unwrap_or(text.len())];
    let groups = groups.replace("{webhook}", &t.webhook.url);
    std::fs::write(&path, format!("{settings}{groups}")).unwrap();
    t.app.reload(&path).await
}

async fn reloads_audited(t: &TestApp) -> Vec<serde_json::Value> {
    query_column::<String>(
        &t.app.core.db,
        "SELECT detail FROM audit_events WHERE action = 'policy_reloaded' ORDER BY id",
        [],
    )
    .iter()
    .map(|detail| serde_json::from_str(detail).unwrap())
    .collect()
}

#[tokio::test]
async fn a_broken_policy_is_refused_with_its_places_and_the_old_one_stays() {
    let t = TestApp::spawn().await;
    // prod-db would allow 2 days, and staging would be new — but the file has two mistakes.
    let broken = DEFAULT_GROUPS.replace("max_duration = \"8h\"", "max_duration = \"2d\"")
        + STAGING
        + "warn_before = \"soon\"\n";
    let error = reload_groups(&t, &broken).await.unwrap_err().to_string();
    assert!(error.contains("warn_before"), "{error}");
    assert!(
        error.contains("jitbot.toml:") && error.contains("`staging`"),
        "names the file, the line and the group: {error}"
    );
    assert!(reloads_audited(&t).await.is_empty(), "nothing was reloaded");

    // The old rules still hold: prod-db up to 8h, no staging.
    let reply = t.say("U0ALICE", "request prod-db 2d long migration").await;
    assert!(reply.contains("at most 8h"), "{reply}");
    let reply = t.say("U0ALICE", "request staging 1h testing").await;
    assert!(reply.contains("no group called `staging`"), "{reply}");
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn a_group_added_by_a_reload_can_be_requested_and_the_reload_is_audited() {
    let t = TestApp::spawn().await;
    let reloaded = reload_groups(&t, &format!("{DEFAULT_GROUPS}{STAGING}"))
        .await
        .unwrap();
    assert_eq!(reloaded.groups, 4);

    let id = t
        .alice_requests("request staging 1h testing the release")
        .await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    assert_eq!(t.local_members("staging").await, ["alice@example.com"]);

    let audited = reloads_audited(&t).await;
    assert_eq!(audited.len(), 1);
    let file = std::fs::read(t.config_path()).unwrap();
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&file))
    };
    assert_eq!(audited[0]["sha256"], sha256);
    assert_eq!(audited[0]["added"], serde_json::json!(["staging"]));
}

#[tokio::test]
async fn a_group_removed_while_its_access_is_active_is_still_revoked_at_its_target() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request billing 1h month-end close").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);

    // billing leaves the file while alice holds it.
    let without_billing = &DEFAULT_GROUPS[..DEFAULT_GROUPS
        .find("[[group]]\nname = \"billing\"")
        .unwrap()];
    reload_groups(&t, without_billing).await.unwrap();
    assert_eq!(
        reloads_audited(&t).await[0]["removed"],
        serde_json::json!(["billing"])
    );

    let end = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(end + Duration::seconds(1)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    let revoke = t.webhook.deliveries().pop().unwrap().json();
    assert_eq!(revoke["action"], "revoke");
    assert_eq!(revoke["target"], "billing-admins", "the snapshotted target");
    assert!(t.audit_actions(id).await.contains(&"revoked".to_string()));
}

#[tokio::test]
async fn a_group_retargeted_by_a_reload_is_revoked_where_it_was_granted() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    assert_eq!(
        t.local_members("prod-db-writers").await,
        ["alice@example.com"]
    );

    let retargeted = DEFAULT_GROUPS.replace("prod-db-writers", "prod-db-admins");
    reload_groups(&t, &retargeted).await.unwrap();
    let end = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(end + Duration::seconds(1)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    assert!(
        t.local_members("prod-db-writers").await.is_empty(),
        "removed where granted"
    );
}

/// Alice asks for billing, the policy is reloaded with `groups`, and Bob (its owner before) clicks
/// Approve: refused with `refusal`, nothing granted.
async fn approval_after_reload_is_refused(groups: &str, refusal: &str) {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request billing 1h month-end close").await;
    reload_groups(&t, groups).await.unwrap();

    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.slack.wait_for("respond", 1).await;
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Pending);
    assert!(t.webhook.deliveries().is_empty(), "nothing was granted");
    let replies = t.private_replies();
    assert!(replies.iter().any(|r| r.contains(refusal)), "{replies:?}");
}

#[tokio::test]
async fn approving_a_request_whose_group_was_removed_is_refused_clearly() {
    let without_billing = &DEFAULT_GROUPS[..DEFAULT_GROUPS
        .find("[[group]]\nname = \"billing\"")
        .unwrap()];
    approval_after_reload_is_refused(without_billing, "no longer in jitbot's configuration").await;
}

#[tokio::test]
async fn approving_a_request_whose_group_was_retargeted_is_refused_clearly() {
    // The group now grants another target: its owners must not approve the old one.
    let retargeted = DEFAULT_GROUPS.replace(
        "target = \"billing-admins\"",
        "target = \"billing-admins-eu\"",
    );
    approval_after_reload_is_refused(&retargeted, "granted something else than it does now").await;
}

#[tokio::test]
async fn a_reload_that_needs_a_secret_not_read_at_start_keeps_the_old_policy() {
    let t = TestApp::spawn().await;
    let with_new_secret = DEFAULT_GROUPS.replace(
        "target = \"billing-admins\"",
        "target = \"billing-admins\"\nwebhook_secret_env = \"NEW_BILLING_SECRET\"",
    );
    let error = reload_groups(&t, &with_new_secret).await.unwrap_err();
    assert!(matches!(error, ReloadError::NeedsRestart { .. }), "{error}");
    assert!(error.to_string().contains("NEW_BILLING_SECRET"), "{error}");
    assert!(reloads_audited(&t).await.is_empty());
}

/// A free port on 127.0.0.1 for a `jitbot serve` process.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < StdDuration::from_secs(20),
            "waited in vain for {what}"
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_a_running_jitbot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jitbot.toml");
    let log = dir.path().join("jitbot.log");
    let port = free_port();
    let settings = format!("listen = \"127.0.0.1:{port}\"\n");
    let group = "[[group]]\nname = \"prod-db\"\nowners = [\"bob@example.com\"]\n";
    std::fs::write(&config, format!("{settings}{group}")).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_jitbot"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_remove("JITBOT_CONFIG")
        .env_remove("JITBOT_LOG_FORMAT")
        .env("RUST_LOG", "jitbot=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let logged = |text: &str| std::fs::read_to_string(&log).unwrap().contains(text);
    wait_for("jitbot to listen", || logged("jitbot is listening"));

    std::fs::write(&config, format!("{settings}{group}{STAGING}")).unwrap();
    let hangup = |pid: u32| {
        let sent = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status();
        assert!(sent.unwrap().success());
    };
    hangup(serve.id());
    wait_for("the reload", || logged("the policy was reloaded"));

    // A broken file is logged with its place, and jitbot keeps running on the old policy.
    std::fs::write(&config, format!("{settings}{group}max_duration = 8\n")).unwrap();
    hangup(serve.id());
    wait_for("the refusal", || logged("was not reloaded"));
    assert!(serve.try_wait().unwrap().is_none(), "jitbot still runs");
    serve.kill().unwrap();
    serve.wait().unwrap();
    std::fs::write(&config, format!("{settings}{group}")).unwrap();

    let audit = Command::new(env!("CARGO_BIN_EXE_jitbot"))
        .args(["audit", "--config", config.to_str().unwrap()])
        .env_remove("JITBOT_AUDIT_KEY")
        .output()
        .unwrap();
    let trail = String::from_utf8_lossy(&audit.stdout);
    assert_eq!(trail.matches("policy_reloaded").count(), 1, "{trail}");
}

#[tokio::test]
async fn requests_made_before_snapshots_take_their_target_from_the_policy_at_start() {
    let t = TestApp::spawn().await;
    let first = t.alice_requests("request prod-db 1h fixing INC-4711").await;
    // The next id far on: start-up fills the table 10 000 ids at a time, and must reach it.
    execute(
        &t.app.core.db,
        "UPDATE sqlite_sequence SET seq = 25000 WHERE name = 'requests'",
        [],
    )
    .await;
    let far = t.alice_requests("request billing 1h fixing INC-4712").await;
    assert!(far > 25000, "{far}");
    for id in [first, far] {
        // As a row written before migration 0010 looks.
        execute(
            &t.app.core.db,
            "UPDATE requests SET provider = NULL, provider_target = NULL WHERE id = ?",
            [id],
        )
        .await;
    }
    let t = t.restart(false).await;
    for (id, target, provider) in [
        (first, "prod-db-writers", "local"),
        (far, "billing-admins", "webhook"),
    ] {
        let snapshot = t.request(id).await.grant_target.expect("filled at start");
        assert_eq!(snapshot.target, target);
        assert_eq!(snapshot.provider.name(), provider);
    }
}

const FINANCE: &str = "5f5f5f5f-6a6a-4b7b-8c8c-9d9d9d9d9d9d";

/// Two groups granting membership of one Entra group, which the sweep keeps clean.
const SHARED_TARGET: &str = r#"
[[group]]
name = "finance"
provider = "entra-group"
target = "5f5f5f5f-6a6a-4b7b-8c8c-9d9d9d9d9d9d"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
sweep = "remove"

[[group]]
name = "finance-incident"
provider = "entra-group"
target = "5f5f5f5f-6a6a-4b7b-8c8c-9d9d9d9d9d9d"
owners = ["bob@example.com"]
approval_channel = "C0APPROVALS"
sweep = "remove"
"#;

#[tokio::test]
async fn the_sweep_leaves_alone_a_member_whose_group_a_reload_removed_and_expiry_removes_them() {
    let t = TestApp::spawn_with(SHARED_TARGET, false).await;
    t.graph.add_group(FINANCE, "Finance", &[]);
    let alice = fake_graph::directory_id("alice@example.com");
    let id = t
        .alice_requests("request finance-incident 1h closing the books")
        .await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    assert_eq!(t.graph.members(FINANCE), [alice]);

    // finance-incident leaves the file; the reload starts the sweep of finance's target.
    let only_finance = &SHARED_TARGET[..SHARED_TARGET.rfind("[[group]]").unwrap()];
    reload_groups(&t, only_finance).await.unwrap();
    t.run_jobs().await;
    assert_eq!(
        t.graph.members(FINANCE),
        [alice],
        "alice's grant still holds it"
    );
    assert!(t.graph.calls_to("DELETE", "members").is_empty());

    let end = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(end + Duration::seconds(1)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    assert!(t.graph.members(FINANCE).is_empty(), "removed at its end");
}
