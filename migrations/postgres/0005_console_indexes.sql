-- What the operator's console reads (issue 19) without scanning the table: a day's settled
-- actions (spending per day). Each is joined to its hold by ledger_reserved_once (0002), and a
-- user's messages are found by messages_by_user (0003).
CREATE INDEX ledger_settled_by_time ON ledger_entries (created_at) WHERE kind = 'settle';
