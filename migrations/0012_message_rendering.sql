-- What each remembered chat message last showed, as the SHA-256 (hex) of the exact payload the
-- platform accepted (Slack: text and blocks; Teams: the activity). A refresh whose rendering has
-- the same fingerprint sends nothing. NULL (rows from before) means unknown: the next refresh
-- updates the message and records it.
ALTER TABLE messages ADD COLUMN shown_sha256 TEXT;
