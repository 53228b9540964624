//! Steady under load: one hung provider call does not hold other revocations back, a flood
//! that keeps the core busy does not either, and DM channels are opened once per person.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use jitbot::domain::RequestStatus;

use crate::common::*;

/// `user` asks for billing (a webhook group), bob approves, and the running scheduler grants it.
async fn granted_billing(t: &TestApp, user: &str) -> i64 {
    let reply = t.say(user, "request billing 1h INC-7").await;
    let id: i64 = reply
        .split_once('#')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| {
            n.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no request id in {reply:?}"));
    t.wait_until_confirmed(id).await;
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.wait_for_status(id, RequestStatus::Active).await;
    id
}

/// The access of request `id` ends now: its revocation comes due, and the scheduler hears it.
async fn comes_due_now(t: &TestApp, id: i64) {
    let now = jitbot::store::to_ms(Utc::now());
    execute(
        &t.app.core.db,
        "UPDATE requests SET expires_at = ? WHERE id = ?",
        (now, id),
    )
    .await;
    execute(
        &t.app.core.db,
        "UPDATE jobs SET due_at = ? WHERE request_id = ? AND payload LIKE '%\"revoke\"%'",
        (now, id),
    )
    .await;
    t.app.core.wake_scheduler();
}

fn revocations_of(t: &TestApp, id: i64) -> usize {
    t.webhook
        .deliveries()
        .iter()
        .filter(|d| d.json()["action"] == "revoke" && d.json()["request_id"] == id)
        .count()
}

#[tokio::test]
async fn a_hung_revocation_does_not_hold_back_another() {
    let t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    let alice = granted_billing(&t, "U0ALICE").await;
    let mallory = granted_billing(&t, "U0MALLORY").await;

    // The receiver holds alice's revocation far longer than a revocation should take.
    t.webhook.delay_next(Duration::from_secs(30));
    comes_due_now(&t, alice).await;
    for _ in 0..500 {
        if revocations_of(&t, alice) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        revocations_of(&t, alice),
        1,
        "alice's revocation is hanging"
    );

    let started = Instant::now();
    comes_due_now(&t, mallory).await;
    t.wait_for_status(mallory, RequestStatus::Ended).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "mallory's revocation waited {:?} behind alice's",
        started.elapsed()
    );
    assert_eq!(t.request(alice).await.status, RequestStatus::Revoking);
}

/// Pins the calling thread, and so the threads it starts from now on, to one of its cores.
fn pin_to_one_core() {
    let allowed = rustix::thread::sched_getaffinity(None).expect("this thread's cores");
    let first = (0..rustix::thread::CpuSet::MAX_CPU)
        .find(|&cpu| allowed.is_set(cpu))
        .expect("a core to run on");
    let mut one = rustix::thread::CpuSet::new();
    one.set(first);
    rustix::thread::sched_setaffinity(None, &one).expect("pinned to one core");
}

/// Keeps this test's runtime busy with unsigned slash commands, each refused, until `stop`.
fn flood(t: &TestApp, stop: &Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
    let http = reqwest::Client::new();
    (0..16)
        .map(|_| {
            let (http, url, stop) = (
                http.clone(),
                format!("{}/slack/commands", t.url),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let refused = http
                        .post(&url)
                        .body("command=%2Fjit&text=status")
                        .send()
                        .await;
                    assert_eq!(refused.unwrap().status(), 401);
                }
            })
        })
        .collect()
}

/// `copies` more active grants like request `id`'s (the same person, group and target), each
/// with its revocation queued for a day from now, as a grant queues it. Returns their ids.
async fn copies_of_grant(t: &TestApp, id: i64, copies: i64) -> Vec<i64> {
    let columns: Vec<String> = query_column(
        &t.app.core.db,
        "SELECT name FROM pragma_table_info('requests') WHERE name <> 'id'",
        [],
    );
    let columns = columns.join(", ");
    let first: i64 = query_one(&t.app.core.db, "SELECT MAX(id) + 1 FROM requests", []);
    execute(
        &t.app.core.db,
        &format!(
            "WITH RECURSIVE copy(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM copy WHERE n < ?2) \
             INSERT INTO requests ({columns}) SELECT {columns} FROM requests, copy WHERE id = ?1"
        ),
        (id, copies),
    )
    .await;
    let tomorrow = jitbot::store::to_ms(Utc::now() + chrono::Duration::days(1));
    execute(
        &t.app.core.db,
        "INSERT INTO jobs (request_id, payload, due_at) \
         SELECT id, '{\"job\":\"revoke\"}', ?2 FROM requests WHERE id >= ?1",
        (first, tomorrow),
    )
    .await;
    query_column(
        &t.app.core.db,
        "SELECT id FROM requests WHERE id >= ?",
        [first],
    )
}

/// The access of every request from `first` on ends now.
async fn all_come_due_now(t: &TestApp, first: i64) {
    let now = jitbot::store::to_ms(Utc::now());
    let ended = "UPDATE requests SET expires_at = ?1 WHERE id >= ?2";
    execute(&t.app.core.db, ended, (now, first)).await;
    let due = "UPDATE jobs SET due_at = ?1 WHERE request_id >= ?2 AND payload LIKE '%\"revoke\"%'";
    execute(&t.app.core.db, due, (now, first)).await;
    t.app.core.wake_scheduler();
}

/// How many requests from `first` on have ended.
fn ended_from(t: &TestApp, first: i64) -> i64 {
    let ended = "SELECT COUNT(*) FROM requests WHERE id >= ? AND status = 'ended'";
    query_one(&t.app.core.db, ended, [first])
}

