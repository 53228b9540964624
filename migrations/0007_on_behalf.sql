-- Requests on someone's behalf: the submitter's verified facts, as their check found them, so
-- that they are known as one person whatever account they click from (they may not approve).
ALTER TABLE requests ADD COLUMN submitter_addresses TEXT;
ALTER TABLE requests ADD COLUMN submitter_entra_id TEXT;
