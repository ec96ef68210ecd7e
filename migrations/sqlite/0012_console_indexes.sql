-- What the operator's console reads (issue 19) without scanning the tables. Spending per day:
-- a day's settlements, each joined to its hold by request id; both indexes hold the columns
-- read, so the figures of a month come from the indexes alone.
CREATE INDEX ledger_settled_by_time ON ledger_entries (created_at, request_id, amount, feature)
    WHERE kind = 'settle';
CREATE INDEX ledger_reserve_by_request ON ledger_entries (request_id, amount) WHERE kind = 'reserve';
-- A user's messages: their conversations by count, their last activity on the users page.
CREATE INDEX messages_by_user ON messages (user_id, created_at);
