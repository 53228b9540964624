//! The `jitbot` command line: checking configs and inspecting requests and the audit trail.

mod common;

use std::process::{Command, Output};

use common::*;

fn jitbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitbot"))
        .args(args)
        .env_remove("JITBOT_CONFIG")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_example_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/jitbot.toml");
    let output = jitbot(&["check-config", "--config", path]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("prod-db: provider local, up to 8h (default 1h)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn check_config_explains_every_mistake_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot.toml");
    std::fs::write(
        &path,
        "[[group]]\nname = \"prod-db\"\nowners = [\"bob\"]\nmax_duration = \"2 weeks\"\n",
    )
    .unwrap();
    let output = jitbot(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(error.contains("2 mistake(s)"), "{error}");
    assert!(
        error.contains(
            "[[group]] #1 `prod-db`, owners: `bob` is neither an email address nor a Slack user id"
        ),
        "{error}"
    );
    assert!(
        error.contains("[[group]] #1 `prod-db`, max_duration: `2 weeks` is not a duration"),
        "{error}"
    );

    std::fs::write(
        &path,
        "[[group]]\nname = \"prod-db\"\nowners = [\"b@x.io\"]\nmax_duraton = \"2h\"\n",
    )
    .unwrap();
    let output = jitbot(&["check-config", "--config", path.to_str().unwrap()]);
    let error = stderr(&output);
    assert!(!output.status.success());
    assert!(
        error.contains("unknown field `max_duraton`") && error.contains("line 4"),
        "{error}"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let output = jitbot(&["check-config", "--config", "/nonexistent/jitbot.toml"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot read /nonexistent/jitbot.toml"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn requests_and_audit_show_what_happened_and_tampering_is_detected() {
    let t = TestApp::spawn().await;
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    let config = t.config_path();
    let config = config.to_str().unwrap();

    let output = jitbot(&["requests", "--config", config]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    assert!(
        listing.contains("active")
            && listing.contains("prod-db")
            && listing.contains("alice@example.com"),
        "{listing}"
    );
    assert!(listing.contains("fixing INC-4711"), "{listing}");
    let none = stdout(&jitbot(&[
        "requests", "--config", config, "--status", "denied",
    ]));
    assert!(!none.contains("prod-db"), "{none}");
    let bad = jitbot(&["requests", "--config", config, "--status", "bogus"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unknown request status `bogus`"));

    let audit = stdout(&jitbot(&["audit", "--config", config, "--request", "1"]));
    for action in ["requested", "approved", "granted"] {
        assert!(audit.contains(action), "{audit}");
    }
    assert!(audit.contains("slack:U0BOB"), "{audit}");
    let verified = jitbot(&["audit", "--config", config, "--verify"]);
    assert!(verified.status.success());
    assert!(
        stdout(&verified).contains("intact: 4 event(s)"),
        "{}",
        stdout(&verified)
    );

    sqlx::query("UPDATE audit_events SET actor = 'slack:U0MALLORY' WHERE action = 'approved'")
        .execute(&t.app.db)
        .await
        .unwrap();
    let tampered = jitbot(&["audit", "--config", config, "--verify"]);
    assert!(!tampered.status.success());
    assert!(
        stderr(&tampered).contains("audit trail broken at event 3"),
        "{}",
        stderr(&tampered)
    );
}
