//! `jitbot audit --verify` on a trail keyed with `JITBOT_AUDIT_KEY`: without the key nobody can
//! rewrite it unnoticed, and without the key nobody can call it intact.

use super::trail::{self, KEY};
use super::{jitbot_with, stderr, stdout};
use crate::common::*;

/// Runs `audit --verify`, with the key or without.
fn verify(config: &str, with_key: bool) -> std::process::Output {
    let env: &[(&str, &str)] = if with_key {
        &[("JITBOT_AUDIT_KEY", KEY)]
    } else {
        &[]
    };
    jitbot_with(&["audit", "--config", config, "--verify"], env)
}

async fn keyed_trail() -> (TestApp, String) {
    let t = TestApp::spawn().await;
    trail::write(&t.app.core.db, Some(&trail::key())).await;
    let config = t.config_path().to_str().unwrap().to_string();
    (t, config)
}

fn assert_broken_at(output: &std::process::Output, message: &str) {
    assert!(!output.status.success(), "{}", stdout(output));
    assert!(stderr(output).contains(message), "{}", stderr(output));
}

#[tokio::test]
async fn a_keyed_trail_verifies_with_its_key_and_not_without() {
    let (t, config) = keyed_trail().await;
    let head: String = query_one(
        &t.app.core.db,
        "SELECT hash FROM audit_events WHERE id = 5",
        [],
    );

    let keyed = verify(&config, true);
    assert!(keyed.status.success(), "{}", stderr(&keyed));
    assert!(
        stdout(&keyed).contains("intact: 5 event(s)")
            && stdout(&keyed).contains(&format!("head: event 5 hmac-sha256 {head}\n")),
        "{}",
        stdout(&keyed)
    );

    let subcommand = jitbot_with(
        &["audit", "--config", &config, "verify"],
        &[("JITBOT_AUDIT_KEY", KEY)],
    );
    assert_eq!(
        stdout(&subcommand),
        stdout(&keyed),
        "`audit verify` is `audit --verify`"
    );

    let keyless = verify(&config, false);
    assert_broken_at(
        &keyless,
        "cannot check 3 keyed event(s) from event 3 on: set JITBOT_AUDIT_KEY",
    );
    assert!(!stdout(&keyless).contains("intact"), "{}", stdout(&keyless));
    assert!(!stderr(&keyless).contains(KEY), "the key is never printed");

    let wrong = jitbot_with(
        &["audit", "--config", &config, "--verify"],
        &[("JITBOT_AUDIT_KEY", "not-the-key")],
    );
    assert_broken_at(&wrong, "audit trail broken at event 3");
}

#[tokio::test]
async fn editing_a_keyed_events_detail_is_detected() {
    let (t, config) = keyed_trail().await;
    execute(
        &t.app.core.db,
        "UPDATE audit_events SET detail = replace(detail, 'denied', 'approved') WHERE id = 5",
        [],
    )
    .await;
    assert_broken_at(&verify(&config, true), "audit trail broken at event 5");
}

#[tokio::test]
async fn an_edit_rehashed_without_the_key_is_detected() {
    let (t, config) = keyed_trail().await;
    let db = &t.app.core.db;
    execute(
        db,
        "UPDATE audit_events SET actor = 'slack:U0MALLORY' WHERE id = 4",
        [],
    )
    .await;

    // Still marked keyed: the plain hash is not the HMAC.
    trail::rehash_plainly(db, 4, "hmac-sha256").await;
    assert_broken_at(&verify(&config, true), "audit trail broken at event 4");

    // Marked plain: a plain event after a keyed one is a downgrade, with or without the key.
    trail::rehash_plainly(db, 4, "sha256").await;
    let downgraded = "audit trail broken at event 4: a plain SHA-256 event after a keyed one";
    assert_broken_at(&verify(&config, true), downgraded);
    assert_broken_at(&verify(&config, false), downgraded);
}

#[tokio::test]
async fn reordering_two_events_is_detected() {
    let (t, config) = keyed_trail().await;
    // Swap the content of events 3 and 4, each keeping the hashes it had.
    let events = jitbot::store::audit::list(&t.app.core.db.read().unwrap(), None).unwrap();
    for (id, from) in [(3, &events[3]), (4, &events[2])] {
        execute(
            &t.app.core.db,
            "UPDATE audit_events SET at = ?, request_id = ?, actor = ?, action = ?, platform = ?, \
             channel = ?, detail = ? WHERE id = ?",
            (
                from.at,
                from.request_id,
                &from.actor,
                &from.action,
                &from.platform,
                &from.channel,
                &from.detail,
                id,
            ),
        )
        .await;
    }
    let actors: Vec<String> = query_column(
        &t.app.core.db,
        "SELECT actor FROM audit_events ORDER BY id",
        [],
    );
    assert_eq!(actors[2..4], ["teams:29:carol", "jitbot"], "swapped");
    assert_broken_at(&verify(&config, true), "audit trail broken at event 3");
}

#[tokio::test]
async fn an_inserted_event_is_detected() {
    let (t, config) = keyed_trail().await;
    let db = &t.app.core.db;
    // Make room after event 3, then forge an event linked to it.
    execute(db, "UPDATE audit_events SET id = -id WHERE id > 3", []).await;
    execute(db, "UPDATE audit_events SET id = 1 - id WHERE id < 0", []).await;
    execute(
        db,
        "INSERT INTO audit_events (id, at, request_id, actor, action, platform, channel, detail, prev_hash, hash, hash_kind) \
         SELECT 4, at + 1, 1, 'slack:U0MALLORY', 'approved', 'slack', NULL, '{\"group\":\"prod-db\"}', hash, '', 'hmac-sha256' \
         FROM audit_events WHERE id = 3",
        [],
    )
    .await;
    trail::rehash_plainly(db, 4, "hmac-sha256").await;
    assert_broken_at(&verify(&config, true), "audit trail broken at event 4");
}
