-- Small facts the bot keeps between runs, such as a fingerprint of the slash commands last
-- synced to Discord (so they are synced only when they change).
CREATE TABLE bot_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
