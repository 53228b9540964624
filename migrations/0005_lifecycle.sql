-- The whole lifecycle: extensions, early ends, scheduled starts, requests on someone's behalf,
-- break-glass access and its review, pending timeouts.

-- `access`, `extension` (more time on the request `extends_id`) or `break_glass`.
ALTER TABLE requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'access';
ALTER TABLE requests ADD COLUMN extends_id INTEGER REFERENCES requests (id);
-- A scheduled start as typed (`tomorrow 09:00`), read in the requester's time zone when the
-- request is checked; `starts_at` is that moment in UTC.
ALTER TABLE requests ADD COLUMN start_spec TEXT;
ALTER TABLE requests ADD COLUMN starts_at INTEGER;
-- The account (`slack:U…`, `teams:…`) that asked on the requester's behalf.
ALTER TABLE requests ADD COLUMN submitted_by TEXT;
-- Access ended before its time: `released` by the requester or `revoked` by an owner.
ALTER TABLE requests ADD COLUMN end_reason TEXT;
ALTER TABLE requests ADD COLUMN ended_by TEXT;
ALTER TABLE requests ADD COLUMN end_note TEXT;
-- Break-glass access reviewed by an owner.
ALTER TABLE requests ADD COLUMN acknowledged_by TEXT;
ALTER TABLE requests ADD COLUMN acknowledged_at INTEGER;
CREATE INDEX requests_by_extended ON requests (extends_id) WHERE extends_id IS NOT NULL;

-- Each person's time zone (IANA name), as their platform last said: scheduled starts are read in it.
ALTER TABLE identities ADD COLUMN time_zone TEXT;
ALTER TABLE teams_users ADD COLUMN time_zone TEXT;

-- Requests already waiting for owners expire like new ones: 24 hours after they were made.
INSERT INTO jobs (request_id, payload, due_at)
    SELECT id, '{"job":"expire_pending"}', requested_at + 86400000 FROM requests WHERE status = 'pending';
