//! Costs that do not grow with history: every hot query is answered through an index, and
//! submit, a click and `status` behave the same with a hundred thousand requests stored.

use jitbot::domain::RequestStatus;
use jitbot::store;

use crate::common::*;

/// The steps of `sql`'s `EXPLAIN QUERY PLAN` (the `detail` column), in order. Its parameters are
/// left unbound (NULL): the plan does not depend on their values.
fn query_plan(t: &TestApp, sql: &str) -> rusqlite::Result<Vec<String>> {
    let reader = t.app.core.db.read().unwrap();
    let mut statement = reader.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    statement
        .raw_query()
        .mapped(|row| row.get("detail"))
        .collect()
}

/// `EXPLAIN QUERY PLAN` of every hot query on the migrated database: none may read a whole table.
/// (A scan of `json_each` walks a list the query was given, not a table.)
#[tokio::test]
async fn every_hot_query_is_answered_through_an_index() {
    let t = TestApp::spawn().await;
    let mut scans = Vec::new();
    for (name, sql) in store::hot_queries::all() {
        let plan = query_plan(&t, &sql).unwrap_or_else(|e| panic!("{name}: {e}"));
        for detail in plan {
            if detail.starts_with("SCAN") && !detail.contains("VIRTUAL TABLE") {
                scans.push(format!("{name}: {detail}"));
            }
        }
    }
    assert!(scans.is_empty(), "full scans: {scans:#?}");
}

/// Ends recorded together look each request up by its id, once per end: starting from the
/// revoking requests instead would walk the list of ends once per request.
#[tokio::test]
async fn ends_are_marked_by_looking_each_request_up_by_id() {
    let t = TestApp::spawn().await;
    let plan = query_plan(&t, store::requests::MARK_ENDED).unwrap();
    let steps: Vec<&str> = plan.iter().map(String::as_str).collect();
    let step = |part: &str| {
        let found = steps.iter().position(|step| step.contains(part));
        found.unwrap_or_else(|| panic!("no step with {part}: {steps:?}"))
    };
    assert!(step("json_each") < step(" requests "), "{steps:?}");
    assert!(
        steps.iter().any(|step| step.starts_with("SEARCH requests")
            && step.contains("INTEGER PRIMARY KEY")),
        "{steps:?}"
    );
}

/// 100 000 requests by 10 000 other people, 10 000 of them open, written in one statement.
async fn seed_history(t: &TestApp) {
    execute(
        &t.app.core.db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
         INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
             justification, duration_minutes, status, origin_channel, requested_at, confirmed_at) \
         SELECT CASE i % 3 WHEN 0 THEN 'prod-db' WHEN 1 THEN 'payroll' ELSE 'billing' END, \
             'slack', 'U0SEED' || (i % 10000), 'seed' || (i % 10000) || '@example.com', \
             'history', 60, CASE WHEN i % 10 = 0 THEN 'pending' ELSE 'ended' END, 'C0SEED', \
             i, i FROM n",
        [],
    )
    .await;
}

#[tokio::test]
async fn submit_click_and_status_behave_the_same_with_a_long_history() {
    let t = TestApp::spawn().await;
    seed_history(&t).await;
    assert_eq!(t.count("requests").await, 100_000);

    let id = t.alice_requests("request prod-db 1h INC-1").await;
    assert_eq!(id, 100_001);
    assert!(
        t.say("U0ALICE", "request prod-db 1h again")
            .await
            .contains(&format!("#{id}")),
        "the duplicate check finds alice's open request among 10 000 others"
    );
    assert_eq!(t.click("U0BOB", id, "jit_approve").await, 200);
    t.run_jobs().await;
    assert_eq!(t.request(id).await.status, RequestStatus::Active);

    let status = t.say("U0ALICE", "status").await;
    assert!(status.contains(&format!("#{id}")), "{status}");
    assert!(
        !status.contains("history"),
        "only alice's own requests: {status}"
    );
    assert_eq!(t.count("requests").await, 100_001);
}

/// The root pages a statement itself opens for writing (`OpenWrite` in its `EXPLAIN` bytecode).
/// The programs of its triggers, listed after its own (their addresses start again at 0), are
/// left out: a trigger runs only when its `WHEN` holds.
fn pages_written(t: &TestApp, sql: &str) -> Vec<i64> {
    let reader = t.app.core.db.read().unwrap();
    let mut statement = reader.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let steps: Vec<(i64, String, i64)> = statement
        .raw_query()
        .mapped(|row| Ok((row.get("addr")?, row.get("opcode")?, row.get("p2")?)))
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let own = steps
        .iter()
        .enumerate()
        .take_while(|(index, (addr, _, _))| *index == 0 || *addr > 0);
    own.filter(|(_, (_, opcode, _))| opcode == "OpenWrite")
        .map(|(_, (_, _, page))| *page)
        .collect()
}

