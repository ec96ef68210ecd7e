"""The ledger's summary reads, in SQL both backends run as written (no placeholders): what each
settled action cost, and the totals the console's metrics read from the database."""

from __future__ import annotations

from core.ports.records import ANSWER_FEATURE

# Each settled action with its hold and any refund of its undelivered answer: it cost what was
# held minus what the settlement gave back, minus that refund; an undelivered one (``a``) is no
# action. Refunded holds have no settlement, so they are not here at all.
SETTLED = (
    "FROM ledger_entries s JOIN ledger_entries r ON r.request_id = s.request_id AND r.kind = 'reserve' "
    "LEFT JOIN ledger_entries a ON a.request_id = s.request_id AND a.kind = 'adjustment' "
    "WHERE s.kind = 'settle' "
)
SPENT = "SUM(-(r.amount + s.amount) - COALESCE(a.amount, 0))"
ACTIONS = "SUM(CASE WHEN a.id IS NULL THEN 1 ELSE 0 END)"
TURNS = f"SUM(CASE WHEN s.feature = '{ANSWER_FEATURE}' AND a.id IS NULL THEN 1 ELSE 0 END)"

# (feature, charged, actions) of every feature ever settled.
BY_FEATURE = f"SELECT COALESCE(s.feature, ''), {SPENT}, {ACTIONS} {SETTLED}GROUP BY 1"
# (granted, held, accounts): grants minus credit taken away (a link's move nets to nothing),
# what open reservations hold, and how many accounts there are.
OVERALL = (
    "SELECT (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE kind = 'grant' "
    "OR (kind = 'adjustment' AND request_id IS NULL)), "
    "(SELECT COALESCE(SUM(-r.amount), 0) FROM ledger_entries r WHERE r.kind = 'reserve' "
    "AND NOT EXISTS (SELECT 1 FROM ledger_entries c WHERE c.request_id = r.request_id "
    "AND c.kind IN ('settle', 'refund'))), (SELECT COUNT(*) FROM accounts)"
)
