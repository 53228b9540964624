//! The audit trail in its own file (`audit_database_url`) and retention (`audit_retention`):
//! the lifecycle recorded only there, a crash between the two files repaired at start, one
//! linear chain under concurrency, and purges that keep the rest verifiable.

use chrono::{Duration, Utc};
use jitbot::access::Trail;
use jitbot::access::audit_trail::check_pairing;
use jitbot::domain::RequestStatus;
use jitbot::store::{self, Db, OptionalExtension, audit};

use crate::cli::{jitbot, jitbot_with, stderr, stdout};
use crate::common::*;

async fn apart(retention: Option<&'static str>) -> TestApp {
    let options = Options {
        audit_apart: true,
        audit_retention: retention,
        ..Options::default()
    };
    TestApp::spawn_with_options(DEFAULT_GROUPS, options).await
}

/// The audit database: tests read it and tamper with it.
fn trail(t: &TestApp) -> &Db {
    t.app.core.trail.db()
}

/// An event as the outbox holds it: event id, time, request, actor, action, platform, channel,
/// detail.
type OutboxRow = (
    String,
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
);

/// Every event of the trail as (id, action, hash, event id).
async fn chain(db: &Db) -> Vec<(i64, String, String, String)> {
    let reader = db.read().unwrap();
    let mut statement = reader
        .prepare("SELECT id, action, hash, event_uid FROM audit_events ORDER BY id")
        .unwrap();
    statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// `audit verify` passes, and its report says `said`.
fn assert_verifies_saying(t: &TestApp, said: &str) {
    let verified = verify(t);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(stdout(&verified).contains(said), "{}", stdout(&verified));
}

fn verify(t: &TestApp) -> std::process::Output {
    jitbot(&[
        "audit",
        "verify",
        "--config",
        t.config_path().to_str().unwrap(),
    ])
}

/// alice's prod-db request approved by bob and granted; returns its id.
async fn approved_and_granted(t: &TestApp) -> i64 {
    let id = t.alice_requests("request prod-db 2h fixing INC-4711").await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);
    id
}

#[tokio::test]
async fn with_an_audit_database_the_lifecycle_is_recorded_only_there() {
    let t = apart(None).await;
    let id = approved_and_granted(&t).await;
    let expires_at = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(expires_at + Duration::seconds(1)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);

    assert_eq!(
        t.audit_actions(id).await,
        [
            "requested",
            "requester_confirmed",
            "approved",
            "granted",
            "expiring",
            "revoked"
        ]
    );
    assert!(t.dir.path().join("audit.db").exists());
    assert_eq!(
        t.count("audit_events").await,
        0,
        "the main file holds no event"
    );
    assert_eq!(t.count("audit_outbox").await, 0, "every event was moved");
    assert_eq!(count_in(trail(&t), "requests"), 0);
    assert_eq!(
        audit::verify(&trail(&t).read().unwrap()).unwrap(),
        audit::ChainCheck::Intact { events: 6 }
    );

    let config = t.config_path();
    let config = config.to_str().unwrap();
    assert_verifies_saying(&t, "audit trail intact: 6 event(s)");
    let export = jitbot(&["audit", "export", "--format", "jsonl", "--config", config]);
    assert!(export.status.success(), "{}", stderr(&export));
    let lines: Vec<String> = stdout(&export).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines[3].contains("\"action\":\"granted\""), "{}", lines[3]);
    let listing = stdout(&jitbot(&["audit", "--config", config, "--request", "1"]));
    assert!(listing.contains("revoked"), "{listing}");
}

