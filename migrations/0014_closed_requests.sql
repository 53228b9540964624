-- The partial indexes of open requests (0011) had their condition on `status`. SQLite rewrites
-- an index's entry whenever a statement sets a column its condition names, so every move between
-- open statuses (pending → approved → active → revoking) rewrote both indexes' entries for the
-- request, although it stays in them: keyed by person, they sit on pages of their own, which each
-- commit then wrote. Their condition is now `closed = 0`, a column that changes only when a
-- request closes (or, never in practice, reopens). A trigger keeps it in step with `status`, so
-- no statement can forget it; `store::requests::OPEN` writes the same condition.
ALTER TABLE requests ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
UPDATE requests SET closed = 1 WHERE status NOT IN ('pending', 'approved', 'active', 'revoking');

CREATE TRIGGER requests_closed_with_status AFTER UPDATE OF status ON requests
    WHEN (NEW.status NOT IN ('pending', 'approved', 'active', 'revoking')) != NEW.closed
BEGIN
    UPDATE requests SET closed = (NEW.status NOT IN ('pending', 'approved', 'active', 'revoking'))
        WHERE id = NEW.id;
END;

CREATE TRIGGER requests_closed_when_inserted AFTER INSERT ON requests
    WHEN NEW.status NOT IN ('pending', 'approved', 'active', 'revoking')
BEGIN
    UPDATE requests SET closed = 1 WHERE id = NEW.id;
END;

DROP INDEX requests_open_by_account;
DROP INDEX requests_open_by_email;
CREATE INDEX requests_open_by_account ON requests (requester_platform, requester_id, group_name)
    WHERE closed = 0;
CREATE INDEX requests_open_by_email ON requests (requester_email, group_name)
    WHERE closed = 0;
