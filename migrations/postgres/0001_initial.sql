-- The PostgreSQL schema of everything but the ledger (0002) and long-term recall (0003): the
-- final state of migrations/sqlite/0001-0003, 0007-0009, not their history. Times are Unix
-- seconds (double precision) as in SQLite; JSON stays text, written and read as the SQLite
-- stores do. Nothing here needs a superuser.

CREATE TABLE users (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform         text             NOT NULL,
    platform_user_id text             NOT NULL,
    display_name     text,
    created_at       double precision NOT NULL,
    UNIQUE (platform, platform_user_id)
);

-- One row per conversation; /reset retires the active one (active = false) and a new one
-- starts. A conversation belongs to the character bound when it was held (persona). Turns
-- older than the context window are folded into `summary`; `summarized_upto` is the last
-- message id the summary covers.
-- `revision` moves on each change to the conversation or its messages (the triggers below,
-- and save_summary), so a worker knows from one indexed read whether the conversation it has
-- cached is still what the database holds: other workers write the same conversations.
CREATE TABLE conversations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform         text             NOT NULL,
    chat_id          text             NOT NULL,
    thread_id        text             NOT NULL DEFAULT '',
    user_scope       text             NOT NULL DEFAULT '',
    persona          text             NOT NULL DEFAULT '',
    active           boolean          NOT NULL DEFAULT true,
    summary          text             NOT NULL DEFAULT '',
    summary_tokens   integer          NOT NULL DEFAULT 0,
    summarized_upto  bigint           NOT NULL DEFAULT 0,
    revision         bigint           NOT NULL DEFAULT 0,
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL
);
CREATE UNIQUE INDEX conversations_one_active
    ON conversations (platform, chat_id, thread_id, user_scope, persona) WHERE active;

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint           NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         bigint           REFERENCES users (id) ON DELETE SET NULL,
    role            text             NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text             NOT NULL,
    token_count     integer          NOT NULL,
    interrupted     boolean          NOT NULL DEFAULT false,
    created_at      double precision NOT NULL
);
-- The context window reads the newest messages of one conversation: this keeps it O(window).
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

-- One statement that inserts, changes or deletes messages moves the revision of each
-- conversation it touched once (statement-level, so a bulk delete costs one update per
-- conversation, not per message).
CREATE FUNCTION conversations_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET revision = revision + 1
        WHERE id IN (SELECT DISTINCT conversation_id FROM changed);
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_touched();
CREATE TRIGGER messages_updated AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_touched();
CREATE TRIGGER messages_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_touched();

CREATE TABLE chat_settings (
    platform   text             NOT NULL,
    chat_id    text             NOT NULL,
    settings   text             NOT NULL DEFAULT '{}',
    updated_at double precision NOT NULL,
    PRIMARY KEY (platform, chat_id)
);

-- Small facts the bot keeps between runs, such as a fingerprint of the slash commands last
-- synced to Discord (so they are synced only when they change).
CREATE TABLE bot_state (
    key        text             PRIMARY KEY,
    value      text             NOT NULL,
    updated_at double precision NOT NULL
);

-- Video jobs outlive a restart: a job queued at Venice is polled again after the bot comes
-- back, delivered, and then deleted from Venice's storage (/video/complete).
CREATE TABLE video_jobs (
    id          text             PRIMARY KEY,  -- the bot's own id, shown in buttons
    status      text             NOT NULL,     -- quoted | queued | done | failed | cancelled
    platform    text             NOT NULL,
    chat_id     text             NOT NULL,
    thread_id   text,
    user_id     text             NOT NULL,     -- the platform's user id of who asked
    owner       text             NOT NULL,     -- the ledger account that pays
    model       text             NOT NULL,
    request     text             NOT NULL,     -- the /video/queue body (JSON)
    quote       bigint           NOT NULL,     -- micro-USD, marked up
    reservation text,                          -- the ledger request id holding the money
    queue_id    text,                          -- Venice's id once queued
    created_at  double precision NOT NULL,
    queued_at   double precision,
    finished_at double precision
);
CREATE INDEX video_jobs_status ON video_jobs (status);

-- Custom personas and imported character cards, bot-wide; `fields` is their JSON. Identity
-- values are never reused: chats bind personas by id.
CREATE TABLE personas (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text             NOT NULL,
    fields     text             NOT NULL,
    created_by text             NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);
CREATE UNIQUE INDEX personas_by_name ON personas (lower(name));

-- The inbox: every message is recorded before the platform is told it arrived, and marked
-- answered in the same transaction that stores its answer and settles its charge. Workers
-- claim rows with FOR UPDATE SKIP LOCKED and a lease (claimed_until, claimed_by): a live
-- claim of another worker is left alone, an expired one is taken over.
CREATE TABLE inbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- arrival order
    platform      text             NOT NULL,
    key           text             NOT NULL,  -- the platform's id of the update or message
    chat          text             NOT NULL,  -- the chat it came from (answered in order per chat)
    payload       text,                       -- what answering it again needs; emptied when answered
    received_at   double precision NOT NULL,
    claimed_until double precision,           -- a turn holds it until then (its lease)
    claimed_by    text,                       -- the worker that holds it
    answered_at   double precision,
    UNIQUE (platform, key)
);
CREATE INDEX inbox_unanswered ON inbox (platform, id) WHERE answered_at IS NULL;
CREATE INDEX inbox_unanswered_by_chat ON inbox (platform, chat, id) WHERE answered_at IS NULL;
CREATE INDEX inbox_by_age ON inbox (received_at);
