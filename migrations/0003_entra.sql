-- Microsoft Entra ID: the requester's object id, found when the request is checked, so that
-- grants and revocations address the same directory user even if their email changes later.
ALTER TABLE requests ADD COLUMN directory_user_id TEXT;
