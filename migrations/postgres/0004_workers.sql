-- What workers share besides the stores (adapters/storage/postgres/coordination.py). Nothing
-- here is data to keep: db copy skips these tables, and a worker cleans up old rows as it beats.

-- Each running worker, beating every few seconds; a worker whose beat is old is gone.
CREATE TABLE workers (
    id         text        PRIMARY KEY,
    host       text        NOT NULL,
    pid        integer     NOT NULL,
    started_at timestamptz NOT NULL,
    last_beat  timestamptz NOT NULL
);

-- Uses of a limit (a user's paid requests, the key's requests to one model) per fixed window;
-- the limit weighs the previous window's count by how much of it still overlaps the last
-- ``window`` seconds (a sliding window, approximately, in one row per key and window).
CREATE TABLE rate_hits (
    key          text    NOT NULL,
    window_start bigint  NOT NULL,  -- Unix seconds, a multiple of the window length
    hits         integer NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Failed Venice requests, so every worker keeps the key under Venice's block together.
CREATE TABLE venice_failures (
    id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker text        NOT NULL,
    at     timestamptz NOT NULL
);
CREATE INDEX venice_failures_at ON venice_failures (at);

-- Leases on work one worker does at a time for a long while (following a video job), renewed
-- while it runs and taken over by another once it runs out.
CREATE TABLE leases (
    name   text        PRIMARY KEY,
    holder text        NOT NULL,
    until  timestamptz NOT NULL
);
