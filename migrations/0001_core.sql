-- jitbot's core schema. Times are Unix milliseconds (UTC) so that SQL can compare them directly.

-- One row per access request. `status` only ever moves through compare-and-swap updates
-- (UPDATE … WHERE id = ? AND status = ?), so two writers can never both win a transition.
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name         TEXT    NOT NULL,
    requester_platform TEXT    NOT NULL,
    requester_id       TEXT    NOT NULL,
    requester_email    TEXT,
    justification      TEXT    NOT NULL,
    duration_minutes   INTEGER NOT NULL CHECK (duration_minutes > 0),
    status             TEXT    NOT NULL,
    origin_channel     TEXT    NOT NULL,
    requested_at       INTEGER NOT NULL,
    decided_at         INTEGER,
    granted_at         INTEGER,
    expires_at         INTEGER,
    ended_at           INTEGER,
    -- Whether the person was a member before jitbot granted anything (NULL: not checked yet).
    -- Recorded before the grant, so a retried grant never mistakes its own work for prior access;
    -- revocation leaves prior members in place.
    already_member     INTEGER,
    failure            TEXT
);
CREATE INDEX requests_by_requester ON requests (requester_platform, requester_id, status);
CREATE INDEX requests_by_status ON requests (status);

-- Owners' answers. The primary key makes a second click by the same owner a no-op.
CREATE TABLE decisions (
    request_id   INTEGER NOT NULL REFERENCES requests (id),
    decider_key  TEXT    NOT NULL,
    verdict      TEXT    NOT NULL CHECK (verdict IN ('approve', 'deny')),
    decided_at   INTEGER NOT NULL,
    PRIMARY KEY (request_id, decider_key)
);

-- Chat messages that show a request: the thread where it was asked, and the approval cards.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   INTEGER NOT NULL REFERENCES requests (id),
    platform     TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('thread', 'card')),
    conversation TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    UNIQUE (request_id, platform, role, conversation)
);

-- Durable side effects. The scheduler claims due rows by setting `locked_until`, runs them,
-- deletes them on success and pushes `due_at` back (exponential backoff) on failure.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   INTEGER,
    payload      TEXT    NOT NULL,
    due_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    locked_until INTEGER
);
CREATE INDEX jobs_by_due ON jobs (due_at);

-- Append-only audit trail. Each row's hash covers its content and the previous row's hash,
-- so editing or deleting a past event breaks the chain (`jitbot audit --verify`).
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    request_id  INTEGER,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    platform    TEXT,
    channel     TEXT,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);

-- Platform user ↔ email, cached from the platforms' directories.
CREATE TABLE identities (
    platform   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    email      TEXT,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (platform, user_id)
);
CREATE INDEX identities_by_email ON identities (email);

-- Memberships kept by the `local` provider.
CREATE TABLE local_memberships (
    target   TEXT    NOT NULL,
    member   TEXT    NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (target, member)
);
