-- The inbox: every message is recorded before the platform is told it arrived (before
-- Telegram's offset moves past it), and marked answered in the same transaction that stores
-- its answer and settles its charge. Messages still unanswered after a crash are answered at
-- start-up; a redelivered update finds its row and is not answered twice. It replaces
-- processed_updates, whose rows come along as answered.
CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY,       -- arrival order
    platform      TEXT NOT NULL,
    key           TEXT NOT NULL,             -- the platform's id of the update or message
    chat          TEXT NOT NULL,             -- the chat it came from (answered in order per chat)
    payload       TEXT,                      -- what answering it again needs; emptied when answered
    received_at   REAL NOT NULL,
    claimed_until REAL,                      -- a turn holds it until then (its lease)
    claimed_by    TEXT,                      -- the process that holds it
    answered_at   REAL,
    UNIQUE (platform, key)
);
CREATE INDEX inbox_unanswered ON inbox (platform, id) WHERE answered_at IS NULL;
CREATE INDEX inbox_by_age ON inbox (received_at);

INSERT INTO inbox (platform, key, chat, received_at, answered_at)
    SELECT platform, update_id, '', processed_at, processed_at FROM processed_updates;
DROP TABLE processed_updates;
