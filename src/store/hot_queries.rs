//! The queries on the hot paths (submit, a click, `status`, the scheduler), by name, as the store
//! runs them: a test checks that SQLite answers each through an index, whatever the history.

use super::{decisions, identities, jobs, messages, requests};

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
        ("requests::mark_ended", requests::MARK_ENDED.into()),
        (
            "requests::waiting_extensions",
            requests::waiting_extensions_sql(),
        ),
        ("jobs::insert_queued", jobs::ENQUEUE.into()),
        ("jobs::claim_due", jobs::CLAIM_DUE.into()),
        ("jobs::claim_revocations", jobs::CLAIM_REVOCATIONS.into()),
        ("jobs::claim_queued_by", jobs::CLAIM_QUEUED_BY.into()),
        ("jobs::any_queued_by", jobs::ANY_QUEUED_BY.into()),
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
