//! The `jitbot` command line: checking configs and inspecting requests and the audit trail.

use std::process::{Command, Output};

use crate::common::*;

mod audit_export;
mod audit_key;
mod trail;

pub(crate) fn jitbot(args: &[&str]) -> Output {
    jitbot_with(args, &[])
}

/// `jitbot` with these variables set, and no others of jitbot's from the surrounding environment.
pub(crate) fn jitbot_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitbot"))
        .args(args)
        .env_remove("JITBOT_CONFIG")
        .env_remove("JITBOT_AUDIT_KEY")
        .env_remove("JITBOT_LOG_FORMAT")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
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
    let file = path.display();
    assert!(
        error.contains(&format!(
            "{file}:3: [[group]] #1 `prod-db`, owners: `bob` is neither an email address nor a Slack user id"
        )),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "{file}:4: [[group]] #1 `prod-db`, max_duration: `2 weeks` is not a duration"
        )),
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
        error.contains(&format!("{file}:4: unknown field `max_duraton`")),
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

    execute(
        &t.app.core.db,
        "UPDATE audit_events SET actor = 'slack:U0MALLORY' WHERE action = 'approved'",
        [],
    )
    .await;
    let tampered = jitbot(&["audit", "--config", config, "--verify"]);
    assert!(!tampered.status.success());
    assert!(
        stderr(&tampered).contains("audit trail broken at event 3"),
        "{}",
        stderr(&tampered)
    );
}

/// alice's prod-db request, confirmed, approved, granted and ended: six audit events; returns the
/// config.
async fn a_request_that_ran_its_course(t: &TestApp) -> String {
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    t.click("U0BOB", id, "jit_approve").await;
    t.run_jobs().await;
    let expires_at = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(expires_at).await;
    assert_eq!(t.count("audit_events").await, 6);
    t.config_path().to_str().unwrap().to_string()
}

#[tokio::test]
async fn an_intact_trail_prints_its_head_to_be_recorded_elsewhere() {
    let t = TestApp::spawn().await;
    let config = t.config_path().to_str().unwrap().to_string();
    let empty = jitbot(&["audit", "--config", &config, "--verify"]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(
        stdout(&empty).contains("intact: 0 event(s)") && stdout(&empty).contains("head: none yet"),
        "{}",
        stdout(&empty)
    );

    let config = a_request_that_ran_its_course(&t).await;
    let last: (i64, String) = t
        .app
        .core
        .db
        .read()
        .unwrap()
        .query_row(
            "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let verified = jitbot(&["audit", "--config", &config, "--verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    let out = stdout(&verified);
    assert!(out.contains("audit trail intact: 6 event(s)"), "{out}");
    assert!(
        out.contains(&format!("head: event {} sha256 {}\n", last.0, last.1)),
        "{out}"
    );
    assert!(out.contains("Record this head outside jitbot"), "{out}");
}

#[tokio::test]
async fn deleting_the_last_audit_events_is_detected_and_named() {
    let t = TestApp::spawn().await;
    let config = a_request_that_ran_its_course(&t).await;

    // Events cut from the end leave a chain whose every link still matches.
    execute(&t.app.core.db, "DELETE FROM audit_events WHERE id > 4", []).await;
    let cut = jitbot(&["audit", "--config", &config, "--verify"]);
    assert!(!cut.status.success());
    assert!(
        stderr(&cut).contains("the last 2 events (ids 5–6) are missing"),
        "{}",
        stderr(&cut)
    );
    assert!(
        !stdout(&cut).contains("intact") && !stdout(&cut).contains("head:"),
        "{}",
        stdout(&cut)
    );

    execute(&t.app.core.db, "DELETE FROM audit_events WHERE id = 2", []).await;
    let holed = stderr(&jitbot(&["audit", "--config", &config, "--verify"]));
    assert!(holed.contains("event 2 is missing"), "{holed}");
    assert!(holed.contains("audit trail broken at event 3"), "{holed}");

    execute(&t.app.core.db, "DELETE FROM audit_events", []).await;
    let emptied = jitbot(&["audit", "--config", &config, "--verify"]);
    assert!(!emptied.status.success());
    assert!(
        stderr(&emptied).contains("the last 6 events (ids 1–6) are missing"),
        "{}",
        stderr(&emptied)
    );
}

#[tokio::test]
async fn the_granted_and_revoked_events_name_the_account_that_was_changed() {
    let t = TestApp::spawn().await;
    let config = a_request_that_ran_its_course(&t).await;

    let audit = stdout(&jitbot(&["audit", "--config", &config, "--request", "1"]));
    for action in ["granted", "revoked"] {
        let line = audit
            .lines()
            .find(|l| l.contains(&format!(" {action} ")))
            .unwrap_or_else(|| panic!("no {action} in {audit}"));
        // The directory knows alice, so her Entra object id is named too.
        let account = format!(
            r#""account":{{"directory_id":"{}","member":"alice@example.com"}}"#,
            crate::common::fake_graph::directory_id("alice@example.com")
        );
        assert!(line.contains(&account), "{line}");
    }
}

#[test]
fn an_unknown_log_format_is_refused_at_start() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/jitbot.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_jitbot"))
        .args(["check-config", "--config", path])
        .env("JITBOT_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("JITBOT_LOG_FORMAT=\"yaml\" is not a log format"),
        "{}",
        stderr(&output)
    );
}

