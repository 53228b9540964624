//! What the scheduler claims first: due revocations come before every other due job, so access
//! ends on time whatever else waits; yet a request's own jobs still run in the order queued.

use chrono::{DateTime, Duration, Utc};
use jitbot::domain::{Job, Notice};
use jitbot::store;
use jitbot::store::follow_ups::Claimant;

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
    claim_in(db, now, store::jobs::Room::for_any(limit)).await
}

/// Claims as many jobs at `now` as `room` has: each as its request and kind.
async fn claim_in(
    db: &store::Db,
    now: DateTime<Utc>,
    room: store::jobs::Room,
) -> Vec<(i64, String)> {
    let claimed = store::write(db, |tx| {
        store::jobs::claim_due(tx, now, Duration::minutes(5), room)
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

/// The workers kept for revocations go to revocations alone: with many due, a claim takes more
/// of them than any other job may, and the other jobs get only what the revocations left of
/// the workers any job may take.
#[tokio::test]
async fn workers_kept_for_revocations_go_to_revocations_alone() {
    let (_dir, db) = scratch_db().await;
    let now = Utc::now();
    let earlier = now - Duration::seconds(1);
    let notices: Vec<_> = (1..=4).map(|id| (id, told(), earlier)).collect();
    queue(&db, &notices).await;
    let revocations: Vec<_> = (10..=12).map(|id| (id, Job::Revoke, now)).collect();
    queue(&db, &revocations).await;
    let room = |revocations_only, any| store::jobs::Room {
        revocations_only,
        any,
        most: 64,
    };
    let ids = |claimed: Vec<(i64, String)>| -> Vec<i64> {
        claimed.into_iter().map(|(id, _)| id).collect()
    };
    // Three revocations: two in the kept workers, one in the others, which leaves one notice.
    assert_eq!(ids(claim_in(&db, now, room(2, 2)).await), [1, 10, 11, 12]);
    // No revocation left: the kept workers stay free, and notices take only the others.
    assert_eq!(ids(claim_in(&db, now, room(5, 2)).await), [2, 3]);
    // However much is free, one claim takes at most `most`.
    let one = store::jobs::Room {
        most: 1,
        ..room(5, 5)
    };
    assert_eq!(ids(claim_in(&db, now, one).await), [4]);
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

/// The stand-in's claim (`claim_revocations_and`): every due revocation, and every job a due
/// revocation waits behind in its request, as many as there are workers; of the rest only as
/// many as the stand-in's pace allows.
#[tokio::test]
async fn the_stand_in_claims_revocations_and_what_they_wait_behind_and_paces_the_rest() {
    let (_dir, db) = scratch_db().await;
    let now = Utc::now();
    let earlier = now - Duration::seconds(1);
    // Notices of requests 1–4 due a second ago; revocations of 10 and 11, 11's behind a notice
    // of its own; and request 12's notice and revocation, not due yet.
    let notices: Vec<_> = (1..=4).map(|id| (id, told(), earlier)).collect();
    queue(&db, &notices).await;
    queue(&db, &[(10, Job::Revoke, now), (11, told(), now)]).await;
    queue(&db, &[(11, Job::Revoke, now)]).await;
    let later = now + Duration::minutes(1);
    queue(&db, &[(12, told(), later), (12, Job::Revoke, later)]).await;
    let requests = |rows: Vec<store::jobs::JobRow>| -> Vec<i64> {
        rows.into_iter()
            .map(|row| row.request_id.unwrap())
            .collect()
    };
    // 10's revocation and 11's notice, which 11's revocation waits behind, and one other.
    assert_eq!(requests(stand_in_claim(&db, now, 10, 1).await), [1, 10, 11]);
    // 11's revocation waits for its notice to finish; without an allowance nothing else goes.
    assert!(stand_in_claim(&db, now, 10, 0).await.is_empty());
    // However much the pace allows, the claim takes no more than the workers free.
    assert_eq!(requests(stand_in_claim(&db, now, 2, 5).await), [2, 3]);
}

/// The stand-in's claim at `now`, for `free` workers and an allowance of `others`.
async fn stand_in_claim(
    db: &store::Db,
    now: DateTime<Utc>,
    free: i64,
    others: i64,
) -> Vec<store::jobs::JobRow> {
    store::write(db, |tx| {
        store::jobs::claim_revocations_and(tx, now, Duration::minutes(5), free, others)
    })
    .await
    .unwrap()
}

/// A request with two revocations due (an extension leaves the first queued) behind a notice:
/// the stand-in's claim takes the notice once, and leaves both revocations until it is done.
/// Which requests have a revocation due that nobody holds is read for the requests the
/// scheduler's thread claimed a job of: those the stand-in takes over at once.
#[tokio::test]
async fn a_notice_ahead_of_two_revocations_is_claimed_once_and_the_revoking_requests_are_found() {
    let (_dir, db) = scratch_db().await;
    let now = Utc::now();
    let earlier = now - Duration::seconds(1);
    queue(&db, &[(1, told(), earlier), (1, Job::Revoke, earlier)]).await;
    queue(&db, &[(1, Job::Revoke, now), (2, told(), now)]).await;
    queue(&db, &[(3, Job::Revoke, now + Duration::minutes(1))]).await;
    let claimed = stand_in_claim(&db, now, 10, 0).await;
    let claimed: Vec<_> = claimed.iter().map(|row| row.id).collect();
    assert_eq!(claimed, [1], "request 1's notice, once");

    let revoking = |ids: &'static [i64]| {
        let reader = db.read().unwrap();
        let mut found: Vec<i64> = store::jobs::revoking(&reader, ids, now)
            .unwrap()
            .into_iter()
            .collect();
        found.sort();
        found
    };
    // Request 1's revocations are due and unheld; 2 has none; 3's is not due yet.
    assert_eq!(revoking(&[1, 2, 3, 4]), [1]);
    assert!(revoking(&[]).is_empty());
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

/// Each job as its request, kind and claim (`locked_until`), in the order queued.
fn rows(db: &store::Db) -> Vec<(i64, String, Option<i64>)> {
    let reader = db.read().unwrap();
    let mut statement = reader
        .prepare(
            "SELECT request_id, json_extract(payload, '$.job'), locked_until FROM jobs ORDER BY id",
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Each job's claim (`locked_until`), in the order queued.
fn claims(db: &store::Db) -> Vec<Option<i64>> {
    rows(db).into_iter().map(|(_, _, until)| until).collect()
}

/// Claims request 1's `Announce`, due at `t0`, as a pass would: the job a worker then runs.
async fn running_announce(db: &store::Db, t0: DateTime<Utc>) -> i64 {
    queue(db, &[(1, Job::Announce, t0)]).await;
    let claimed = store::write(db, |tx| {
        store::jobs::claim_due(tx, t0, Duration::minutes(5), store::jobs::Room::for_any(10))
    })
    .await
    .unwrap();
    claimed[0].id
}

/// Queues `jobs` in a write run for `claimant` (inside one of its request's jobs); returns the
/// follow-ups handed to it.
async fn queue_for(
    db: &store::Db,
    claimant: &Claimant,
    jobs: &[(i64, Job, DateTime<Utc>)],
) -> Vec<(i64, String)> {
    claimant.scope(queue(db, jobs)).await;
    claimant
        .take()
        .into_iter()
        .map(|row| {
            let job: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
            (row.request_id.unwrap(), job["job"].as_str().unwrap().into())
        })
        .collect()
}

/// The jobs a request's running job queues for it, due already, are claimed for its worker in
/// the same transaction and handed to it once that commits (`scheduler::run_request` runs them
/// next); later ones, and other requests', are left for the passes.
#[tokio::test]
async fn a_running_job_s_follow_ups_are_claimed_as_they_are_queued() {
    let (_dir, db) = scratch_db().await;
    let t0 = Utc::now();
    let lease = Duration::minutes(5);
    let running = running_announce(&db, t0).await;
    let at = t0 + Duration::seconds(1);
    let claimant = Claimant::new(1, running, t0, at, lease);
    let later = t0 + Duration::minutes(1);
    let handed = queue_for(
        &db,
        &claimant,
        &[(1, told(), t0), (1, told(), later), (2, told(), t0)],
    )
    .await;
    assert_eq!(handed, [(1, "notify_requester".to_string())]);
    let until = Some((at + lease).timestamp_millis());
    assert_eq!(
        rows(&db),
        [
            (1, "announce".to_string(), until),
            (1, "notify_requester".to_string(), until),
            (1, "notify_requester".to_string(), None),
            (2, "notify_requester".to_string(), None),
        ],
        "the follow-up claimed with the running job's claim renewed; the rest left for passes"
    );

    // A write that fails keeps nothing, and hands nothing over.
    let failed = claimant
        .scope(store::write(&db, |tx| {
            store::jobs::queue_job(tx, 1, &told(), t0);
            Err::<(), _>(store::Error::Interrupted("the write's own failure".into()))
        }))
        .await;
    assert!(failed.is_err());
    assert!(claimant.take().is_empty());
    assert_eq!(rows(&db).len(), 4);

    // The same write outside any job claims nothing.
    queue(&db, &[(1, told(), t0)]).await;
    assert_eq!(rows(&db)[4].2, None);
    assert!(claimant.take().is_empty());
}

/// While a revocation is due that nobody holds, follow-ups wait for a pass: passes claim
/// revocations first.
#[tokio::test]
async fn a_request_s_follow_ups_wait_while_a_revocation_is_due() {
    let (_dir, db) = scratch_db().await;
    let t0 = Utc::now();
    let running = running_announce(&db, t0).await;
    let claimant = Claimant::new(1, running, t0, t0, Duration::minutes(5));

    queue(&db, &[(2, Job::Revoke, t0 + Duration::seconds(1))]).await;
    let handed = queue_for(&db, &claimant, &[(1, told(), t0)]).await;
    assert_eq!(handed.len(), 1, "a revocation due later does not hold it");

    queue(&db, &[(3, Job::Revoke, t0)]).await;
    let handed = queue_for(&db, &claimant, &[(1, told(), t0)]).await;
    assert!(handed.is_empty(), "a revocation due now goes first");

    assert_eq!(claim(&db, t0, 1).await, [(3, "revoke".to_string())]);
    let handed = queue_for(&db, &claimant, &[(1, told(), t0)]).await;
    assert!(
        handed.is_empty(),
        "the follow-up left unclaimed goes first: the ones after it wait for a pass too"
    );
    assert_eq!(claims(&db)[4..], [None, None], "both left for a pass");
}

/// A worker claims its request's follow-ups only while it still holds the job it runs: once its
/// lease ran out, a pass may be taking the request's jobs, and two workers must never run one
/// request's jobs side by side.
#[tokio::test]
async fn follow_ups_are_claimed_only_while_the_running_job_is_still_held() {
    let (_dir, db) = scratch_db().await;
    let t0 = Utc::now();
    let lease = Duration::minutes(5);
    let running = running_announce(&db, t0).await;

    let in_time = Claimant::new(1, running, t0, t0 + Duration::minutes(4), lease);
    let handed = queue_for(&db, &in_time, &[(1, told(), t0)]).await;
    assert_eq!(handed.len(), 1, "still held: the follow-up is claimed");
    let renewed = Some((t0 + Duration::minutes(9)).timestamp_millis());
    assert_eq!(
        claims(&db),
        [renewed; 2],
        "the running job's claim renewed with it"
    );

    let late = Claimant::new(1, running, t0, t0 + Duration::minutes(10), lease);
    let handed = queue_for(&db, &late, &[(1, told(), t0)]).await;
    assert!(handed.is_empty(), "lease ran out");
    assert_eq!(rows(&db)[2].2, None);
}

/// A write dropped while it waits for its group's commit (its job timed out) still commits with
/// the group, and the follow-ups it claimed reach the worker then: a write made after it (what
/// the scheduler does before giving a timed-out job up) returns only once they have.
#[tokio::test]
async fn the_follow_ups_of_a_write_dropped_before_its_commit_still_reach_the_worker() {
    use futures_util::FutureExt;

    let (_dir, db) = scratch_db().await;
    let t0 = Utc::now();
    let running = running_announce(&db, t0).await;
    let claimant = Claimant::new(1, running, t0, t0, Duration::minutes(5));
    let dropped = claimant
        .scope(queue(&db, &[(1, told(), t0)]))
        .now_or_never();
    assert!(
        dropped.is_none(),
        "the write was left waiting for its commit"
    );
    store::write(&db, |_| Ok::<_, store::Error>(()))
        .await
        .unwrap();
    let handed: Vec<i64> = claimant.take().iter().map(|row| row.id).collect();
    assert_eq!(handed.len(), 1, "handed over by the commit");
    assert_eq!(
        rows(&db)[1].2,
        Some((t0 + Duration::minutes(5)).timestamp_millis())
    );
}
