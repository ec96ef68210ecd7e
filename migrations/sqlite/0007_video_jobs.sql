-- Video jobs outlive a restart: a job queued at Venice is polled again after the bot comes
-- back, delivered, and then deleted from Venice's storage (/video/complete).
CREATE TABLE video_jobs (
    id          TEXT PRIMARY KEY,          -- the bot's own id, shown in buttons
    status      TEXT NOT NULL,             -- quoted | queued | done | failed | cancelled
    platform    TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    thread_id   TEXT,
    user_id     TEXT NOT NULL,             -- the platform's user id of who asked
    owner       TEXT NOT NULL,             -- the ledger account that pays
    model       TEXT NOT NULL,
    request     TEXT NOT NULL,             -- the /video/queue body (JSON)
    quote       INTEGER NOT NULL,          -- micro-USD, marked up
    reservation TEXT,                      -- the ledger request id holding the money
    queue_id    TEXT,                      -- Venice's id once queued
    created_at  REAL NOT NULL,
    queued_at   REAL,
    finished_at REAL
);
CREATE INDEX video_jobs_status ON video_jobs (status);
