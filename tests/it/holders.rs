//! Who else holds a membership (`store::requests::first_holders`): another request of the same
//! person's, for a group sharing it, found by account or by verified email. Many requests are
//! asked about in one statement, and each is answered for itself.

use jitbot::domain::{Account, Platform, Principal};
use jitbot::store::requests::{self, Holder, HoldersOf, Holding};

use crate::common::*;

/// Stores a request of `user` on `platform` (with `email`, if verified) and returns its id.
async fn stored(
    t: &TestApp,
    group: &str,
    (platform, user, email): (&str, &str, Option<&str>),
    status: &str,
    already_member: Option<bool>,
) -> i64 {
    jitbot::store::write(&t.app.core.db, |tx| {
        tx.query_row(
            "INSERT INTO requests (group_name, requester_platform, requester_id, requester_email, \
             justification, duration_minutes, status, origin_channel, requested_at, already_member) \
             VALUES (?, ?, ?, ?, 'test', 60, ?, 'C0TEST', 0, ?) RETURNING id",
            (group, platform, user, email, status, already_member),
            |row| row.get(0),
        )
        .map_err(jitbot::store::Error::from)
    })
    .await
    .unwrap()
}

fn slack_person(user: &str, email: Option<&str>) -> Principal {
    let account = Account {
        platform: Platform::Slack,
        id: user.into(),
    };
    Principal::new(account).with_emails(email.map(String::from))
}

#[tokio::test]
async fn each_request_asked_about_gets_the_first_of_its_own_persons_holders() {
    let t = TestApp::spawn().await;
    let alice = ("slack", "U0ALICE", Some("alice@example.com"));
    let alice_on_teams = ("teams", "aad-alice", Some("alice@example.com"));
    let bob = ("slack", "U0BOB", Some("bob@example.com"));
    let dave = ("slack", "U0DAVE", None);
    let eve = ("slack", "U0EVE", None);

    let ending = stored(&t, "prod-db", alice, "revoking", Some(false)).await;
    let lowest = stored(&t, "prod-db", alice, "active", Some(true)).await;
    stored(&t, "prod-db-b", alice, "active", Some(false)).await;
    stored(&t, "prod-db", alice, "pending", None).await;
    stored(&t, "payroll", alice, "active", Some(false)).await;
    let on_teams = stored(&t, "billing", alice_on_teams, "active", Some(false)).await;
    let alice_billing = stored(&t, "billing", alice, "revoking", Some(false)).await;
    let bob_ending = stored(&t, "prod-db", bob, "revoking", Some(false)).await;
    let bob_revoking = stored(&t, "prod-db", bob, "revoking", Some(true)).await;
    let dave_ending = stored(&t, "prod-db", dave, "revoking", Some(false)).await;
    stored(&t, "prod-db", eve, "active", Some(false)).await;

    let (alice, bob, dave) = (
        slack_person("U0ALICE", Some("alice@example.com")),
        slack_person("U0BOB", Some("bob@example.com")),
        slack_person("U0DAVE", None),
    );
    let prod_db = ["prod-db".to_string(), "prod-db-b".to_string()];
    let billing = ["billing".to_string()];
    let asked = |request_id, person, groups| HoldersOf {
        request_id,
        person,
        groups,
    };
    let questions = [
        asked(ending, &alice, &prod_db[..]),
        asked(alice_billing, &alice, &billing[..]),
        asked(bob_ending, &bob, &prod_db[..1]),
        asked(dave_ending, &dave, &prod_db[..1]),
    ];
    let db = &t.app.core.db.read().unwrap();

    let active = requests::first_holders(db, &questions, Holding::Active).unwrap();
    // Alice's: the lowest id among her active prod-db and prod-db-b requests (not the pending
    // one, not payroll); her billing grant is held by her Teams account, found by email. Bob's
    // other request is itself being revoked; Dave has no verified email, and Eve's request
    // (no email either) is not his.
    let expected = [
        (
            ending,
            Holder {
                id: lowest,
                already_member: Some(true),
            },
        ),
        (
            alice_billing,
            Holder {
                id: on_teams,
                already_member: Some(false),
            },
        ),
    ];
    assert_eq!(active, expected.into_iter().collect());

    let with_revoking = requests::first_holders(db, &questions, Holding::ActiveOrRevoking).unwrap();
    assert_eq!(
        with_revoking.get(&bob_ending),
        Some(&Holder {
            id: bob_revoking,
            already_member: Some(true),
        })
    );
    assert_eq!(
        with_revoking.get(&ending).map(|holder| holder.id),
        Some(lowest)
    );
    assert_eq!(with_revoking.get(&dave_ending), None);
}
