//! Write transactions that queue for the writer commit together, yet each keeps its own outcome:
//! a commit returns only once it is in the database, and a rollback undoes only its own part.

use std::sync::Arc;

use jitbot::store;
use tokio::sync::Barrier;

async fn scratch_db() -> (tempfile::TempDir, store::Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jitbot.db").display());
    let db = store::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE scratch (n INTEGER PRIMARY KEY)")
        .execute(&db.write)
        .await
        .unwrap();
    (dir, db)
}

/// Inserts `n` into the scratch table.
async fn insert(db: impl sqlx::SqliteExecutor<'_>, n: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO scratch (n) VALUES (?)")
        .bind(n)
        .execute(db)
        .await
        .map(|_| ())
}

async fn stored(db: &store::Db) -> Vec<i64> {
    sqlx::query_scalar("SELECT n FROM scratch ORDER BY n")
        .fetch_all(&db.read)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_transactions_share_commits_and_keep_their_own_outcomes() {
    let (_dir, db) = scratch_db().await;
    let start = Arc::new(Barrier::new(60));
    let mut tasks = Vec::new();
    for n in 0..60_i64 {
        let (db, start) = (db.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut tx = store::write(&db).await.unwrap();
            insert(&mut *tx, n).await.unwrap();
            match n % 4 {
                // Dropped: rolled back to its savepoint, the others' rows untouched.
                0 => drop(tx),
                // A statement that fails, then dropped, as a refusal does.
                1 => {
                    let duplicate = insert(&mut *tx, n).await;
                    assert!(duplicate.is_err());
                    drop(tx);
                }
                _ => {
                    tx.commit().await.unwrap();
                    // Committed means readable by everyone, at once.
                    let seen: Option<i64> = sqlx::query_scalar("SELECT n FROM scratch WHERE n = ?")
                        .bind(n)
                        .fetch_optional(&db.read)
                        .await
                        .unwrap();
                    assert_eq!(seen, Some(n), "row {n} not visible after its commit");
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // A rollback's cleanup runs in a task of its own: the writer is free once it has.
    let mut tx = store::write(&db).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();

    let expected: Vec<i64> = (0..60).filter(|n| n % 4 >= 2).collect();
    assert_eq!(stored(&db).await, expected);
    let (transactions, commits) = db.committed();
    assert_eq!(transactions, expected.len() as u64 + 1);
    assert!(
        commits < transactions,
        "{transactions} transactions queued together took {commits} commits"
    );
}

#[tokio::test]
async fn a_lone_transaction_commits_at_once_and_a_dropped_one_leaves_nothing() {
    let (_dir, db) = scratch_db().await;
    let mut tx = store::write(&db).await.unwrap();
    insert(&mut *tx, 1).await.unwrap();
    drop(tx);
    let mut tx = store::write(&db).await.unwrap();
    insert(&mut *tx, 2).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored(&db).await, vec![2]);
    // The writer's connection is free for a statement of its own between groups.
    insert(&db.write, 3).await.unwrap();
    assert_eq!(stored(&db).await, vec![2, 3]);
    assert_eq!(db.committed(), (1, 1));
}

/// The jobs in the table, in the order they run: their request and kind.
async fn jobs_queued(db: &store::Db) -> Vec<(i64, String)> {
    store::jobs::all(&db.read)
        .await
        .unwrap()
        .into_iter()
        .map(|job| {
            let kind = serde_json::from_str::<serde_json::Value>(&job.payload).unwrap()["job"]
                .as_str()
                .unwrap()
                .to_string();
            (job.request_id.unwrap(), kind)
        })
        .collect()
}

#[tokio::test]
async fn jobs_queued_in_a_transaction_are_stored_as_it_commits_in_order_and_not_when_it_is_dropped()
{
    use jitbot::domain::Job;
    let (_dir, db) = scratch_db().await;
    let now = chrono::Utc::now();
    let mut tx = store::write(&db).await.unwrap();
    store::jobs::queue_job(&mut tx, 7, &Job::Revoke, now);
    insert(&mut *tx, 1).await.unwrap();
    drop(tx);
    let mut tx = store::write(&db).await.unwrap();
    store::jobs::queue_job(&mut tx, 1, &Job::CheckRequester, now);
    store::jobs::queue_jobs(&mut tx, &[(2, Job::Grant, now), (1, Job::Announce, now)]);
    // Not in the table before the commit: they go in with it, in one statement.
    let inside: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, 0);
    tx.commit().await.unwrap();
    let expected = [(1, "check_requester"), (2, "grant"), (1, "announce")];
    let expected: Vec<(i64, String)> = expected.map(|(id, kind)| (id, kind.into())).into();
    assert_eq!(jobs_queued(&db).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_give_up_half_way_leave_the_writer_free_and_the_rest_committed() {
    let (_dir, db) = scratch_db().await;
    let mut first = store::write(&db).await.unwrap();
    insert(&mut *first, 1).await.unwrap();
    // A second caller queues for the writer, then hangs up before its turn…
    let queued = {
        let db = db.clone();
        tokio::spawn(async move {
            let _tx = store::write(&db).await;
            std::future::pending::<()>().await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    // …and so does the first, while it waits for the group it left open for the second.
    let committing = tokio::spawn(first.commit());
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    committing.abort();
    queued.abort();

    let free = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        insert(&db.write, 2).await.unwrap();
    })
    .await;
    assert!(free.is_ok(), "the writer stayed inside an abandoned group");
    assert_eq!(stored(&db).await, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_is_told_it_committed_exactly_when_its_change_is_kept() {
    let (_dir, db) = scratch_db().await;
    // Checked only at COMMIT: one member's orphan sinks its whole group. (jitbot's own schema
    // has no deferred constraints, so no member can sink another's work this way.)
    sqlx::query(
        "CREATE TABLE child (parent INTEGER REFERENCES scratch (n) DEFERRABLE INITIALLY DEFERRED)",
    )
    .execute(&db.write)
    .await
    .unwrap();
    let start = Arc::new(Barrier::new(30));
    let mut tasks = Vec::new();
    for n in 0..30_i64 {
        let (db, start) = (db.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut tx = store::write(&db).await.unwrap();
            match n {
                0 => sqlx::query("INSERT INTO child (parent) VALUES (42)")
                    .execute(&mut *tx)
                    .await
                    .map(|_| ())
                    .unwrap(),
                _ => insert(&mut *tx, n).await.unwrap(),
            }
            (n, tx.commit().await.is_ok())
        }));
    }
    let mut told = Vec::new();
    for task in tasks {
        told.push(task.await.unwrap());
    }
    let kept = stored(&db).await;
    for (n, committed) in told {
        match n {
            0 => assert!(!committed, "the orphan was told it committed"),
            _ => assert_eq!(committed, kept.contains(&n), "member {n}: told {committed}"),
        }
    }
    let children: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM child")
        .fetch_one(&db.read)
        .await
        .unwrap();
    assert_eq!(children, 0);
}

/// Appends chain after the hash the process appended last without reading the head first; a
/// guess made stale by a rolled-back member, or by another database's trail, must fall back to
/// the head: each trail stays one intact chain of exactly the events kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_appends_stay_one_chain_through_rollbacks_and_two_databases() {
    use jitbot::domain::AuditAction;
    use jitbot::store::audit;

    let ((_one, first), (_two, second)) = (scratch_db().await, scratch_db().await);
    let start = Arc::new(Barrier::new(48));
    let mut tasks = Vec::new();
    for n in 0..48_i64 {
        let db = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut tx = store::write(&db).await.unwrap();
            let detail = serde_json::json!({ "n": n });
            let event =
                audit::NewEvent::by_jitbot(None, AuditAction::Expiring, detail, chrono::Utc::now());
            audit::append(&mut tx, event).await.unwrap();
            // Every third is rolled back after its append: the next append's guess is stale.
            if n % 3 == 0 {
                drop(tx);
            } else {
                tx.commit().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for (db, parity) in [(&first, 0), (&second, 1)] {
        let kept: Vec<i64> = (0..48).filter(|n| n % 2 == parity && n % 3 != 0).collect();
        assert_eq!(
            audit::verify(&db.read).await.unwrap(),
            audit::ChainCheck::Intact { events: kept.len() }
        );
        let mut recorded: Vec<i64> =
            sqlx::query_scalar("SELECT json_extract(detail, '$.n') FROM audit_events")
                .fetch_all(&db.read)
                .await
                .unwrap();
        recorded.sort();
        assert_eq!(recorded, kept);
    }
}

/// Each member of a group is a savepoint, whose undo copies are kept in memory on the writer:
/// spilled to a temporary file (SQLite's default past 64 KiB), every group paid for writing and
/// creating it.
#[tokio::test]
async fn undo_copies_of_savepoints_and_statements_stay_in_memory() {
    let (_dir, db) = scratch_db().await;
    let temp_store = async |pool| -> i64 {
        sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(pool)
            .await
            .unwrap()
    };
    // 2 is MEMORY; readers keep the default (0), and spill large sorts to disk.
    assert_eq!(temp_store(&db.write).await, 2);
    assert_eq!(temp_store(&db.read).await, 0);
}