/// The partial indexes of open requests are keyed by person, so each entry rewritten is a page
/// of its own for the commit to write: a move between open statuses (here the revocations'
/// `active → revoking`, and any other) must leave them alone; closing takes a request out.
#[tokio::test]
async fn moves_between_open_statuses_leave_the_indexes_of_open_requests_alone() {
    let t = TestApp::spawn().await;
    let root = |index: &str| -> i64 {
        query_one(
            &t.app.core.db,
            "SELECT rootpage FROM sqlite_schema WHERE name = ?",
            [index],
        )
    };
    let open_indexes = [
        root("requests_open_by_account"),
        root("requests_open_by_email"),
    ];
    let moves = [
        store::requests::mark_revoking_sql(),
        "UPDATE requests SET status = 'approved' WHERE id = 1".to_string(),
    ];
    for sql in moves {
        let written = pages_written(&t, &sql);
        assert!(
            !written.iter().any(|page| open_indexes.contains(page)),
            "{sql} writes {written:?}; open indexes at {open_indexes:?}"
        );
    }
    let closing = pages_written(&t, store::requests::MARK_ENDED);
    assert!(
        open_indexes.iter().all(|page| closing.contains(page)),
        "ending writes {closing:?}; open indexes at {open_indexes:?}"
    );
}

/// `closed`, which the indexes of open requests are conditioned on, follows `status` whichever
/// statement sets it: inserted closed, closed, or (never in practice) opened again.
#[tokio::test]
async fn a_request_is_closed_exactly_when_its_status_is_closed() {
    let t = TestApp::spawn().await;
    let db = &t.app.core.db;
    let insert = "INSERT INTO requests (group_name, requester_platform, requester_id, \
                  justification, duration_minutes, status, origin_channel, requested_at) \
                  VALUES ('prod-db', 'slack', 'U0SEED', 'test', 60, ?, 'C0SEED', 0)";
    for status in RequestStatus::ALL {
        execute(db, insert, [status.as_str()]).await;
    }
    let moves = [
        "UPDATE requests SET status = 'denied' WHERE status = 'pending'",
        "UPDATE requests SET status = 'revoking' WHERE status = 'active'",
        "UPDATE requests SET status = 'cancelled' WHERE status = 'approved'",
        "UPDATE requests SET status = 'pending' WHERE status = 'expired'",
        "UPDATE requests SET status = 'ended', closed = 1 WHERE status = 'revoking'",
    ];
    let mismatched = "SELECT COUNT(*) FROM requests \
                      WHERE closed != (status NOT IN ('pending', 'approved', 'active', 'revoking'))";
    assert_eq!(query_one::<i64>(db, mismatched, []), 0, "as inserted");
    for sql in moves {
        execute(db, sql, []).await;
        assert_eq!(query_one::<i64>(db, mismatched, []), 0, "after {sql}");
    }
    let open: i64 = query_one(db, "SELECT COUNT(*) FROM requests WHERE closed = 0", []);
    assert_eq!(open, 1, "only the expired request opened again as pending");
}

/// Every hot query is compiled once per connection and then only run: SQLite compiles a
/// statement again, at its next run, whenever a parameter whose value its plan used is bound
/// anew (a bare `LIMIT ?` is one), which for the scheduler's claims was every time.
#[tokio::test]
async fn no_hot_query_is_compiled_again_when_its_parameters_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jitbot.db");
    let _db = store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut recompiled = Vec::new();
    for (name, sql) in store::hot_queries::all() {
        let mut statement = conn.prepare(&sql).unwrap();
        for run in 1..=3_i64 {
            for index in 1..=statement.parameter_count() {
                statement
                    .raw_bind_parameter(index, run * 10 + index as i64)
                    .unwrap();
            }
            let mut rows = statement.raw_query();
            while rows
                .next()
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .is_some()
            {}
        }
        let times = statement.get_status(rusqlite::StatementStatus::RePrepare);
        if times > 0 {
            recompiled.push(format!("{name}: compiled again {times} times"));
        }
    }
    assert!(recompiled.is_empty(), "{recompiled:#?}");
}
