-- The audit trail kept apart (`audit_database_url`). The same schema serves both files, so that
-- every reader of the trail works on either.

-- Each event's own id, given when it is recorded: moving an event from the outbox into the audit
-- database a second time (after a crash between the two) cannot record it twice.
ALTER TABLE audit_events ADD COLUMN event_uid TEXT;
CREATE UNIQUE INDEX audit_events_by_uid ON audit_events (event_uid);

-- Events recorded in the main database, in the transaction of the change they record, waiting
-- to be moved (chained) into the audit database. Empty when the trail lives in the main file.
CREATE TABLE audit_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_uid   TEXT    NOT NULL UNIQUE,
    at          INTEGER NOT NULL,
    request_id  INTEGER,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    platform    TEXT,
    channel     TEXT,
    detail      TEXT    NOT NULL
);
