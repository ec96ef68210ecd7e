-- An account's own allowance per period, in micro-USD, set by an admin with /setallowance;
-- NULL follows the bot's default (USER_ALLOWANCE_USD).
ALTER TABLE accounts ADD COLUMN allowance INTEGER;