#[tokio::test]
async fn a_crash_between_the_two_files_is_repaired_at_start_with_nothing_lost_or_doubled() {
    let t = apart(None).await;
    approved_and_granted(&t).await;
    let before = chain(trail(&t)).await;
    assert_eq!(before.len(), 4);

    // The state jitbot would be in after two crashes: event 2 was moved but not yet removed
    // from the outbox, and the audit file's last commit (events 3 and 4) never reached the disk
    // while the main file's outbox still held them.
    let moved: Vec<OutboxRow> = {
        let reader = trail(&t).read().unwrap();
        let mut statement = reader
            .prepare(
                "SELECT event_uid, at, request_id, actor, action, platform, channel, detail \
                 FROM audit_events WHERE id >= 2 ORDER BY id",
            )
            .unwrap();
        statement
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    for row in moved {
        execute(
            &t.app.core.db,
            "INSERT INTO audit_outbox (event_uid, at, request_id, actor, action, platform, channel, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        .await;
    }
    execute(trail(&t), "DELETE FROM audit_events WHERE id >= 3", []).await;
    execute(
        trail(&t),
        "UPDATE sqlite_sequence SET seq = 2 WHERE name = 'audit_events'",
        [],
    )
    .await;
    let cut = verify(&t);
    assert!(
        stdout(&cut).contains("3 event(s) wait in the main database's outbox"),
        "{}",
        stdout(&cut)
    );

    let t = t.restart(false).await;
    let after = chain(trail(&t)).await;
    assert_eq!(after[..4], before[..], "the same events, ids and hashes");
    assert_eq!(after.len(), 5, "nothing doubled: {after:?}");
    assert_eq!(after[4].1, "audit_moved_at_start");
    let detail: String = query_one(
        trail(&t),
        "SELECT detail FROM audit_events WHERE id = 5",
        [],
    );
    assert_eq!(detail, r#"{"already_there":1,"moved":2}"#);
    assert_eq!(t.count("audit_outbox").await, 0);
    assert_eq!(t.count("audit_events").await, 0);
    let verified = verify(&t);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        !stdout(&verified).contains("outbox"),
        "{}",
        stdout(&verified)
    );
}

#[tokio::test]
async fn concurrent_changes_keep_one_linear_chain() {
    let t = apart(None).await;
    // Six people ask at once, through Slack.
    let (a, b, c, d, e, f) = tokio::join!(
        t.say("U0ALICE", "request prod-db 1h one"),
        t.say("U0BOB", "request payroll 1h two"),
        t.say("U0CAROL", "request billing 1h three"),
        t.say("U0DAVE", "request prod-db 1h four"),
        t.say("U0ERIN", "request payroll 1h five"),
        t.say("U0ALICE", "request billing 1h six"),
    );
    for reply in [a, b, c, d, e, f] {
        assert!(reply.contains("Request #"), "{reply}");
    }
    // And jobs record more while the core appends from many tasks at once.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let core = t.app.core.clone();
        tasks.spawn(async move {
            let event = audit::NewEvent::by_jitbot(
                None,
                jitbot::domain::AuditAction::SweepFound,
                serde_json::json!({ "n": n }),
                Utc::now(),
            );
            core.write(|tx| audit::append(tx, event)).await.unwrap();
        });
    }
    t.run_jobs().await;
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let events = chain(trail(&t)).await;
    assert_eq!(
        events.len(),
        6 + 6 + 20,
        "six requests, six checks, 20 appends"
    );
    let ids: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(ids, (1..=32).collect::<Vec<_>>());
    let check = audit::check_trail(&trail(&t).read().unwrap(), None).unwrap();
    assert!(check.is_intact(), "{check:?}");
    assert_eq!(t.count("audit_outbox").await, 0);
}

#[tokio::test]
async fn retention_purges_only_old_events_and_the_rest_still_verifies() {
    let t = apart(Some("30d")).await;
    let id = approved_and_granted(&t).await;
    let expires_at = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(expires_at + Duration::seconds(1)).await;
    assert_eq!(chain(trail(&t)).await.len(), 6);

    // Thirty days and an hour later, the request's first four events are old; its end is not.
    jitbot::access::audit_retention::schedule(&t.app.core, Utc::now())
        .await
        .unwrap();
    let purged_at = Utc::now() + Duration::days(30) + Duration::hours(1);
    t.run_jobs_at(purged_at).await;
    let left = chain(trail(&t)).await;
    let actions: Vec<&str> = left.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(actions, ["expiring", "revoked", "audit_purged"]);
    assert_eq!(left[0].0, 5);
    // History is kept: the request itself stays.
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);

    assert_verifies_saying(&t, "events 1–4 were purged");
    // A second purge finds nothing more that is old.
    jitbot::access::audit_retention::run(&t.app.core, purged_at + Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(chain(trail(&t)).await.len(), 3);

    // Tampering after a purge is still detected: an edit …
    execute(
        trail(&t),
        "UPDATE audit_events SET actor = 'slack:U0MALLORY' WHERE id = 6",
        [],
    )
    .await;
    let edited = verify(&t);
    assert!(!edited.status.success());
    assert!(
        stderr(&edited).contains("audit trail broken at event 6"),
        "{}",
        stderr(&edited)
    );
    execute(
        trail(&t),
        "UPDATE audit_events SET actor = 'jitbot' WHERE id = 6",
        [],
    )
    .await;
    assert!(verify(&t).status.success());
    // … and removing more than the purge recorded.
    execute(trail(&t), "DELETE FROM audit_events WHERE id = 5", []).await;
    let removed = verify(&t);
    assert!(!removed.status.success());
    assert!(
        stderr(&removed).contains("event 5 is missing")
            || stderr(&removed).contains("broken at event 6"),
        "{}",
        stderr(&removed)
    );
}

/// A purge removes at most as many events as it is given, so a long trail is purged over several
/// transactions; after each the trail verifies, starting after the last event removed.
#[tokio::test]
async fn a_purge_of_more_than_its_limit_takes_several_transactions_each_leaving_a_whole_chain() {
    let t = apart(Some("30d")).await;
    let expires_at = granted_and_ended(&t).await;
    assert_eq!(chain(trail(&t)).await.len(), 6);
    // The first four events are older than this; the last two are not.
    let before = expires_at - Duration::milliseconds(1);
    let purge = || {
        store::write(trail(&t), move |tx| {
            store::audit_purge::purge(tx, before, None, 3, Utc::now())
        })
    };

    let first = purge()
        .await
        .unwrap()
        .expect("three of the four old events");
    assert_eq!((first.events, first.up_to), (3, 3));
    let intact = audit::check_trail(&trail(&t).read().unwrap(), None).unwrap();
    assert!(intact.is_intact(), "{intact:?}");
    let second = purge().await.unwrap().expect("the fourth");
    assert_eq!((second.events, second.up_to), (1, 4));
    assert_eq!(purge().await.unwrap(), None, "nothing old is left");

    let left = chain(trail(&t)).await;
    let actions: Vec<&str> = left.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        actions,
        ["expiring", "revoked", "audit_purged", "audit_purged"]
    );
    assert_verifies_saying(&t, "events 1–4 were purged");
}

