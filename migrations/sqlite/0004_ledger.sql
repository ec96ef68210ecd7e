-- The credit ledger (amounts in integer micro-USD). Every change to a balance is an
-- append-only entry; accounts.balance is kept equal to the sum of an account's entries by
-- the triggers below, in the same statement as the entry, so no code path can forget it.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    owner         TEXT    NOT NULL UNIQUE,  -- "user:<users.id>" or "chat:<platform>:<chat id>"
    balance       INTEGER NOT NULL DEFAULT 0,
    unlimited     INTEGER NOT NULL DEFAULT 0,
    refilled_at   REAL,                     -- start of the allowance period last refilled
    created_at    REAL    NOT NULL
);

CREATE TABLE ledger_entries (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    kind        TEXT    NOT NULL CHECK (kind IN
                ('allowance', 'grant', 'reserve', 'settle', 'refund', 'adjustment')),
    amount      INTEGER NOT NULL,
    request_id  TEXT,
    feature     TEXT,
    actor       TEXT,
    note        TEXT,
    created_at  REAL    NOT NULL
);
CREATE INDEX ledger_by_account ON ledger_entries (account_id, id);
-- A reservation is closed once: settled or refunded, never both, never twice.
CREATE UNIQUE INDEX ledger_closed_once ON ledger_entries (request_id)
    WHERE kind IN ('settle', 'refund');

-- A reserve never takes a limited account below zero: the insert fails instead, atomically.
CREATE TRIGGER ledger_no_overdraft BEFORE INSERT ON ledger_entries
WHEN NEW.kind = 'reserve' AND NEW.amount < 0 AND (
    SELECT unlimited = 0 AND balance + NEW.amount < 0 FROM accounts WHERE id = NEW.account_id
)
BEGIN
    SELECT RAISE(ABORT, 'insufficient balance');
END;

CREATE TRIGGER ledger_apply AFTER INSERT ON ledger_entries
BEGIN
    UPDATE accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id;
END;

-- Entries are never changed or removed.
CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
CREATE TRIGGER ledger_append_only_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
