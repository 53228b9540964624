//! What the scheduler claims first: due revocations come before every other due job, so access
//! ends on time whatever else waits; yet a request's own jobs still run in the order queued.

use chrono::{DateTime, Duration, Utc};
use jitbot::domain::{Job, Notice};
use jitbot::store;

async fn scratch_db() -> (tempfile::TempDir, store::Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jitbot.db").display());
    (dir, store::connect(&url).await.unwrap())
}

async fn queue(db: &store::Db, jobs: &[(i64, Job, DateTime<Utc>)]) {
    store::write(db, |tx| {
        store::jobs::queue_jobs(tx, jobs);
        Ok::<_, store::Error>(())
    })
    .await
    .unwrap();
}

/// Claims up to `limit` jobs at `now`: each as its request and kind.
async fn claim(db: &store::Db, now: DateTime<Utc>, limit: i64) -> Vec<(i64, String)> {
    let claimed = store::write(db, |tx| {
        store::jobs::claim_due(tx, now, Duration::minutes(5), limit)
    })
    .await
    .unwrap();
    claimed
        .into_iter()
        .map(|row| {
            let job: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
            (
                row.request_id.unwrap(),
                job["job"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn told() -> Job {
    Job::NotifyRequester {
        notice: Notice::Expired,
    }
}

#[tokio::test]
async fn due_revocations_are_claimed_before_notices_due_earlier() {
    let (_dir, db) = scratch_db().await;
    let now = Utc::now();
    let earlier = now - Duration::seconds(1);
    // Five notices of other requests due a second ago, then two revocations due now.
    let notices: Vec<_> = (1..=5).map(|id| (id, told(), earlier)).collect();
    queue(&db, &notices).await;
    queue(&db, &[(10, Job::Revoke, now), (11, Job::Revoke, now)]).await;
    let first = claim(&db, now, 3).await;
    assert_eq!(
        first,
        [(1, "notify_requester"), (10, "revoke"), (11, "revoke")]
            .map(|(id, kind)| (id, kind.into()))
    );
    // The rest in due order; nothing is claimed twice.
    let rest = claim(&db, now, 10).await;
    let rest: Vec<i64> = rest.into_iter().map(|(id, _)| id).collect();
    assert_eq!(rest, [2, 3, 4, 5]);
    assert!(claim(&db, now, 10).await.is_empty());
}

#[tokio::test]
async fn a_revocation_waits_for_its_own_requests_earlier_jobs() {
    let (_dir, db) = scratch_db().await;
    let now = Utc::now();
    let earlier = now - Duration::seconds(1);
    // Request 1: a notice queued before its revocation, both due. Request 2: a notice retried
    // later (not due yet) queued before its revocation.
    queue(&db, &[(1, told(), earlier), (1, Job::Revoke, now)]).await;
    queue(
        &db,
        &[
            (2, told(), now + Duration::minutes(1)),
            (2, Job::Revoke, now),
        ],
    )
    .await;
    // Request 2's revocation goes first; request 1's waits for its notice, and both come in the
    // order they were queued, in the same claim.
    assert_eq!(claim(&db, now, 1).await, [(2, "revoke".to_string())]);
    assert_eq!(
        claim(&db, now, 10).await,
        [(1, "notify_requester"), (1, "revoke")].map(|(id, kind)| (id, kind.into()))
    );
    // A revocation whose request has a job running is not claimed beside it.
    queue(&db, &[(3, told(), earlier)]).await;
    assert_eq!(
        claim(&db, now, 1).await,
        [(3, "notify_requester".to_string())]
    );
    queue(&db, &[(3, Job::Revoke, earlier)]).await;
    assert!(claim(&db, now, 10).await.is_empty());
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_claimed_again_and_a_held_one_is_not() {
    let (_dir, db) = scratch_db().await;
    let now = Utc::now();
    queue(&db, &[(1, told(), now), (2, Job::Revoke, now)]).await;
    assert_eq!(claim(&db, now, 10).await.len(), 2);
    // Held for five minutes: nothing to claim within them…
    assert!(claim(&db, now + Duration::minutes(4), 10).await.is_empty());
    // …and both again once the lease ran out (a job that outlived it), the revocation first.
    let again = claim(&db, now + Duration::minutes(6), 1).await;
    assert_eq!(again, [(2, "revoke".to_string())]);
    let again = claim(&db, now + Duration::minutes(6), 10).await;
    assert_eq!(again, [(1, "notify_requester".to_string())]);
}

/// What a request's jobs queued for it runs right after them (`scheduler::run_request`), unless
/// a revocation is due that nobody holds: that goes first, and the follow-ups wait for a pass.
#[tokio::test]
async fn a_request_s_follow_ups_wait_while_a_revocation_is_due() {
    let (_dir, db) = scratch_db().await;
    let now = Utc::now();
    let queued_by = |request_id| {
        let reader = db.read().unwrap();
        store::jobs::any_queued_by(&reader, request_id, now).unwrap()
    };
    queue(&db, &[(1, told(), now)]).await;
    assert!(queued_by(1), "a follow-up due now");
    assert!(!queued_by(3), "none of another request's");

    queue(&db, &[(2, Job::Revoke, now + Duration::seconds(1))]).await;
    assert!(queued_by(1), "a revocation due later does not hold it");

    queue(&db, &[(3, Job::Revoke, now)]).await;
    assert!(!queued_by(1), "a revocation due now goes first");

    assert_eq!(claim(&db, now, 1).await, [(3, "revoke".to_string())]);
    assert!(
        queued_by(1),
        "once the revocation is claimed, the follow-up may go"
    );
}

/// A worker claims its request's follow-ups only while it still holds the request's job it ran
/// last, and renews that claim with theirs: once its lease ran out, a pass may be taking the
/// request's jobs, and two workers must never run one request's jobs side by side.
#[tokio::test]
async fn follow_ups_are_claimed_only_while_the_request_s_last_job_is_still_held() {
    let (_dir, db) = scratch_db().await;
    let t0 = Utc::now();
    let lease = Duration::minutes(5);
    queue(&db, &[(1, Job::Announce, t0)]).await;
    let held = store::write(&db, |tx| store::jobs::claim_due(tx, t0, lease, 10))
        .await
        .unwrap()[0]
        .id;
    queue(&db, &[(1, told(), t0)]).await;
    let follow_ups = |at: DateTime<Utc>| {
        let db = db.clone();
        async move {
            store::write(&db, |tx| {
                store::jobs::claim_queued_by(tx, 1, held, t0, at, lease, 10)
            })
            .await
            .unwrap()
        }
    };

    assert!(
        follow_ups(t0 + Duration::minutes(6)).await.is_empty(),
        "lease ran out"
    );
    let claimed = follow_ups(t0 + Duration::minutes(4)).await;
    assert_eq!(claimed.len(), 1, "still held: the follow-up is claimed");
    let locked_until: Vec<(i64, Option<i64>)> = {
        let reader = db.read().unwrap();
        let mut statement = reader
            .prepare("SELECT id, locked_until FROM jobs ORDER BY id")
            .unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let renewed = (t0 + Duration::minutes(9)).timestamp_millis();
    assert_eq!(
        locked_until,
        [(held, Some(renewed)), (claimed[0].id, Some(renewed))],
        "the held job's claim renewed with the follow-up's"
    );
}
