-- Platform updates already handled, so a redelivered update (a webhook retry, a restart
-- before the offset was confirmed) is never answered twice. Old rows are pruned.
CREATE TABLE processed_updates (
    platform     TEXT NOT NULL,
    update_id    TEXT NOT NULL,
    processed_at REAL NOT NULL,
    PRIMARY KEY (platform, update_id)
) WITHOUT ROWID;
CREATE INDEX processed_updates_by_age ON processed_updates (processed_at);
