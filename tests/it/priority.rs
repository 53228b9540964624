//! The background threads — the scheduler's, and the one copying the WAL into the database — run
//! at `SCHED_IDLE`, so that they give way to the threads that answer people the moment a request
//! arrives.

use std::time::Duration;

use crate::common::*;

/// `SCHED_IDLE`, as the kernel numbers scheduling policies (sched(7)).
const SCHED_IDLE: u32 = 5;

/// A thread's scheduling policy, from its `stat` line (field 41; the name before it may hold
/// spaces).
fn policy_of(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(38)?.parse().ok()
}

/// The scheduling policies of this process's threads named `name` (as the kernel shortens it).
fn threads_named(name: &str) -> Vec<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("this process's threads");
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .filter_map(|task| policy_of(&std::fs::read_to_string(task.path().join("stat")).ok()?))
        .collect()
}

/// Waits up to five seconds for threads named `name` to exist and all be at `SCHED_IDLE` (each
/// lowers itself as it starts), and fails if they do not.
async fn assert_all_lowered(name: &str) {
    let mut seen = Vec::new();
    for _ in 0..500 {
        seen = threads_named(name);
        if !seen.is_empty() && seen.iter().all(|policy| *policy == SCHED_IDLE) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("threads named {name} at policies {seen:?}");
}

#[tokio::test]
async fn the_scheduler_s_thread_runs_at_sched_idle_and_the_others_do_not() {
    let own = policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
    assert_ne!(own, SCHED_IDLE, "the tests run at the usual policy");
    let _t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    // Other tests start schedulers of their own beside this one: every one of them is lowered,
    // each by its thread before its runtime starts.
    assert_all_lowered("jitbot-schedule").await;
    // The thread that serves this test's requests keeps the process's policy.
    let now = policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
    assert_eq!(now, own);
}

#[tokio::test]
async fn the_thread_copying_the_wal_runs_at_sched_idle() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jitbot.db");
    let _db = jitbot::store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    // Other tests open databases of their own beside this one: every copier is lowered, each by
    // its own thread as it starts.
    assert_all_lowered("jitbot-wal-copy").await;
}

#[tokio::test]
async fn the_scheduler_s_thread_offers_the_core_while_it_runs_jobs() {
    let t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    let offers = "jitbot_scheduler_core_offers_total";
    let before = t.counter(offers).await;
    // Each request's check, thread and cards run on the scheduler's thread: in a debug build
    // they keep it busy for far longer than a turn.
    for n in 0..5 {
        let id = t
            .alice_requests(&format!("request payroll 30m salary run {n}"))
            .await;
        t.wait_until_confirmed(id).await;
    }
    let mut after = before;
    for _ in 0..500 {
        after = t.counter(offers).await;
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(after > before, "no offer in {before}..{after}");
}
