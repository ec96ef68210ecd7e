"""The credit ledger on PostgreSQL, shared by several workers: the same accounts and entries as
adapters/storage/sqlite/ledger.py.

Amounts are integer micro-USD. Balances change only by appending entries; the triggers of
migrations/postgres/0002_ledger.sql keep ``accounts.balance`` equal to the sum of the entries
and lock the account row while they check and change it. Each reserve and each settlement is
one statement that takes that lock first and decides on the balance it then reads, so workers
spending from one account queue on its row instead of spending the same credit.

No writer batches entries here (SQLite's ``GroupCommit`` exists because SQLite has one writer):
PostgreSQL takes concurrent writers, and a batch would hold the row locks of many accounts at
once, making workers wait on each other. Each entry is written, and committed, before the call
that writes it returns; ``flush()`` has nothing to wait for.

What is cached never goes stale across workers: an account's id (accounts are never removed
nor renamed), and the period an account is known to be refilled for (a later refill only moves
forward), both only once committed. Who pays for a user (links) is read each time: another
worker may link them.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from adapters.storage.ledger_reads import ACTIONS, BY_FEATURE, OVERALL, SETTLED, SPENT, TURNS
from adapters.storage.postgres.database import Database
from adapters.storage.rows import DAY, day_figures, day_start, ledger_totals
from core.errors import InvalidInput
from core.events import Charge
from core.money import AllowancePolicy, InsufficientCredit
from core.ports.records import (
    AccountView,
    Activity,
    DayFigures,
    Entry,
    LedgerTotals,
    OpenReservation,
    Reservation,
    TokenUse,
)

log = logging.getLogger(__name__)

UNDELIVERED_NOTE = "refund: the answer could not be delivered"

_COLUMNS = "account_id, kind, amount, request_id, feature, actor, note, created_at"
# A settlement or refund closes the reservation of its request, written to the account that
# made it; a second close (or a request never reserved) inserts nothing and raises nothing, so
# a unit of work it is part of goes on.
_CLOSE = (
    f"INSERT INTO ledger_entries ({_COLUMNS}) "
    "SELECT r.account_id, $2::text, $3::bigint, r.request_id, $4::text, NULL, $5::text, $6::float8 "
    "FROM ledger_entries r "
    "WHERE r.request_id = $1 AND r.kind = 'reserve' "
    "ON CONFLICT (request_id) WHERE kind IN ('settle', 'refund') DO NOTHING RETURNING id"
)
# A settlement beyond the hold: the account row is locked, then the extra charge capped by the
# balance as it is once locked (a limited account never goes below zero).
_SETTLE_BEYOND = (
    f"INSERT INTO ledger_entries ({_COLUMNS}) "
    "SELECT a.id, 'settle', CASE WHEN a.unlimited THEN -$2::bigint ELSE -LEAST($2, GREATEST(a.balance, 0)) END, "
    "r.request_id, $3::text, NULL, $4::text, $5::float8 FROM ledger_entries r JOIN accounts a ON a.id = r.account_id "
    "WHERE r.request_id = $1 AND r.kind = 'reserve' FOR UPDATE OF a "
    "ON CONFLICT (request_id) WHERE kind IN ('settle', 'refund') DO NOTHING RETURNING amount"
)


class Ledger:
    """Accounts, allowances and paid actions, for any number of workers on one database."""

    def __init__(
        self, db: Database, *, policy: AllowancePolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.policy = policy
        self._clock = clock
        self._accounts: dict[str, int] = {}
        self._refilled: dict[int, float] = {}  # account → period start known to be refilled

    async def account(self, owner: str, *, unlimited: bool = False) -> int:
        """The account id of an owner, opened on first use."""
        known = await self._existing_account(owner)
        if known is not None:
            return known
        opened = await self._db.fetchval(
            "INSERT INTO accounts (owner, unlimited, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (owner) DO NOTHING RETURNING id",
            owner,
            unlimited,
            self._clock(),
        )
        if opened is None:  # another worker opened it meanwhile: a new statement sees it
            opened = await self._db.fetchval("SELECT id FROM accounts WHERE owner = $1", owner)
        self._remember(owner, int(opened))
        return int(opened)

    def _remember(self, owner: str, account: int) -> None:
        """Cache an account's id once it is committed (a caller's transaction may roll it back)."""
        if not self._db.in_transaction():
            self._accounts[owner] = account

    async def _existing_account(self, owner: str) -> int | None:
        """The account id of an owner, if it has been opened (never opens one)."""
        if owner in self._accounts:
            return self._accounts[owner]
        found = await self._db.fetchval("SELECT id FROM accounts WHERE owner = $1", owner)
        if found is None:
            return None
        self._remember(owner, int(found))
        return int(found)

    async def owner_of_user(self, user_id: int) -> str:
        """The account a user pays from: their own, or the one they linked to."""
        owner = await self._db.fetchval("SELECT owner FROM account_links WHERE user_id = $1", user_id)
        return str(owner) if owner is not None else f"user:{user_id}"

    async def link(self, user_id: int, owner: str, *, actor: str) -> int:
        """Make ``user_id`` pay from ``owner`` from now on; moves their credit there.

        Returns the credit moved. The user's own entries stay with their old account. The link
        and the move are one transaction: a crash leaves both or neither.
        """
        own = f"user:{user_id}"
        if await self.owner_of_user(user_id) == owner or own == owner:
            raise InvalidInput("These accounts are linked already.")
        source = await self.account(own)
        await self._refill(source)  # what is due now moves with the rest
        now = self._clock()
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO account_links (user_id, owner, linked_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (user_id) DO UPDATE SET owner = excluded.owner, linked_at = excluded.linked_at",
                user_id,
                owner,
                now,
            )
            # Users linked to this one follow it to the new account.
            await self._db.execute("UPDATE account_links SET owner = $1 WHERE owner = $2", owner, own)
            # Both accounts locked in id order (two links made at once cannot deadlock), then
            # the balance read: what is moved is what the account holds at that moment.
            target = await self._existing_account(owner)
            rows = await self._db.fetch(
                "SELECT id, balance FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
                [source] if target is None else [source, target],
            )
            moved = max(0, next(int(row["balance"]) for row in rows if row["id"] == source))
            if moved:
                target = target if target is not None else await self.account(owner)
                await self._append(
                    source, "adjustment", -moved, actor=actor, note=f"moved to {owner} (linked)"
                )
                await self._append(target, "grant", moved, actor=actor, note=f"moved from {own} (linked)")
        return moved

    def forget_link(self, user_id: int) -> None:
        """Nothing to drop: links are read from the database each time (no cache to go stale)."""

    async def set_unlimited(self, owner: str, unlimited: bool) -> None:
        """Make an account unlimited (admins) or limited again."""
        account = await self.account(owner)
        await self._db.execute("UPDATE accounts SET unlimited = $1 WHERE id = $2", unlimited, account)

    async def balance(self, owner: str) -> int:
        """The owner's balance, after any allowance refill that is due."""
        account = await self.account(owner)
        await self._refill(account)
        return await self._balance(account)

    async def peek(self, owner: str) -> AccountView:
        """The owner's account as ``balance`` would show it, writing nothing.

        A refill that is due is counted but not booked (the owner's next use books it); an
        account never opened shows what it would open with.
        """
        row = await self._db.fetchrow(
            "SELECT balance, allowance, refilled_at, unlimited FROM accounts WHERE owner = $1", owner
        )
        balance, allowance, refilled_at, unlimited = (
            (int(row["balance"]), row["allowance"], row["refilled_at"], bool(row["unlimited"]))
            if row
            else (0, None, None, False)
        )
        start = self.policy.period_start(self._clock())
        due = start is not None and not unlimited and (refilled_at is None or refilled_at < start)
        pending = self._top_up(balance, allowance) if due else 0
        return AccountView(balance + pending, unlimited, pending)

    def _top_up(self, balance: int, allowance: int | None) -> int:
        """What a refill adds to an account holding ``balance``."""
        amount = self.policy.amount if allowance is None else int(allowance)
        return amount if self.policy.roll_over else max(0, amount - balance)

    async def reserve(
        self, owner: str, amount: int, *, feature: str, request_id: str | None = None
    ) -> Reservation:
        """Hold ``amount`` for a paid action, or raise ``InsufficientCredit``."""
        if amount < 0:
            raise ValueError("a reservation cannot be negative")
        account = await self.account(owner)
        await self._refill(account)
        request_id = request_id or secrets.token_hex(8)
        # One statement: the account row is locked, and the hold written only if the balance
        # then covers it. Refused, it writes nothing and raises nothing (a transaction of the
        # caller's goes on); the trigger would refuse an overdraft anyway.
        written = await self._db.fetchval(
            f"INSERT INTO ledger_entries ({_COLUMNS}) "
            "SELECT id, 'reserve', -$2::bigint, $3::text, $4::text, NULL, NULL, $5::float8 FROM accounts "
            "WHERE id = $1 AND (unlimited OR $2 = 0 OR balance >= $2) FOR UPDATE RETURNING id",
            account,
            amount,
            request_id,
            feature,
            self._clock(),
        )
        if written is None:
            available = await self._balance(account)
            refills = await self.allowance_of(owner) > 0
            raise InsufficientCredit(
                amount, available, self.policy.next_refill(self._clock()) if refills else None
            )
        return Reservation(request_id, account, amount, feature)

    async def settle(self, reservation: Reservation, cost: int, *, tokens: TokenUse | None = None) -> int:
        """Charge the real cost, returning what was held beyond it; returns the amount charged.

        A cost above the reservation is charged only as far as the balance goes (a limited
        account never goes below zero); the shortfall is the operator's. ``tokens``: what the
        request's prompt was made of, kept as the settlement's note for /usage. A reservation
        closed already is charged nothing more (0).
        """
        cost = max(0, cost)
        note = tokens.note() if tokens else None
        if cost <= reservation.amount:
            closed = await self._close(reservation, "settle", reservation.amount - cost, note=note)
            return cost if closed else 0
        returned = await self._db.fetchval(
            _SETTLE_BEYOND,
            reservation.request_id,
            cost - reservation.amount,
            reservation.feature,
            note,
            self._clock(),
        )
        return 0 if returned is None else reservation.amount - int(returned)

    async def refund(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the action failed)."""
        await self._close(reservation, "refund", reservation.amount)

    async def refund_undelivered(self, charge: Charge) -> bool:
        """Give back a settled charge whose answer was never delivered; once per request
        (a unique index refuses a second one: False)."""
        # Written to the account that made the reservation (as a settlement is); the trigger
        # refuses more than the request cost.
        written = await self._db.fetchval(
            f"INSERT INTO ledger_entries ({_COLUMNS}) "
            "SELECT r.account_id, 'adjustment', $2::bigint, r.request_id, $3::text, NULL, $4::text, "
            "$5::float8 FROM ledger_entries r WHERE r.request_id = $1 AND r.kind = 'reserve' "
            "ON CONFLICT (request_id) WHERE kind = 'adjustment' AND request_id IS NOT NULL DO NOTHING "
            "RETURNING id",
            charge.request_id,
            charge.amount,
            charge.feature,
            UNDELIVERED_NOTE,
            self._clock(),
        )
        return written is not None

    async def _close(
        self, reservation: Reservation, kind: str, amount: int, *, note: str | None = None
    ) -> bool:
        """Settle or refund once; closing an already closed reservation changes nothing (False)."""
        written = await self._db.fetchval(
            _CLOSE, reservation.request_id, kind, amount, reservation.feature, note, self._clock()
        )
        if written is None and not await self._db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE request_id = $1 AND kind = 'reserve')",
            reservation.request_id,
        ):
            log.warning("Asked to %s request %s, which was never reserved", kind, reservation.request_id)
        return written is not None

    async def flush(self) -> None:
        """Nothing to write: every entry is committed before the call that writes it returns."""

    async def grant(self, owner: str, amount: int, *, actor: str, note: str | None = None) -> int:
        """Add credit (or take it away, with a negative amount); returns the new balance."""
        if amount == 0:
            raise InvalidInput("A grant of zero changes nothing.")
        account = await self.account(owner)
        async with self._db.transaction():  # the balance read while this entry's lock is held
            await self._append(
                account, "grant" if amount > 0 else "adjustment", amount, actor=actor, note=note
            )
            return await self._balance(account)

    async def entries(self, owner: str, limit: int = 20) -> list[Entry]:
        """The newest entries of an account, newest first."""
        account = await self._existing_account(owner)
        if account is None:
            return []  # reading opens no account
        rows = await self._db.fetch(
            "SELECT id, kind, amount, request_id, feature, actor, note, created_at FROM "
            "ledger_entries WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
            account,
            limit,
        )
        return [Entry(*row) for row in rows]

    async def activity(self, owner: str, limit: int = 15) -> list[Activity]:
        """The newest actions and credits of an account, newest first, each action with its
        settlement or refund joined to it."""
        account = await self.account(owner)
        rows = await self._db.fetch(
            "SELECT r.kind, r.amount, r.feature, r.note, r.created_at, c.kind, c.amount, c.note "
            "FROM ledger_entries r LEFT JOIN ledger_entries c ON c.request_id = r.request_id "
            "AND c.kind IN ('settle', 'refund') "
            "WHERE r.account_id = $1 AND r.kind NOT IN ('settle', 'refund') ORDER BY r.id DESC LIMIT $2",
            account,
            limit,
        )
        items = []
        for kind, amount, feature, note, created, closed_by, closed, closing_note in rows:
            if kind != "reserve":
                items.append(Activity(created, kind, amount, feature=feature, note=note))
                continue
            status = {"settle": "charged", "refund": "refunded", None: "held"}[closed_by]
            final = amount + (closed or 0)  # a settle returns the rest (or charges more)
            tokens = TokenUse.from_note(closing_note)
            items.append(Activity(created, status, final, -amount, feature=feature, tokens=tokens))
        return items

    async def spending(self, owner: str, since: float) -> dict[str, int]:
        """What each feature cost the owner since a moment (open reservations included)."""
        account = await self._existing_account(owner)
        if account is None:
            return {}
        rows = await self._db.fetch(
            "SELECT feature, -SUM(amount) FROM ledger_entries WHERE account_id = $1 AND "
            "feature IS NOT NULL AND created_at >= $2 GROUP BY feature ORDER BY 2 DESC",
            account,
            since,
        )
        return {str(feature): int(total) for feature, total in rows if total}

    async def is_unlimited(self, owner: str) -> bool:
        """Whether the owner spends without a balance."""
        return bool(await self._db.fetchval("SELECT unlimited FROM accounts WHERE owner = $1", owner))

    async def check(self) -> list[str]:
        """Every account whose balance is not the sum of its entries (empty: all good).

        One statement: one snapshot of every account and entry, whatever other workers write meanwhile.
        """
        rows = await self._db.fetch(
            "SELECT a.owner, a.balance, COALESCE(SUM(e.amount), 0) AS total FROM accounts a "
            "LEFT JOIN ledger_entries e ON e.account_id = a.id GROUP BY a.id "
            "HAVING a.balance <> COALESCE(SUM(e.amount), 0) ORDER BY a.id"
        )
        return [f"{owner}: balance {bal} but entries sum to {total}" for owner, bal, total in rows]

    async def open_reservations(self) -> list[OpenReservation]:
        """Every hold neither settled nor refunded, oldest first."""
        rows = await self._db.fetch(
            "SELECT r.request_id, a.owner, -r.amount, r.feature, r.created_at "
            "FROM ledger_entries r JOIN accounts a ON a.id = r.account_id "
            "WHERE r.kind = 'reserve' AND NOT EXISTS (SELECT 1 FROM ledger_entries c "
            "WHERE c.request_id = r.request_id AND c.kind IN ('settle', 'refund')) ORDER BY r.id"
        )
        return [
            OpenReservation(str(rid), str(owner), int(amount), str(feature or ""), float(at))
            for rid, owner, amount, feature, at in rows
        ]

    async def count_accounts(self) -> int:
        """How many accounts are open."""
        return int(await self._db.fetchval("SELECT count(*) FROM accounts"))

    async def daily(self, since: float) -> list[DayFigures]:
        """Spending, turns and actions per UTC day with any, from the day of ``since``, oldest first."""
        rows = await self._db.fetch(
            f"SELECT floor(s.created_at / {DAY})::bigint AS day, {SPENT}, {TURNS}, {ACTIONS} "
            f"{SETTLED}AND s.created_at >= $1 GROUP BY day ORDER BY day",
            day_start(since),
        )
        return [day_figures(row) for row in rows]

    async def totals(self) -> LedgerTotals:
        """What was charged, settled, granted and held ever, and how many accounts there are."""
        by_feature = await self._db.fetch(BY_FEATURE)
        overall = (await self._db.fetch(OVERALL))[0]  # one row, always
        return ledger_totals(list(by_feature), overall)

    async def _balance(self, account: int) -> int:
        balance = await self._db.fetchval("SELECT balance FROM accounts WHERE id = $1", account)
        return int(balance) if balance is not None else 0

    async def set_allowance(self, owner: str, amount: int | None) -> None:
        """Give an account its own allowance per period (None: the default again).

        It applies from the next refill.
        """
        if amount is not None and amount < 0:
            raise InvalidInput("An allowance cannot be negative.")
        account = await self.account(owner)
        await self._db.execute("UPDATE accounts SET allowance = $1 WHERE id = $2", amount, account)

    async def allowance_of(self, owner: str) -> int:
        """The allowance per period this account gets."""
        row = await self._db.fetchrow("SELECT allowance FROM accounts WHERE owner = $1", owner)
        return self.policy.amount if row is None or row["allowance"] is None else int(row["allowance"])

    async def _refill(self, account: int) -> None:
        """Add the period's allowance once, the first time the account is used in a period.

        The period is marked first, by a conditional UPDATE that locks the row: of two workers
        refilling at once, the second waits, then finds the period marked and adds nothing.
        """
        start = self.policy.period_start(self._clock())
        if start is None or self._refilled.get(account) == start:
            return
        async with self._db.transaction():
            row = await self._db.fetchrow(
                "UPDATE accounts SET refilled_at = $2 WHERE id = $1 AND NOT unlimited "
                "AND (refilled_at IS NULL OR refilled_at < $2) RETURNING balance, allowance",
                account,
                start,
            )
            amount = self._top_up(int(row["balance"]), row["allowance"]) if row else 0
            if amount:
                await self._append(account, "allowance", amount, note=f"{self.policy.period} allowance")
        if not self._db.in_transaction():  # a caller's transaction may yet roll the refill back
            self._refilled[account] = start

    async def _append(
        self, account: int, kind: str, amount: int, *, actor: str | None = None, note: str | None = None
    ) -> None:
        # The triggers check the entry and update the balance within the same statement.
        await self._db.execute(
            f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6)",
            account,
            kind,
            amount,
            actor,
            note,
            self._clock(),
        )
