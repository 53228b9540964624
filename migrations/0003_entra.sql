-- Microsoft Entra ID: the requester's object id, found when the request is checked, so that
-- grants and revocations address the same directory user even if their email changes later.
ALTER TABLE requests ADD COLUMN directory_user_id TEXT;

-- For groups with `owners = "entra"`: the Entra group's owners when the request was made
-- (JSON list of {id, emails}), shown on its cards and sent its DMs. Clicks are checked live.
ALTER TABLE requests ADD COLUMN owner_snapshot TEXT;