/// alice's request, granted and ended at expiry: six events.
/// Returns when it expired.
async fn granted_and_ended(t: &TestApp) -> chrono::DateTime<Utc> {
    let id = approved_and_granted(t).await;
    let expires_at = t.request(id).await.expires_at.unwrap();
    t.run_jobs_at(expires_at + Duration::seconds(1)).await;
    assert_eq!(t.request(id).await.status, RequestStatus::Ended);
    expires_at
}

#[tokio::test]
async fn without_retention_nothing_is_purged() {
    let t = TestApp::spawn().await;
    granted_and_ended(&t).await;
    jitbot::access::audit_retention::schedule(&t.app.core, Utc::now())
        .await
        .unwrap();
    t.run_jobs_at(Utc::now() + Duration::days(3650)).await;
    assert_eq!(t.count("audit_events").await, 6);
}

#[tokio::test]
async fn retention_in_one_file_keeps_the_chain_verifiable() {
    let options = Options {
        audit_retention: Some("400d"),
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
    granted_and_ended(&t).await;
    jitbot::access::audit_retention::schedule(&t.app.core, Utc::now())
        .await
        .unwrap();
    t.run_jobs_at(Utc::now() + Duration::days(401)).await;
    let left = chain(&t.app.core.db).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, "audit_purged");
    let verified = verify(&t);
    assert!(verified.status.success(), "{}", stderr(&verified));
}

#[tokio::test]
async fn a_trail_kept_apart_is_not_silently_split_by_dropping_the_key() {
    let t = apart(None).await;
    approved_and_granted(&t).await;
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    let without = t.dir.path().join("without-audit-db.toml");
    std::fs::write(
        &without,
        config.replace("audit_database_url = \"sqlite://audit.db\"\n", ""),
    )
    .unwrap();
    let refused = jitbot_with(
        &["serve", "--config", without.to_str().unwrap()],
        &[("JITBOT_WEBHOOK_SECRET", WEBHOOK_SECRET)],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("set audit_database_url to that database again"),
        "{}",
        stderr(&refused)
    );
    let verify = jitbot(&["audit", "verify", "--config", without.to_str().unwrap()]);
    assert!(!verify.status.success(), "{}", stdout(&verify));
    assert!(
        stderr(&verify).contains("set audit_database_url to that database"),
        "{}",
        stderr(&verify)
    );
}

