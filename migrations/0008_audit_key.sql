-- Which hash each audit event carries: 'sha256' (plain, as every event before this migration) or
-- 'hmac-sha256' (keyed with JITBOT_AUDIT_KEY), so that old events still verify and a keyed trail
-- cannot be turned plain unnoticed.
ALTER TABLE audit_events ADD COLUMN hash_kind TEXT NOT NULL DEFAULT 'sha256';
