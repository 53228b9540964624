-- Microsoft Teams: how to reach a conversation later (the Bot Connector's service URL and the
-- tenant), and the people who have talked to the bot. Both are recorded from every verified
-- activity, because proactive messages hours later need them.

CREATE TABLE teams_conversations (
    conversation_id TEXT    PRIMARY KEY,
    service_url     TEXT    NOT NULL,
    tenant_id       TEXT,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE teams_users (
    -- The Entra object id: stable, and what Graph knows the person by.
    aad_object_id            TEXT    PRIMARY KEY,
    -- The `29:` id, unique per bot and user: what the Bot Connector addresses.
    mri                      TEXT    NOT NULL,
    name                     TEXT,
    -- The 1:1 chat with the bot, once known: where approval cards go by DM.
    personal_conversation_id TEXT,
    -- Where the person was last seen: their profile (email, UPN) is read through it.
    last_conversation_id     TEXT    NOT NULL,
    updated_at               INTEGER NOT NULL
);
