-- Indexes that match the hot queries, so that submit, a click, `status` and the scheduler cost
-- the same with a million requests as with a hundred (tests/it/query_plans.rs checks the plans).

-- Addresses are compared lower-cased (a Principal lower-cases them); rows from before are too.
UPDATE requests SET requester_email = lower(requester_email)
    WHERE requester_email IS NOT NULL AND requester_email != lower(requester_email);

-- A person is matched by account OR by verified email. One index cannot serve an OR, so the
-- queries look each side up in its own index and join the ids (store::requests). The open
-- requests (a few per person, however long the history) have partial indexes of their own; the
-- status list must stay written exactly as store::requests::OPEN writes it.
CREATE INDEX requests_open_by_account ON requests (requester_platform, requester_id, group_name)
    WHERE status IN ('pending', 'approved', 'active', 'revoking');
CREATE INDEX requests_open_by_email ON requests (requester_email, group_name)
    WHERE status IN ('pending', 'approved', 'active', 'revoking');
-- Every request of a person for a group, by when it passed its check: recent checks, failed grants.
CREATE INDEX requests_by_account ON requests (requester_platform, requester_id, group_name, confirmed_at);
CREATE INDEX requests_by_email ON requests (requester_email, group_name, confirmed_at);
-- Covered by requests_by_account.
DROP INDEX requests_by_requester;
-- Break-glass uses no owner has reviewed yet: few, whatever the history.
CREATE INDEX requests_unreviewed_break_glass ON requests (group_name)
    WHERE kind = 'break_glass' AND acknowledged_at IS NULL;

-- A request's jobs: discarded reminders, the undo of a failed grant, and the scheduler's rule that
-- one request's jobs run one at a time.
CREATE INDEX jobs_by_request ON jobs (request_id);
-- When the next unclaimed job comes due.
CREATE INDEX jobs_unclaimed_by_due ON jobs (due_at) WHERE locked_until IS NULL;

-- A Teams click names the clicker by their `29:` id.
CREATE INDEX teams_users_by_mri ON teams_users (mri);
