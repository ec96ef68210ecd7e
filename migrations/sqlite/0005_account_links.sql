-- One person on several platforms: a linked user pays from (and shows) the account of the
-- user they linked to. Users without a row here pay from their own account.
CREATE TABLE account_links (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id),
    owner      TEXT    NOT NULL,
    linked_at  REAL    NOT NULL
);