/// The scheduler's thread runs at `SCHED_IDLE`: while people's requests keep the core busy, it
/// gets almost none of it. Here they do, on one core, while a few hundred revocations come due
/// together, and they are all done in good time: the threads that answer people run due jobs
/// once the scheduler's has been silent a while.
#[tokio::test]
async fn a_flood_that_keeps_the_core_busy_does_not_hold_back_revocations() {
    const GRANTS: i64 = 100;
    pin_to_one_core();
    let t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    let alice = granted_billing(&t, "U0ALICE").await;
    let copies = copies_of_grant(&t, alice, GRANTS - 1).await;

    let stop = Arc::new(AtomicBool::new(false));
    let flooding = flood(&t, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    all_come_due_now(&t, alice).await;
    while ended_from(&t, alice) < GRANTS && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for flooder in flooding {
        flooder.await.expect("every flooded request was refused");
    }
    assert_eq!(ended_from(&t, alice), GRANTS, "every access ended");
    assert_eq!(copies.len() as i64, GRANTS - 1);
    let removed = t.webhook.deliveries();
    assert!(
        removed.iter().any(|d| d.json()["action"] == "revoke"),
        "the membership they shared was removed"
    );
    assert!(
        took < Duration::from_secs(10),
        "the revocations took {took:?}"
    );
    let stood_in = t.counter("jitbot_scheduler_stand_in_jobs_total").await;
    assert!(stood_in > 0, "the threads that answer people ran jobs");
}

/// Messages telling a requester that their time is up.
fn time_up_replies(t: &TestApp) -> usize {
    t.slack
        .calls_to("chat.postMessage")
        .iter()
        .filter(|m| {
            m["text"]
                .as_str()
                .is_some_and(|text| text.contains("Time is up"))
        })
        .count()
}

/// Hundreds of grants ending together, on the running scheduler: while its passes claim as many
/// revocations as they can take, the ends of those made usually wait with their jobs
/// (`access::ends`; how often depends on the timing, which the tests in `ends.rs` fix). Either
/// way each access ends once, audited once and told once, and no job is left behind.
#[tokio::test]
async fn grants_ending_together_on_the_running_scheduler_end_once_each() {
    const GRANTS: i64 = 400;
    let t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    let alice = granted_billing(&t, "U0ALICE").await;
    copies_of_grant(&t, alice, GRANTS - 1).await;
    // Each copy's requester is told in a thread, as alice is: the same one.
    execute(
        &t.app.core.db,
        "INSERT INTO messages (request_id, platform, role, conversation, message_id) \
         SELECT requests.id, platform, role, conversation, message_id FROM messages, requests \
         WHERE messages.request_id = ?1 AND role = 'thread' AND requests.id > ?1",
        [alice],
    )
    .await;
    let told_before = time_up_replies(&t);

    // A finished job's row is deleted by the scheduler's completer, on its own thread, a little
    // after the job's messages are sent: the wait covers that too. A row left behind for good
    // would stay claimed for its 5-minute lease, far beyond the wait.
    let revocations_left = || -> i64 {
        query_one(
            &t.app.core.db,
            "SELECT COUNT(*) FROM jobs WHERE json_extract(payload, '$.job') = 'revoke'",
            [],
        )
    };
    all_come_due_now(&t, alice).await;
    let started = Instant::now();
    while (ended_from(&t, alice) < GRANTS
        || time_up_replies(&t) - told_before < GRANTS as usize
        || revocations_left() > 0)
        && started.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(ended_from(&t, alice), GRANTS, "every access ended");
    assert_eq!(
        time_up_replies(&t) - told_before,
        GRANTS as usize,
        "each told once"
    );
    let ends: (i64, i64) = (
        query_one(
            &t.app.core.db,
            "SELECT COUNT(*) FROM audit_events WHERE request_id >= ? \
             AND action IN ('revoked', 'ended_membership_still_held')",
            [alice],
        ),
        query_one(
            &t.app.core.db,
            "SELECT COUNT(DISTINCT request_id) FROM audit_events WHERE request_id >= ? \
             AND action IN ('revoked', 'ended_membership_still_held')",
            [alice],
        ),
    );
    assert_eq!(ends, (GRANTS, GRANTS), "each end audited once");
    assert_eq!(revocations_left(), 0, "no revocation's job left behind");
    let removed = t.webhook.deliveries();
    assert!(
        removed.iter().any(|d| d.json()["action"] == "revoke"),
        "the membership they shared was removed"
    );
    assert!(matches!(
        jitbot::store::audit::verify(&t.app.core.db.read().unwrap()).unwrap(),
        jitbot::store::audit::ChainCheck::Intact { .. }
    ));
}

#[tokio::test]
async fn a_dm_channel_is_opened_once_per_owner() {
    let t = TestApp::spawn().await;
    t.alice_requests("request payroll 30m fixing a salary run")
        .await;
    assert!(
        t.say("U0MALLORY", "request payroll 30m a second run")
            .await
            .contains('#')
    );
    t.run_jobs().await;

    for owner in ["U0BOB", "U0CAROL", "U0DAVE"] {
        let cards = t.slack.posts_in(&format!("D{owner}"), None);
        assert_eq!(cards.len(), 2, "{owner} has a card for each request");
        let opened = t
            .slack
            .calls_to("conversations.open")
            .iter()
            .filter(|call| call["users"].to_string().contains(owner))
            .count();
        assert_eq!(opened, 1, "{owner}'s DM was opened once");
    }
}
