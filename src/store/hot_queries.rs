//! The queries on the hot paths (submit, a click, `status`, the scheduler), by name, as the store
//! runs them: a test checks that SQLite answers each through an index, whatever the history.

use super::{decisions, follow_ups, grant_targets, identities, jobs, messages, requests};

pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("requests::open_for", requests::open_for_sql()),
        ("requests::open_of", requests::open_of_sql()),
        ("requests::first_holders", requests::first_holders_sql()),
        (
            "requests::failed_awaiting_undo",
            requests::failed_awaiting_undo_sql(),
        ),
        (
            "requests::passed_check_since",
            requests::passed_check_since_sql(),
        ),
        (
            "requests::unreviewed_break_glass",
            requests::UNREVIEWED_BREAK_GLASS.into(),
        ),
        ("requests::mark_revoking", requests::mark_revoking_sql()),
        // The metrics' gauge and the drift sweep run on a timer, over however long a history.
        ("requests::count_active", requests::count_active_sql()),
        ("grant_targets::holders", grant_targets::holders_sql()),
        ("requests::mark_ended", requests::MARK_ENDED.into()),
        (
            "requests::waiting_extensions",
            requests::waiting_extensions_sql(),
        ),
        ("jobs::insert_queued", jobs::ENQUEUE.into()),
        ("jobs::claim_due", jobs::CLAIM_DUE.into()),
        ("jobs::claim_revocations", jobs::CLAIM_REVOCATIONS.into()),
        (
            "jobs::claim_ahead_of_revocations",
            jobs::CLAIM_AHEAD_OF_REVOCATIONS.into(),
        ),
        ("jobs::revoking", jobs::REVOKING.into()),
        ("follow_ups::left_before", follow_ups::LEFT_BEFORE.into()),
        (
            "follow_ups::renew_running",
            follow_ups::RENEW_RUNNING.into(),
        ),
        ("jobs::insert_claimed", jobs::ENQUEUE_CLAIMED.into()),
        (
            "follow_ups::revocation_waiting",
            follow_ups::REVOCATION_WAITING.into(),
        ),
        ("jobs::release_expired", jobs::RELEASE_EXPIRED.into()),
        ("jobs::next_due", jobs::NEXT_DUE.into()),
        ("jobs::discard", jobs::DISCARD.into()),
        ("jobs::is_waiting", jobs::IS_WAITING.into()),
        ("decisions::of_request", decisions::OF_REQUEST.into()),
        ("messages::find_on", messages::FIND_ON.into()),
        ("messages::has", messages::HAS.into()),
        ("messages::any_for", messages::ANY_FOR.into()),
        ("messages::record_shown", messages::RECORD_SHOWN.into()),
        ("identities::addresses_of", identities::ADDRESSES_OF.into()),
        (
            "identities::user_with_email",
            identities::USER_WITH_EMAIL.into(),
        ),
    ]
}
