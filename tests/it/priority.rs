//! The scheduler's thread runs at a lower priority than the threads that answer people, so that
//! a backlog of background work takes less of a shared core from the acknowledgements.

use std::time::Duration;

use crate::common::*;

/// A thread's nice value, from its `stat` line (field 19; the name before it may hold spaces).
fn nice_of(stat: &str) -> Option<i32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(16)?.parse().ok()
}

/// The nice values of this process's threads named `name` (as the kernel shortens it).
fn threads_named(name: &str) -> Vec<i32> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("this process's threads");
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .filter_map(|task| nice_of(&std::fs::read_to_string(task.path().join("stat")).ok()?))
        .collect()
}

#[tokio::test]
async fn the_scheduler_s_thread_runs_at_a_lower_priority_and_the_others_do_not() {
    let own = nice_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
    let _t = TestApp::spawn_with(DEFAULT_GROUPS, true).await;
    // Other tests start schedulers of their own beside this one: every one of them is lowered,
    // each by its thread before its runtime starts.
    let mut seen = Vec::new();
    for _ in 0..500 {
        seen = threads_named("jitbot-schedule");
        if !seen.is_empty() && seen.iter().all(|nice| *nice == own + 5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !seen.is_empty(),
        "the scheduler runs on a thread of its own"
    );
    assert!(
        seen.iter().all(|nice| *nice == own + 5),
        "scheduler threads at nice {seen:?}, this process at {own}"
    );
    // The thread that serves this test's requests keeps the process's priority.
    let now = nice_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
    assert_eq!(now, own);
}
