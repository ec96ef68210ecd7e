-- Users, conversations, messages and per-chat settings.

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    platform         TEXT    NOT NULL,
    platform_user_id TEXT    NOT NULL,
    display_name     TEXT,
    created_at       REAL    NOT NULL,
    UNIQUE (platform, platform_user_id)
);

-- One row per conversation; /reset retires the active one (active = 0) and a new one starts.
-- Turns older than the context window are folded into `summary`; `summarized_upto` is the
-- last message id the summary covers.
CREATE TABLE conversations (
    id                  INTEGER PRIMARY KEY,
    platform            TEXT    NOT NULL,
    chat_id             TEXT    NOT NULL,
    thread_id           TEXT    NOT NULL DEFAULT '',
    user_scope          TEXT    NOT NULL DEFAULT '',
    active              INTEGER NOT NULL DEFAULT 1,
    summary             TEXT    NOT NULL DEFAULT '',
    summary_tokens      INTEGER NOT NULL DEFAULT 0,
    summarized_upto     INTEGER NOT NULL DEFAULT 0,
    created_at          REAL    NOT NULL,
    updated_at          REAL    NOT NULL
);
CREATE UNIQUE INDEX conversations_one_active
    ON conversations (platform, chat_id, thread_id, user_scope) WHERE active = 1;

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
    role            TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT    NOT NULL,
    token_count     INTEGER NOT NULL,
    interrupted     INTEGER NOT NULL DEFAULT 0,
    created_at      REAL    NOT NULL
);
-- The context window reads the newest messages of one conversation: this keeps it O(window).
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

CREATE TABLE chat_settings (
    platform   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    settings   TEXT NOT NULL DEFAULT '{}',
    updated_at REAL NOT NULL,
    PRIMARY KEY (platform, chat_id)
);
