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
    assert!(
        !steps.iter().any(|step| step.contains("requests_by_status")),
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
