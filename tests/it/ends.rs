//! Revocations' ends are recorded together (`access::ends`): many ends in one transaction, each
//! ended once, audited once and told once, and nothing recorded for a request something else
//! ended first.

use crate::common::*;
use chrono::{Duration, Utc};
use jitbot::access::ends::End;
use jitbot::access::ends::Recorded::{self, AlreadyEnded, Ended, Later};
use jitbot::domain::{AuditAction, Job, RequestStatus};
use jitbot::store::follow_ups::Claimant;
use jitbot::store::{self, audit, requests};

/// Alice holds prod-db, payroll and billing for an hour, approved by their owners; returns the
/// request ids.
async fn alice_holds_three(t: &TestApp) -> Vec<i64> {
    let prod_db = t.alice_requests("request prod-db 1h deploy").await;
    let payroll = t.alice_requests("request payroll 1h quarter close").await;
    let billing = t.alice_requests("request billing 1h refunds").await;
    t.click("U0BOB", prod_db, "jit_approve").await;
    t.click("U0BOB", payroll, "jit_approve").await;
    t.click("U0CAROL", payroll, "jit_approve").await;
    t.click("U0BOB", billing, "jit_approve").await;
    t.run_jobs().await;
    for id in [prod_db, payroll, billing] {
        assert_eq!(t.request(id).await.status, RequestStatus::Active, "#{id}");
    }
    vec![prod_db, payroll, billing]
}

/// Every reply jitbot posted in a thread, oldest first.
fn thread_replies(t: &TestApp) -> Vec<String> {
    t.slack
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|m| !m["thread_ts"].is_null())
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

#[tokio::test]
async fn grants_ending_together_are_each_ended_audited_and_told_once_and_a_waiting_extension_lapses()
 {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let asked = t.say("U0ALICE", &format!("extend {} 30m", ids[0])).await;
    assert!(asked.contains("30m more"), "{asked}");
    t.run_jobs().await;
    let extension = ids[2] + 1;
    assert_eq!(t.request(extension).await.status, RequestStatus::Pending);
    let told_before = thread_replies(&t);

    let last_end = t.request(ids[2]).await.expires_at.unwrap();
    t.run_jobs_at(last_end + Duration::seconds(1)).await;

    for id in &ids {
        let request = t.request(*id).await;
        assert_eq!(request.status, RequestStatus::Ended, "#{id}");
        let actions = t.audit_actions(*id).await;
        assert_eq!(count(&actions, "expiring"), 1, "#{id}: {actions:?}");
        assert_eq!(count(&actions, "revoked"), 1, "#{id}: {actions:?}");
    }
    assert_eq!(t.request(extension).await.status, RequestStatus::Cancelled);
    assert!(
        t.audit_actions(extension)
            .await
            .contains(&"extension_lapsed".to_string())
    );
    // Each requester hears of each end once, in its thread.
    let told = &thread_replies(&t)[told_before.len()..];
    let time_up = "🔒 Time is up: the access has been removed.";
    let lapsed =
        "⌛ The extension was not applied: the access ended before the extension was approved.";
    assert_eq!(
        told.iter().filter(|m| *m == time_up).count(),
        ids.len(),
        "{told:?}"
    );
    assert_eq!(told.iter().filter(|m| *m == lapsed).count(), 1, "{told:?}");
    assert_eq!(told.len(), ids.len() + 1, "{told:?}");
    assert_eq!(
        audit::verify(&t.app.core.db.read().unwrap()).unwrap(),
        audit::ChainCheck::Intact {
            events: t.count("audit_events").await as usize
        }
    );
    assert_eq!(t.jobs_left_but_timeouts().await, 0);
}

/// What `expire` hands over for one request's end at `at`.
fn end_of(id: i64, at: chrono::DateTime<Utc>) -> End {
    End {
        request_id: id,
        at,
        action: AuditAction::Revoked,
        detail: serde_json::json!({ "request": id }).to_string(),
        jobs: vec![
            Job::NotifyRequester {
                notice: jitbot::domain::Notice::Ended {
                    kept: false,
                    still_held_by: None,
                },
            },
            Job::RefreshMessages,
        ],
        due_at: None,
    }
}

