"""The credit ledger: reserve before a paid action, settle at the real price, refund on failure.

Amounts are integer micro-USD. Balances live in SQLite and change only by appending entries;
triggers keep ``accounts.balance`` equal to the sum of the entries and refuse a reserve that
would take a limited account below zero, so each reserve is one atomic statement and no two
requests can spend the same credit.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from collections.abc import Callable

from adapters.storage.ledger_reads import ACTIONS, BY_FEATURE, OVERALL, SETTLED, SPENT, TURNS
from adapters.storage.rows import DAY, day_figures, day_start, ledger_totals
from adapters.storage.sqlite.database import Database
from adapters.storage.sqlite.ledger_writer import GroupCommit
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


class Ledger:
    """Accounts, allowances and paid actions."""

    def __init__(
        self, db: Database, *, policy: AllowancePolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.policy = policy
        self._clock = clock
        self._accounts: dict[str, int] = {}
        self._refilled: dict[int, float] = {}  # account → period start known to be refilled
        self._writer = GroupCommit(db)
        self._links: dict[int, str] = {}

    async def account(self, owner: str, *, unlimited: bool = False) -> int:
        """The account id of an owner, opened on first use."""
        if owner in self._accounts:
            return self._accounts[owner]
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO accounts (owner, unlimited, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (owner) DO NOTHING",
                (owner, int(unlimited), self._clock()),
            )
            async with conn.execute("SELECT id FROM accounts WHERE owner = ?", (owner,)) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        self._accounts[owner] = int(row[0])
        return int(row[0])

    async def owner_of_user(self, user_id: int) -> str:
        """The account a user pays from: their own, or the one they linked to."""
        if user_id in self._links:
            return self._links[user_id]
        row = await self._db.fetchone("SELECT owner FROM account_links WHERE user_id = ?", (user_id,))
        owner = str(row[0]) if row else f"user:{user_id}"
        self._links[user_id] = owner
        return owner

    async def link(self, user_id: int, owner: str, *, actor: str) -> int:
        """Make ``user_id`` pay from ``owner`` from now on; moves their credit there.

        Returns the credit moved. The user's own entries stay with their old account.
        """
        own = f"user:{user_id}"
        if await self.owner_of_user(user_id) == owner or own == owner:
            raise InvalidInput("These accounts are linked already.")
        moved = max(0, await self.balance(own))
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO account_links (user_id, owner, linked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET owner = excluded.owner, linked_at = excluded.linked_at",
                (user_id, owner, self._clock()),
            )
            # Users linked to this one follow it to the new account.
            await conn.execute("UPDATE account_links SET owner = ? WHERE owner = ?", (owner, own))
        if moved:
            await self.grant(own, -moved, actor=actor, note=f"moved to {owner} (linked)")
            await self.grant(owner, moved, actor=actor, note=f"moved from {own} (linked)")
        self._links = {k: (owner if v == own else v) for k, v in self._links.items()}
        self._links[user_id] = owner
        return moved

    def forget_link(self, user_id: int) -> None:
        """Drop a cached link (its row was deleted: the user pays from their own account)."""
        self._links.pop(user_id, None)

    async def set_unlimited(self, owner: str, unlimited: bool) -> None:
        """Make an account unlimited (admins) or limited again."""
        account = await self.account(owner)
        await self._db.execute("UPDATE accounts SET unlimited = ? WHERE id = ?", (int(unlimited), account))

    async def _existing_account(self, owner: str) -> int | None:
        """The account id of an owner, if it has been opened (never opens one)."""
        if owner in self._accounts:
            return self._accounts[owner]
        row = await self._db.fetchone("SELECT id FROM accounts WHERE owner = ?", (owner,))
        return int(row[0]) if row else None

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
        await self._writer.flush()
        row = await self._db.fetchone(
            "SELECT balance, allowance, refilled_at, unlimited FROM accounts WHERE owner = ?", (owner,)
        )
        balance, allowance, refilled_at, unlimited = row if row else (0, None, None, 0)
        start = self.policy.period_start(self._clock())
        due = start is not None and not unlimited and (refilled_at is None or refilled_at < start)
        pending = self._top_up(int(balance), allowance) if due else 0
        return AccountView(int(balance) + pending, bool(unlimited), pending)

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
        try:
            await self._append(account, "reserve", -amount, request_id=request_id, feature=feature)
        except sqlite3.IntegrityError as exc:
            if "insufficient balance" not in str(exc):
                raise
            available = await self._balance(account)
            refills = await self.allowance_of(owner) > 0
            raise InsufficientCredit(
                amount, available, self.policy.next_refill(self._clock()) if refills else None
            ) from None
        return Reservation(request_id, account, amount, feature)

    async def settle(self, reservation: Reservation, cost: int, *, tokens: TokenUse | None = None) -> int:
        """Charge the real cost, returning what was held beyond it; returns the amount charged.

        A cost above the reservation is charged only as far as the balance goes (a limited
        account never goes below zero); the shortfall is the operator's. ``tokens``: what the
        request's prompt was made of, kept as the settlement's note for /usage.
        """
        cost = max(0, cost)
        note = tokens.note() if tokens else None
        if cost <= reservation.amount:
            entry = (
                reservation.account_id,
                "settle",
                reservation.amount - cost,
                reservation.request_id,
                reservation.feature,
                None,
                note,
                self._clock(),
            )
            if self._db.in_transaction():  # part of a unit (the answer saved with it)
                try:
                    await self._writer.append(entry)
                except sqlite3.IntegrityError as exc:
                    if "UNIQUE" not in str(exc):
                        raise
                    return 0  # closed already
                return cost
            # Queued, not awaited: it is written before anything this user does next (the
            # writer keeps order), usually in the same trip; reads flush the queue first.
            self._writer.append_later(entry)
            return cost
        extra = cost - reservation.amount
        await self._writer.flush()  # the cap reads the balance
        # One statement: the extra charge is capped by the balance at that very moment.
        try:
            await self._db.execute(
                "INSERT INTO ledger_entries (account_id, kind, amount, request_id, feature, "
                "note, created_at) SELECT id, 'settle', "
                "CASE WHEN unlimited THEN -? ELSE -MIN(?, MAX(balance, 0)) END, "
                "?, ?, ?, ? FROM accounts WHERE id = ?",
                (
                    extra,
                    extra,
                    reservation.request_id,
                    reservation.feature,
                    note,
                    self._clock(),
                    reservation.account_id,
                ),
            )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                raise
            return 0  # closed already: nothing more is charged
        row = await self._db.fetchone(
            "SELECT amount FROM ledger_entries WHERE request_id = ? AND kind = 'settle'",
            (reservation.request_id,),
        )
        return reservation.amount - int(row[0]) if row else reservation.amount

    async def refund(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the action failed)."""
        await self._close(reservation, "refund", reservation.amount)

    async def refund_undelivered(self, charge: Charge) -> bool:
        """Give back a settled charge whose answer was never delivered; once per request
        (a unique index refuses a second one: False)."""
        try:
            await self._append(
                charge.account_id,
                "adjustment",
                charge.amount,
                request_id=charge.request_id,
                feature=charge.feature,
                note=UNDELIVERED_NOTE,
            )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                raise
            return False
        return True

    async def _close(self, reservation: Reservation, kind: str, amount: int) -> bool:
        """Settle or refund once; closing an already closed reservation changes nothing."""
        try:
            await self._append(
                reservation.account_id,
                kind,
                amount,
                request_id=reservation.request_id,
                feature=reservation.feature,
            )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                raise
            return False
        return True

    async def flush(self) -> None:
        """Write every queued entry now (before the database closes)."""
        await self._writer.flush()

    async def grant(self, owner: str, amount: int, *, actor: str, note: str | None = None) -> int:
        """Add credit (or take it away, with a negative amount); returns the new balance."""
        if amount == 0:
            raise InvalidInput("A grant of zero changes nothing.")
        account = await self.account(owner)
        await self._append(account, "grant" if amount > 0 else "adjustment", amount, actor=actor, note=note)
        return await self._balance(account)

    async def entries(self, owner: str, limit: int = 20) -> list[Entry]:
        """The newest entries of an account, newest first."""
        account = await self._existing_account(owner)
        if account is None:
            return []  # reading opens no account
        await self._writer.flush()
        rows = await self._db.fetchall(
            "SELECT id, kind, amount, request_id, feature, actor, note, created_at FROM "
            "ledger_entries WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            (account, limit),
        )
        return [Entry(*row) for row in rows]

    async def activity(self, owner: str, limit: int = 15) -> list[Activity]:
        """The newest actions and credits of an account, newest first, each action with its
        settlement or refund joined to it."""
        account = await self.account(owner)
        await self._writer.flush()
        rows = await self._db.fetchall(
            "SELECT r.kind, r.amount, r.feature, r.note, r.created_at, c.kind, c.amount, c.note "
            "FROM ledger_entries r LEFT JOIN ledger_entries c ON c.request_id = r.request_id "
            "AND c.kind IN ('settle', 'refund') "
            "WHERE r.account_id = ? AND r.kind NOT IN ('settle', 'refund') ORDER BY r.id DESC LIMIT ?",
            (account, limit),
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
        await self._writer.flush()
        rows = await self._db.fetchall(
            "SELECT feature, -SUM(amount) FROM ledger_entries WHERE account_id = ? AND "
            "feature IS NOT NULL AND created_at >= ? GROUP BY feature ORDER BY 2 DESC",
            (account, since),
        )
        return {str(feature): int(total) for feature, total in rows if total}

    async def is_unlimited(self, owner: str) -> bool:
        """Whether the owner spends without a balance."""
        row = await self._db.fetchone("SELECT unlimited FROM accounts WHERE owner = ?", (owner,))
        return bool(row and row[0])

    async def check(self) -> list[str]:
        """Every account whose balance is not the sum of its entries (empty: all good)."""
        await self._writer.flush()
        rows = await self._db.fetchall(
            "SELECT a.owner, a.balance, COALESCE(SUM(e.amount), 0) FROM accounts a "
            "LEFT JOIN ledger_entries e ON e.account_id = a.id GROUP BY a.id "
            "HAVING a.balance != COALESCE(SUM(e.amount), 0)"
        )
        return [f"{owner}: balance {bal} but entries sum to {total}" for owner, bal, total in rows]

    async def open_reservations(self) -> list[OpenReservation]:
        """Every hold neither settled nor refunded, oldest first."""
        await self._writer.flush()
        rows = await self._db.fetchall(
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
        row = await self._db.fetchone("SELECT COUNT(*) FROM accounts")
        return int(row[0]) if row else 0

    async def daily(self, since: float) -> list[DayFigures]:
        """Spending, turns and actions per UTC day with any, from the day of ``since``, oldest first."""
        await self._writer.flush()
        rows = await self._db.fetchall(
            f"SELECT CAST(s.created_at / {DAY} AS INTEGER) AS day, {SPENT}, {TURNS}, {ACTIONS} "
            f"{SETTLED}AND s.created_at >= ? GROUP BY day ORDER BY day",
            (day_start(since),),
        )
        return [day_figures(row) for row in rows]

    async def totals(self) -> LedgerTotals:
        """What was charged, settled, granted and held ever, and how many accounts there are."""
        await self._writer.flush()
        by_feature = await self._db.fetchall(BY_FEATURE)
        overall = (await self._db.fetchall(OVERALL))[0]  # one row, always
        return ledger_totals(list(by_feature), overall)

    async def _balance(self, account: int) -> int:
        await self._writer.flush()
        row = await self._db.fetchone("SELECT balance FROM accounts WHERE id = ?", (account,))
        return int(row[0]) if row else 0

    async def set_allowance(self, owner: str, amount: int | None) -> None:
        """Give an account its own allowance per period (None: the default again).

        It applies from the next refill.
        """
        if amount is not None and amount < 0:
            raise InvalidInput("An allowance cannot be negative.")
        account = await self.account(owner)
        await self._db.execute("UPDATE accounts SET allowance = ? WHERE id = ?", (amount, account))

    async def allowance_of(self, owner: str) -> int:
        """The allowance per period this account gets."""
        row = await self._db.fetchone("SELECT allowance FROM accounts WHERE owner = ?", (owner,))
        return self.policy.amount if row is None or row[0] is None else int(row[0])

    async def _refill(self, account: int) -> None:
        """Add the period's allowance once, the first time the account is used in a period."""
        start = self.policy.period_start(self._clock())
        if start is None or self._refilled.get(account) == start:
            return
        await self._writer.flush()  # the top-up reads the balance: settle what is queued first
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE accounts SET refilled_at = ? WHERE id = ? AND unlimited = 0 "
                "AND (refilled_at IS NULL OR refilled_at < ?)",
                (start, account, start),
            )
            if cursor.rowcount == 1:
                async with conn.execute(
                    "SELECT balance, allowance FROM accounts WHERE id = ?", (account,)
                ) as c:
                    row = await c.fetchone()
                amount = self._top_up(int(row[0]), row[1]) if row else 0
                if amount:
                    await conn.execute(
                        "INSERT INTO ledger_entries (account_id, kind, amount, note, created_at) "
                        "VALUES (?, 'allowance', ?, ?, ?)",
                        (account, amount, f"{self.policy.period} allowance", self._clock()),
                    )
        self._refilled[account] = start

    async def _append(
        self,
        account: int,
        kind: str,
        amount: int,
        *,
        request_id: str | None = None,
        feature: str | None = None,
        actor: str | None = None,
        note: str | None = None,
    ) -> None:
        # The triggers update the balance (or refuse the entry) within the same statement.
        await self._writer.append((account, kind, amount, request_id, feature, actor, note, self._clock()))
