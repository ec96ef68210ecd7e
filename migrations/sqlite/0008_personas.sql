-- Characters and personas. A conversation belongs to the character bound when it was held, so
-- switching a chat's character starts a new conversation and switching back resumes the old one.
ALTER TABLE conversations ADD COLUMN persona TEXT NOT NULL DEFAULT '';
DROP INDEX conversations_one_active;
CREATE UNIQUE INDEX conversations_one_active
    ON conversations (platform, chat_id, thread_id, user_scope, persona) WHERE active = 1;

-- Custom personas and imported character cards, bot-wide; `fields` is their JSON.
CREATE TABLE personas (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: chats bind personas by id
    name       TEXT    NOT NULL,
    fields     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at REAL    NOT NULL,
    updated_at REAL    NOT NULL
);
CREATE UNIQUE INDEX personas_by_name ON personas (lower(name));
