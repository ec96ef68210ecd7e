-- An answer that could not be delivered (Telegram's flood wait was too long) is refunded by
-- an 'adjustment' entry carrying the answer's request id. It is given back once only, however
-- often the refund is asked for: the database refuses a second one.
CREATE UNIQUE INDEX ledger_adjusted_once ON ledger_entries (request_id)
    WHERE kind = 'adjustment' AND request_id IS NOT NULL;
