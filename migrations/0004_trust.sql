-- Trust: a person is a principal with verified facts, and decisions count once per person.

-- The requester's verified addresses (JSON list, the preferred one first) and when jitbot
-- confirmed who asked. Until then no card is shown and nobody can decide.
ALTER TABLE requests ADD COLUMN requester_addresses TEXT NOT NULL DEFAULT '[]';
ALTER TABLE requests ADD COLUMN confirmed_at INTEGER;
UPDATE requests SET requester_addresses = json_array(requester_email) WHERE requester_email IS NOT NULL;
UPDATE requests SET confirmed_at = requested_at WHERE status != 'pending';
-- Pending requests from before are checked again, now with verified facts only.
INSERT INTO jobs (request_id, payload, due_at)
    SELECT id, '{"job":"check_requester"}', 0 FROM requests WHERE status = 'pending';

-- Every key the decider was known by at the click (JSON list of `owner:…`, `entra:…`,
-- `email:…`, `account:…`): a later click sharing one of them is the same person again.
ALTER TABLE decisions ADD COLUMN counted_as TEXT NOT NULL DEFAULT '[]';
UPDATE decisions SET counted_as = json_array('account:' || decider_key);
-- Votes on requests still pending were counted per chat account, not per person (and may have
-- come through the unauthenticated path): the owners are asked again once the check passes.
DELETE FROM decisions WHERE request_id IN (SELECT id FROM requests WHERE status = 'pending');

-- The identity cache kept addresses without knowing whether the platform had confirmed them:
-- it starts afresh. `addresses` lists every verified address, `email` stays the preferred one.
DELETE FROM identities;
ALTER TABLE identities ADD COLUMN addresses TEXT NOT NULL DEFAULT '[]';

-- Small facts about this database, such as whether Teams last ran in local trial mode.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