#[tokio::test]
async fn a_deleted_or_swapped_audit_file_is_refused_not_started_afresh() {
    let t = apart(None).await;
    approved_and_granted(&t).await;
    // A fresh file where the trail was (deleted and recreated, or another file put in place)
    // would verify as an intact, empty chain.
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    let swapped = t.dir.path().join("swapped-audit-db.toml");
    std::fs::write(
        &swapped,
        config.replace("sqlite://audit.db", "sqlite://fresh-audit.db"),
    )
    .unwrap();
    let refused = jitbot_with(
        &["serve", "--config", swapped.to_str().unwrap()],
        &[("JITBOT_WEBHOOK_SECRET", WEBHOOK_SECRET)],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("is not the one this database's audit trail was kept in"),
        "{}",
        stderr(&refused)
    );
    let verify = jitbot(&["audit", "verify", "--config", swapped.to_str().unwrap()]);
    assert!(!verify.status.success(), "{}", stdout(&verify));
    assert!(
        stderr(&verify).contains("is not the one this database's audit trail was kept in"),
        "{}",
        stderr(&verify)
    );
    // The real file still verifies.
    let verify = jitbot(&[
        "audit",
        "verify",
        "--config",
        t.config_path().to_str().unwrap(),
    ]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn check_config_names_the_audit_keys_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot.toml");
    std::fs::write(
        &path,
        "audit_database_url = \"sqlite://jitbot.db\"\naudit_retention = \"30m\"\n\
         [[group]]\nname = \"prod-db\"\nowners = [\"bob@example.com\"]\n",
    )
    .unwrap();
    let output = jitbot(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("audit_database_url: `sqlite://jitbot.db` is the main database itself"),
        "{error}"
    );
    assert!(
        error.contains("audit_retention: `30m` is shorter than the minimum of 30 days"),
        "{error}"
    );

    std::fs::write(
        &path,
        "audit_database_url = \"sqlite://audit.db\"\naudit_retention = \"400d\"\n\
         [[group]]\nname = \"prod-db\"\nowners = [\"bob@example.com\"]\n",
    )
    .unwrap();
    let output = jitbot(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("audit trail: apart in sqlite://")
            && stdout(&output).contains("events purged after 400 days"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn the_collector_gets_the_events_from_the_audit_file() {
    let options = Options {
        scheduler: true,
        audit_webhook: true,
        audit_apart: true,
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
    let id = t.alice_requests("request prod-db 1h fixing INC-4711").await;
    t.wait_until_confirmed(id).await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.wait_for_status(id, RequestStatus::Active).await;
    // requested, requester_confirmed, approved, granted: the grant's event is moved right after
    // its commit, which the status shows a moment before.
    let mut events = Vec::new();
    let mut sent: Vec<serde_json::Value> = Vec::new();
    for _ in 0..500 {
        events = chain(trail(&t)).await;
        sent = t
            .webhook
            .deliveries()
            .iter()
            .map(|delivery| delivery.json())
            .filter(|event| event.get("event_id").is_some())
            .collect();
        if events.len() == 4 && sent.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let hashes: Vec<&str> = sent.iter().map(|e| e["hash"].as_str().unwrap()).collect();
    let chained: Vec<&str> = events.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(hashes, chained, "every event of the audit file, in order");
    // The forwarder moves its cursor right after the collector answers.
    let mut cursor = String::new();
    for _ in 0..500 {
        cursor = trail(&t)
            .read()
            .unwrap()
            .query_row(
                "SELECT value FROM settings WHERE key = 'audit_forwarded_up_to'",
                [],
                |row| row.get(0),
            )
            .optional()
            .unwrap()
            .unwrap_or_default();
        if cursor == "4" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(cursor, "4", "the cursor lives beside the events");
}

#[tokio::test]
async fn retention_never_purges_what_the_collector_has_not_had() {
    let options = Options {
        audit_webhook: true,
        audit_apart: true,
        audit_retention: Some("30d"),
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
    approved_and_granted(&t).await;
    // The collector has had the first two events only.
    store::write(trail(&t), |tx| audit::forwarded_up_to(tx, 2))
        .await
        .unwrap();
    jitbot::access::audit_retention::run(&t.app.core, Utc::now() + Duration::days(31))
        .await
        .unwrap();
    let left: Vec<i64> = chain(trail(&t)).await.iter().map(|e| e.0).collect();
    assert_eq!(left, [3, 4, 5], "events 3 and 4 wait for the collector");
    assert!(verify(&t).status.success());
}

/// A database in a fresh file `name` in `dir`.
async fn fresh_file(dir: &tempfile::TempDir, name: &str) -> Db {
    let url = format!("sqlite://{}", dir.path().join(name).display());
    store::connect(&url).await.unwrap()
}

/// A main database and an audit database, each a fresh file in `dir`.
async fn main_and_audit_files(dir: &tempfile::TempDir, main: &str) -> (Db, Db) {
    (
        fresh_file(dir, main).await,
        fresh_file(dir, "audit.db").await,
    )
}

fn is_apart(db: &Db) -> bool {
    store::audit_outbox::trail_is_apart(&db.read().unwrap()).unwrap()
}

fn pairing(db: &Db) -> Option<String> {
    store::audit_outbox::pairing(&db.read().unwrap()).unwrap()
}

/// A second main file, fresh in `dir`, that `audit` is refused to, as another main file's.
async fn refused_to_a_second_main_file(dir: &tempfile::TempDir, audit: &Db) -> Db {
    let second = fresh_file(dir, "second.db").await;
    let refused = Trail::apart(second.clone(), audit.clone())
        .await
        .err()
        .unwrap();
    assert!(
        refused
            .to_string()
            .contains("already paired with another main database"),
        "{refused:#}"
    );
    second
}

fn claimed(db: &Db) -> bool {
    store::audit_outbox::is_claimed(&db.read().unwrap()).unwrap()
}

/// Writes `pairing` into `db`, as a step of pairing that stopped after it.
async fn paired_as(db: &Db, pairing: &str) {
    store::write(db, |tx| store::audit_outbox::set_pairing(tx, pairing))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_pairing_stopped_between_the_two_files_is_taken_up_again_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (main, audit) = main_and_audit_files(&dir, "main.db").await;
    // Where a stop (or a power cut that lost the main file's last commit) left it: the audit
    // file took a pairing, the main file did not.
    paired_as(&audit, "0123abcd").await;
    Trail::apart(main.clone(), audit.clone()).await.unwrap();
    assert!(is_apart(&main));
    assert!(claimed(&audit));
    assert_eq!(pairing(&main), pairing(&audit));
    check_pairing(&main, &audit).await.unwrap();
}

#[tokio::test]
async fn an_audit_file_left_half_paired_is_refused_once_another_was_paired_instead() {
    let dir = tempfile::tempdir().unwrap();
    let (main, left) = main_and_audit_files(&dir, "main.db").await;
    // A start stopped after the audit file took its pairing; the next one was given another
    // audit file.
    paired_as(&left, "0123abcd").await;
    let other = fresh_file(&dir, "other.db").await;
    Trail::apart(main.clone(), other.clone()).await.unwrap();
    check_pairing(&main, &other).await.unwrap();
    // Put back in its place, the first (an empty chain) would verify as intact.
    let refused = check_pairing(&main, &left).await.err().unwrap();
    assert!(
        refused.to_string().contains("is not the one"),
        "{refused:#}"
    );
}

#[tokio::test]
async fn an_audit_file_paired_before_claims_were_kept_is_refused_to_another_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let (first, audit) = main_and_audit_files(&dir, "first.db").await;
    // Paired by an earlier version, which kept no claim: both carry the pairing, the main file
    // is apart, and the audit file already holds the trail.
    paired_as(&first, "0123abcd").await;
    paired_as(&audit, "0123abcd").await;
    store::write(&first, |tx| store::audit_outbox::mark_apart(tx))
        .await
        .unwrap();
    let event = audit::NewEvent::by_jitbot(
        None,
        jitbot::domain::AuditAction::Requested,
        serde_json::json!({}),
        Utc::now(),
    );
    store::write(&audit, |tx| audit::append(tx, event))
        .await
        .unwrap();
    assert!(!claimed(&audit));
    let second = refused_to_a_second_main_file(&dir, &audit).await;
    assert!(!is_apart(&second));
    assert_eq!(pairing(&audit).as_deref(), Some("0123abcd"));
    // Its own main file's next start claims it.
    Trail::apart(first.clone(), audit.clone()).await.unwrap();
    assert!(claimed(&audit));
    check_pairing(&first, &audit).await.unwrap();
}

#[tokio::test]
async fn an_audit_file_paired_with_one_main_database_is_refused_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let (first, audit) = main_and_audit_files(&dir, "first.db").await;
    Trail::apart(first.clone(), audit.clone()).await.unwrap();
    let second = refused_to_a_second_main_file(&dir, &audit).await;
    assert!(!is_apart(&second));
    // The first keeps its trail; the second, started again with the same file, is refused again.
    check_pairing(&first, &audit).await.unwrap();
    assert!(Trail::apart(second, audit.clone()).await.is_err());
    check_pairing(&first, &audit).await.unwrap();
}