#[tokio::test]
async fn ends_arriving_while_others_are_recorded_share_one_transaction() {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let core = &t.app.core;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    // Two are revoking; the third was ended by something else first and must be left alone.
    store::write(&core.db, |tx| {
        requests::mark_revoking(tx, &ids, after_end)?;
        requests::mark_ended(tx, &[(ids[2], after_end)])?;
        tx.execute("DELETE FROM jobs", [])?;
        Ok::<_, store::Error>(())
    })
    .await
    .unwrap();
    let (transactions_before, _) = core.db.committed();

    // On this one-thread runtime the first end takes the turn alone; the two arriving while it
    // is recorded are recorded together after it.
    let record = |id: i64| core.ends.record(core, end_of(id, after_end));
    let (first, second, third) = tokio::join!(record(ids[0]), record(ids[1]), record(ids[2]));
    let ended = [first.unwrap(), second.unwrap(), third.unwrap()];
    assert_eq!(ended, [Ended, Ended, AlreadyEnded]);
    let (transactions, _) = core.db.committed();
    assert_eq!(
        transactions - transactions_before,
        2,
        "one for the first, one for the rest"
    );

    for id in &ids[..2] {
        assert_eq!(t.request(*id).await.status, RequestStatus::Ended);
        assert_eq!(count(&t.audit_actions(*id).await, "revoked"), 1);
    }
    assert_eq!(count(&t.audit_actions(ids[2]).await, "revoked"), 0);
    // Each ended request's jobs, in the order given; none for the one left alone.
    let queued: Vec<(Option<i64>, String)> = store::jobs::all(&core.db.read().unwrap())
        .unwrap()
        .into_iter()
        .map(|job| (job.request_id, job.payload))
        .collect();
    let expected: Vec<(Option<i64>, String)> = ids[..2]
        .iter()
        .flat_map(|id| {
            end_of(*id, after_end)
                .jobs
                .iter()
                .map(|job| (Some(*id), serde_json::to_string(job).unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(queued, expected);
    assert!(matches!(
        audit::verify(&core.db.read().unwrap()).unwrap(),
        audit::ChainCheck::Intact { .. }
    ));
}

#[tokio::test]
async fn ends_marked_together_each_keep_their_own_time_and_only_revoking_requests_end() {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let db = &t.app.core.db;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    // The first two are being revoked; the third is still active and must stay so.
    store::write(db, |tx| requests::mark_revoking(tx, &ids[..2], after_end))
        .await
        .unwrap();
    let at = |seconds: i64| after_end + Duration::seconds(seconds);

    // ids[0] twice (two runs of its job): the first end counts.
    let ends = [
        (ids[1], at(7)),
        (ids[2], at(9)),
        (ids[0], at(3)),
        (ids[0], at(5)),
    ];
    let mut ended = store::write(db, |tx| requests::mark_ended(tx, &ends))
        .await
        .unwrap();

    ended.sort();
    assert_eq!(ended, ids[..2]);
    for (id, seconds) in [(ids[0], 3), (ids[1], 7)] {
        let request = t.request(id).await;
        assert_eq!(request.status, RequestStatus::Ended, "#{id}");
        assert_eq!(
            request.ended_at.map(|at| at.timestamp_millis()),
            Some(at(seconds).timestamp_millis()),
            "#{id}"
        );
    }
    let untouched = t.request(ids[2]).await;
    assert_eq!(untouched.status, RequestStatus::Active);
    assert_eq!(untouched.ended_at, None);
    // Ended once: a second batch finds nothing revoking.
    let again = store::write(db, |tx| requests::mark_ended(tx, &[(ids[0], at(20))]))
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(
        t.request(ids[0])
            .await
            .ended_at
            .map(|at| at.timestamp_millis()),
        Some(at(3).timestamp_millis())
    );
}

#[tokio::test]
async fn an_end_recorded_twice_in_one_batch_counts_once() {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let core = &t.app.core;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    store::write(&core.db, |tx| {
        requests::mark_revoking(tx, &ids[..2], after_end)
    })
    .await
    .unwrap();

    // The first end takes the turn alone; the two arriving meanwhile, the same request's twice
    // (two runs of its job), are recorded together after it.
    let record = |id: i64| core.ends.record(core, end_of(id, after_end));
    let (first, second, again) = tokio::join!(record(ids[0]), record(ids[1]), record(ids[1]));
    let ended = [first.unwrap(), second.unwrap(), again.unwrap()];
    assert_eq!(ended, [Ended, Ended, AlreadyEnded]);
    for id in &ids[..2] {
        assert_eq!(t.request(*id).await.status, RequestStatus::Ended);
        assert_eq!(count(&t.audit_actions(*id).await, "revoked"), 1, "#{id}");
    }
}

/// Request `id`'s queued revocation, claimed as a scheduler's pass claims it; returns its id.
async fn claimed_revocation(t: &TestApp, id: i64) -> i64 {
    let db = &t.app.core.db;
    let job: i64 = query_one(
        db,
        "SELECT id FROM jobs WHERE request_id = ? AND json_extract(payload, '$.job') = 'revoke'",
        [id],
    );
    let lease = store::to_ms(Utc::now() + Duration::minutes(5));
    execute(
        db,
        "UPDATE jobs SET locked_until = ? WHERE id = ?",
        (lease, job),
    )
    .await;
    job
}

/// A scheduler's worker running job `job` of request `id`; `last` when it holds none of the
/// request's jobs after it.
fn worker_running(id: i64, job: i64, at: chrono::DateTime<Utc>, last: bool) -> Claimant {
    Claimant::new(id, job, at, at, Duration::minutes(5)).last(last)
}

fn job_row(t: &TestApp, job: i64) -> Option<(i64, Option<i64>)> {
    let rows: Vec<String> = query_column(
        &t.app.core.db,
        "SELECT attempts || ',' || IFNULL(locked_until, '') FROM jobs WHERE id = ?",
        [job],
    );
    rows.first().map(|row| {
        let (attempts, locked) = row.split_once(',').unwrap();
        (attempts.parse().unwrap(), locked.parse().ok())
    })
}

fn jobs_of(t: &TestApp, id: i64) -> Vec<String> {
    query_column(
        &t.app.core.db,
        "SELECT json_extract(payload, '$.job') FROM jobs WHERE request_id = ? ORDER BY id",
        [id],
    )
}

/// Alice's three grants, the first revoking under a hold, and its end given to `record` by a
/// worker for which its job is `last` of the request's: the grants, the job, the worker and
/// what `record` made of the end.
async fn first_end_under_hold(t: &TestApp, last: bool) -> (Vec<i64>, i64, Claimant, Recorded) {
    let ids = alice_holds_three(t).await;
    let core = &t.app.core;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    let job = revoking_under_hold(t, &ids[..1], after_end).await[0];
    let worker = worker_running(ids[0], job, after_end, last);
    let recorded = worker
        .scope(core.ends.record(core, end_of(ids[0], after_end)))
        .await
        .unwrap();
    (ids, job, worker, recorded)
}

/// While the scheduler starts revocations, an end waits, and so does its job's row: the worker
/// leaves the row, the end is recorded once the hold ends, and the row goes in the same
/// transaction. Until then the request is revoking and its job claimed, so a stop in between
/// runs the revocation again.
#[tokio::test]
async fn an_end_held_while_revocations_start_is_recorded_after_with_its_job() {
    let t = TestApp::spawn().await;
    let core = &t.app.core;
    let (ids, job, worker, recorded) = first_end_under_hold(&t, true).await;
    assert_eq!(recorded, Later);
    assert!(worker.passed_on(), "the worker leaves the row to the end");
    core.ends.record_unless_held(core).await;
    assert_eq!(t.request(ids[0]).await.status, RequestStatus::Revoking);
    assert_eq!(count(&t.audit_actions(ids[0]).await, "revoked"), 0);
    let (attempts, claimed) = job_row(&t, job).expect("the job waits with its end");
    assert_eq!(attempts, 0);
    assert!(
        claimed.is_some(),
        "still claimed: no pass runs it meanwhile"
    );

    let (transactions_before, _) = core.db.committed();
    core.ends.release();
    core.ends.record_unless_held(core).await;
    let (transactions, _) = core.db.committed();
    assert_eq!(
        transactions - transactions_before,
        1,
        "the end and its job's row together"
    );
    assert_eq!(t.request(ids[0]).await.status, RequestStatus::Ended);
    assert_eq!(count(&t.audit_actions(ids[0]).await, "revoked"), 1);
    assert_eq!(job_row(&t, job), None, "deleted with the end");
    let jobs = jobs_of(&t, ids[0]);
    assert!(!jobs.contains(&"revoke".to_string()), "{jobs:?}");
    assert!(jobs.contains(&"notify_requester".to_string()), "{jobs:?}");
    assert_eq!(t.counter("jitbot_revocation_ends_held_total").await, 1);
}

/// A worker that holds more of the request's jobs after the revocation must not run them before
/// its end is recorded: the end is recorded at once, hold or not, and the worker deletes the row.
#[tokio::test]
async fn an_end_whose_worker_holds_more_of_its_jobs_is_recorded_at_once() {
    let t = TestApp::spawn().await;
    let (ids, job, worker, recorded) = first_end_under_hold(&t, false).await;
    assert_eq!(recorded, Ended);
    assert!(!worker.passed_on());
    assert_eq!(t.request(ids[0]).await.status, RequestStatus::Ended);
    assert!(job_row(&t, job).is_some(), "the worker deletes it as done");
}

/// `ids` revoking, each one's revocation claimed as a scheduler's pass claims it, while the
/// scheduler holds ends; returns their jobs.
async fn revoking_under_hold(t: &TestApp, ids: &[i64], at: chrono::DateTime<Utc>) -> Vec<i64> {
    let core = &t.app.core;
    store::write(&core.db, |tx| requests::mark_revoking(tx, ids, at))
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for id in ids {
        jobs.push(claimed_revocation(t, *id).await);
    }
    core.ends
        .hold_while_revocations_start(std::time::Duration::from_secs(60));
    jobs
}

/// Holds the ends of `ids`' revocations, each passed on by its worker as a pass's would be;
/// returns their jobs.
async fn held_ends_of(t: &TestApp, ids: &[i64], at: chrono::DateTime<Utc>) -> Vec<i64> {
    let core = &t.app.core;
    let jobs = revoking_under_hold(t, ids, at).await;
    for (id, job) in ids.iter().zip(&jobs) {
        let worker = worker_running(*id, *job, at, true);
        let recorded = worker.scope(core.ends.record(core, end_of(*id, at)));
        assert_eq!(recorded.await.unwrap(), Later);
    }
    jobs
}

/// When a held end cannot be recorded, its job is freed to run again soon, without counting an
/// attempt (the provider did its part): the revocation runs again, which is safe, and its end is
/// recorded then. The one end refused does not hold back the others recorded with it.
#[tokio::test]
async fn a_held_end_that_cannot_be_recorded_frees_its_job_and_not_the_others() {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let core = &t.app.core;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    let jobs = held_ends_of(&t, &ids[..2], after_end).await;

    let refuse = format!(
        "CREATE TRIGGER refuse_ends BEFORE UPDATE OF status ON requests \
         WHEN NEW.status = 'ended' AND NEW.id = {} BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ids[0]
    );
    execute(&core.db, &refuse, []).await;
    core.ends.release();
    let before = Utc::now();
    core.ends.record_unless_held(core).await;
    assert_eq!(
        t.request(ids[1]).await.status,
        RequestStatus::Ended,
        "recorded alone"
    );
    assert_eq!(job_row(&t, jobs[1]), None);
    assert_eq!(t.request(ids[0]).await.status, RequestStatus::Revoking);
    assert_eq!(count(&t.audit_actions(ids[0]).await, "revoked"), 0);
    let (attempts, claimed) = job_row(&t, jobs[0]).expect("the refused one's job stays");
    assert_eq!((attempts, claimed), (0, None), "freed, no attempt counted");
    let due: i64 = query_one(&core.db, "SELECT due_at FROM jobs WHERE id = ?", [jobs[0]]);
    let soon = store::to_ms(before + Duration::seconds(2));
    assert!(
        (soon..soon + 1_500).contains(&due),
        "runs again in a moment"
    );

    execute(&core.db, "DROP TRIGGER refuse_ends", []).await;
    t.run_jobs_at(Utc::now() + Duration::seconds(4)).await;
    assert_eq!(t.request(ids[0]).await.status, RequestStatus::Ended);
    assert_eq!(count(&t.audit_actions(ids[0]).await, "revoked"), 1);
    assert_eq!(job_row(&t, jobs[0]), None);
}

/// However long the scheduler's passes keep the hold, no end waits much over a second: a
/// provider that hangs while others answer must not keep the ends of the others unrecorded.
#[tokio::test]
async fn an_end_held_for_a_second_is_recorded_though_the_hold_goes_on() {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let core = &t.app.core;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    held_ends_of(&t, &ids[..1], after_end).await;
    let lapses = core.ends.hold_lapses_at().expect("held");
    assert!(lapses <= std::time::Instant::now() + std::time::Duration::from_secs(1));

    core.ends.record_unless_held(core).await;
    assert_eq!(
        t.request(ids[0]).await.status,
        RequestStatus::Revoking,
        "held"
    );
    tokio::time::sleep_until(lapses.into()).await;
    core.ends
        .hold_while_revocations_start(std::time::Duration::from_secs(60));
    assert!(core.ends.any_to_record(), "held long enough");
    core.ends.record_unless_held(core).await;
    assert_eq!(t.request(ids[0]).await.status, RequestStatus::Ended);
}

/// The scheduler's worker leaves the row of a job whose end is held: it goes with the end,
/// never before, so that a stop in between runs the revocation again rather than leaving the
/// request revoking with no job to finish it.
#[tokio::test]
async fn a_pass_leaves_the_rows_of_held_ends_to_be_deleted_with_them() {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let core = &t.app.core;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    core.ends
        .hold_while_revocations_start(std::time::Duration::from_secs(60));

    jitbot::scheduler::run_due(core, after_end).await.unwrap();
    for id in &ids {
        assert_eq!(
            t.request(*id).await.status,
            RequestStatus::Revoking,
            "#{id}"
        );
        let jobs = jobs_of(&t, *id);
        assert!(
            jobs.contains(&"revoke".to_string()),
            "#{id}: the row waits with its end"
        );
    }
    let claimed: i64 = query_one(
        &core.db,
        "SELECT COUNT(*) FROM jobs WHERE locked_until IS NOT NULL \
         AND json_extract(payload, '$.job') = 'revoke'",
        [],
    );
    assert_eq!(claimed, 3, "still claimed: no pass runs them meanwhile");

    core.ends.release();
    core.ends.record_unless_held(core).await;
    for id in &ids {
        assert_eq!(t.request(*id).await.status, RequestStatus::Ended, "#{id}");
        assert!(!jobs_of(&t, *id).contains(&"revoke".to_string()), "#{id}");
        assert_eq!(count(&t.audit_actions(*id).await, "revoked"), 1, "#{id}");
    }
}

/// A stop while ends are held (a crash: nothing flushes them) loses nothing. The requests are
/// still revoking and their jobs claimed; the next start frees the claims, the revocations run
/// again (safe to repeat), and each access ends once, audited once.
#[tokio::test]
async fn ends_held_at_a_stop_are_made_again_after_the_next_start() {
    let t = TestApp::spawn().await;
    let ids = alice_holds_three(&t).await;
    let after_end = t.request(ids[2]).await.expires_at.unwrap() + Duration::seconds(1);
    let jobs = held_ends_of(&t, &ids, after_end).await;
    let now = store::to_ms(Utc::now());
    for job in &jobs {
        execute(
            &t.app.core.db,
            "UPDATE jobs SET due_at = ? WHERE id = ?",
            (now, job),
        )
        .await;
    }

    let t = t.restart(true).await;

    for id in &ids {
        t.wait_for_status(*id, RequestStatus::Ended).await;
        assert_eq!(count(&t.audit_actions(*id).await, "revoked"), 1, "#{id}");
    }
    // Each job's row goes once it is done (deleted with others a moment later).
    let started = std::time::Instant::now();
    while jobs.iter().any(|job| job_row(&t, *job).is_some())
        && started.elapsed() < std::time::Duration::from_secs(5)
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for job in jobs {
        assert_eq!(job_row(&t, job), None);
    }
}