/// `serve` with `JITBOT_LOG_FORMAT=json` writes one JSON object a line: a log pipeline reads the
/// startup line without any parsing rules of its own.
#[test]
fn json_logs_are_one_object_a_line() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/jitbot.toml")).unwrap();
    let database = dir.path().join("jitbot.db");
    let config = example
        .replace("listen = \"127.0.0.1:3978\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "database_url = \"sqlite://jitbot.db\"",
            &format!("database_url = \"sqlite://{}\"", database.display()),
        );
    assert_ne!(
        config, example,
        "the example config no longer has the lines this test edits"
    );
    let path = dir.path().join("jitbot.toml");
    std::fs::write(&path, config).unwrap();

    let mut command = Command::new(env!("CARGO_BIN_EXE_jitbot"));
    command
        .args(["serve", "--config", path.to_str().unwrap()])
        .env("JITBOT_LOG_FORMAT", "json")
        .env_remove("JITBOT_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for secret in [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "MICROSOFT_APP_ID",
        "MICROSOFT_APP_PASSWORD",
        "MICROSOFT_APP_TENANT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
    ] {
        command.env_remove(secret);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let listening = loop {
        match received.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(line) if line.contains("jitbot is listening") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let line = listening.unwrap_or_else(|| panic!("no startup line; stderr was:\n{seen:#?}"));
    let object: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(object["fields"]["message"], "jitbot is listening", "{line}");
    assert_eq!(object["level"], "INFO", "{line}");
    assert!(object["timestamp"].is_string(), "{line}");
    // Every line before it is JSON too: no stray text line for a pipeline to trip on.
    for line in seen {
        serde_json::from_str::<serde_json::Value>(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}

/// The config shipped in deploy/kubernetes.yaml's ConfigMap must load: a deployment that starts
/// from it should not fail on its first line.
#[test]
fn the_kubernetes_config_is_valid_and_listens_beyond_loopback() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/kubernetes.yaml"
    ))
    .unwrap();
    // The block scalar under `jitbot.toml: |`, without a YAML parser: its lines are indented
    // deeper than the key.
    let mut lines = manifest
        .lines()
        .skip_while(|l| l.trim() != "jitbot.toml: |");
    let key = lines.next().expect("no jitbot.toml in the ConfigMap");
    let key_indent = key.len() - key.trim_start().len();
    let block: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent)
        .collect();
    let indent = block
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap();
    let config: String = block
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot.toml");
    std::fs::write(&path, config).unwrap();
    let output = jitbot(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("listening on 0.0.0.0:3978"),
        "{}",
        stdout(&output)
    );
}
