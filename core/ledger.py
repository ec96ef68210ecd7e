"""The credit ledger: reserve before a paid action, settle at the real price, refund on failure.

Amounts are integer micro-USD. Balances live in SQLite and change only by appending entries;
triggers keep ``accounts.balance`` equal to the sum of the entries and refuse a reserve that
would take a limited account below zero, so each reserve is one atomic statement and no two
requests can spend the same credit.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from core.errors import BotError, InvalidInput
from core.ports.records import AccountView, Activity, Entry, Reservation
from core.storage.database import Database

log = logging.getLogger(__name__)

MICRO = 1_000_000
Period = Literal["daily", "weekly", "monthly", "none"]


def usd(micro: int) -> str:
    """A micro-USD amount for people: $0.0042, $1.50, -$2.00."""
    sign, value = ("-" if micro < 0 else ""), abs(micro) / MICRO
    if value >= 1:
        return f"{sign}${value:,.2f}"
    if not value:
        return "$0"
    text = f"{value:.4f}".rstrip("0")
    if len(text.partition(".")[2]) < 2:  # cents keep two digits: $0.50, not $0.5
        text = f"{value:.2f}"
    return f"{sign}${text}"


def parse_usd(text: str) -> int:
    """A USD amount typed by a person ("5", "0.50", "$2", "-1") in micro-USD."""
    cleaned = text.strip().replace("$", "").replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        raise InvalidInput(f"{text!r} is not an amount in USD (e.g. 5 or 0.50).") from None
    if not -10_000 <= value <= 10_000:
        raise InvalidInput("Amounts are limited to ±10,000 USD at a time.")
    return round(value * MICRO)


@dataclass(frozen=True)
class AllowancePolicy:
    """How much credit each account gets, how often, and whether unused credit carries over.

    Without roll-over a refill tops the balance up to ``amount`` (credit granted beyond it is
    kept); with roll-over each refill adds ``amount``. Periods start at 00:00 UTC (Venice's own
    DIEM epoch), on Mondays for weekly, on the 1st for monthly.
    """

    amount: int = 0
    period: Period = "daily"
    roll_over: bool = False

    def period_start(self, now: float) -> float | None:
        """Start of the period that contains ``now`` (None: no allowance)."""
        if self.period == "none":
            return None
        day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "weekly":
            day -= timedelta(days=day.weekday())
        elif self.period == "monthly":
            day = day.replace(day=1)
        return day.timestamp()

    def next_refill(self, now: float) -> float | None:
        """When the next period starts (None: never)."""
        start = self.period_start(now)
        if start is None:
            return None
        begun = datetime.fromtimestamp(start, UTC)
        if self.period == "daily":
            return (begun + timedelta(days=1)).timestamp()
        if self.period == "weekly":
            return (begun + timedelta(days=7)).timestamp()
        days = calendar.monthrange(begun.year, begun.month)[1]
        return (begun + timedelta(days=days)).timestamp()


class InsufficientCredit(BotError):
    """The account cannot cover a reservation."""

    def __init__(self, needed: int, available: int, next_refill: float | None) -> None:
        when = (
            f" Your allowance refills at {datetime.fromtimestamp(next_refill, UTC):%Y-%m-%d %H:%M} UTC."
            if next_refill
            else ""
        )
        super().__init__(f"This needs about {usd(needed)}; you have {usd(max(0, available))}.{when}")
        self.needed = needed
        self.available = available
        self.next_refill = next_refill


_INSERT = (
    "INSERT INTO ledger_entries (account_id, kind, amount, request_id, feature, actor, note, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
Row = tuple[int, str, int, str | None, str | None, str | None, str | None, float]


class _GroupCommit:
    """Append entries, many per transaction when many requests arrive at once.

    Alone, an entry is one statement (one trip to the database thread, one commit). Entries
    that queue up meanwhile are written together: one transaction, one ``executemany``, one
    commit. A row the triggers refuse fails alone (the trigger's ABORT undoes only its own
    statement); the rest of the batch goes on. Results are given out only after the commit.
    """

    SMALL_BATCH = 4  # up to this many rows: one executemany without BEGIN/COMMIT (one trip)

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._writing = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def append(self, row: Row) -> None:
        """Write one entry; return once it is committed (or raise why it was refused)."""
        future = self._queue(row)
        if not self._writing:
            await self._drain()
        await future

    def append_later(self, row: Row) -> None:
        """Queue an entry without waiting: it is written before any entry queued after it.

        For settlements: the next write of the same user often comes right behind and
        shares its trip to the database thread. A refusal is only logged.
        """
        future = self._queue(row)
        future.add_done_callback(_log_refusal)
        if not self._writing:
            self._writing = True  # taken now, so entries queued meanwhile join this batch
            self._idle.clear()
            asyncio.get_running_loop().create_task(self._drain(started=True))

    async def flush(self) -> None:
        """Wait until every queued entry is written (reads call this first)."""
        if self._pending and not self._writing:
            await self._drain()
        await self._idle.wait()

    def _queue(self, row: Row) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        return future

    async def _drain(self, *, started: bool = False) -> None:
        if not started:
            self._writing = True
            self._idle.clear()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._write(batch)
        finally:
            self._writing = False
            self._idle.set()

    async def _write(self, batch: list[tuple[Row, asyncio.Future[None]]]) -> None:
        if len(batch) == 1:
            row, future = batch[0]
            try:
                await self._db.execute(_INSERT, row)
                future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - handed to the one waiting caller
                future.set_exception(exc)
            return
        outcomes: list[BaseException | None] = []
        try:
            # A few rows: each commits on its own, in one trip. More: one transaction.
            async with self._db.transaction(begin=len(batch) > self.SMALL_BATCH) as conn:
                rest = batch
                while rest:
                    before = conn.total_changes
                    try:
                        await conn.executemany(_INSERT, [row for row, _ in rest])
                        outcomes.extend([None] * len(rest))
                        rest = []
                    except sqlite3.IntegrityError as exc:
                        # Each applied row changed two rows (the entry, and the account's
                        # balance through the trigger); the next row is the one refused.
                        applied = (conn.total_changes - before) // 2
                        outcomes.extend([None] * applied)
                        outcomes.append(exc)
                        rest = rest[applied + 1 :]
        except Exception as exc:  # noqa: BLE001 - the transaction failed: nothing was written
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)


def _log_refusal(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("A queued ledger entry was refused: %s", future.exception())


def format_entries(entries: list[Entry]) -> str:
    """Raw entries for auditing (admins), newest first; users see ``format_activity``."""
    if not entries:
        return "No entries yet."
    lines = ["Latest entries (newest first, times in UTC):"]
    for entry in entries:
        what = entry.feature or entry.note or entry.kind
        lines.append(f"{_when(entry.created_at)} {entry.kind:<10} {usd(entry.amount):>10} {what}")
    return "\n".join(lines)


FEATURE_NAMES = {
    "chat": "answer",
    "summary": "conversation summary",
    "image": "image",
    "upscale": "upscale",
    "edit": "image edit",
    "speech": "voice reply",
    "transcription": "voice note transcribed",
    "video": "video",
}


def format_activity(items: list[Activity]) -> str:
    """A user's history, one line per action, newest first, for /usage."""
    if not items:
        return "Nothing yet: your paid actions and the credit you get will show here."
    lines = ["Your latest activity (newest first):"]
    for item in items:
        lines.append(f"{_when(item.created_at)} UTC  {_describe(item)}")
    return "\n".join(lines)


def _describe(item: Activity) -> str:
    name = FEATURE_NAMES.get(item.feature or "", item.feature or "")
    if item.status == "held":
        return f"{name}: {usd(item.amount)} held until it is done"
    if item.status == "refunded":
        back = f"{usd(item.held)} refunded" if item.held else "nothing charged"
        return f"{name}: failed, {back}"
    if item.status == "charged":
        return f"{name}: {usd(item.amount)}"
    sign = "+" if item.amount > 0 else ""
    if item.note and item.note.endswith("(linked)"):
        where = "to" if item.amount < 0 else "from"
        return f"credit moved {where} your linked account: {sign}{usd(item.amount)}"
    label = {
        "allowance": item.note or "allowance",
        "grant": "credit added",
        "adjustment": "credit taken away",
    }.get(item.status, item.status)
    return f"{label}: {sign}{usd(item.amount)}"


def _when(stamp: float) -> str:
    return f"{datetime.fromtimestamp(stamp, UTC):%Y-%m-%d %H:%M}"


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
        self._writer = _GroupCommit(db)
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

    async def settle(self, reservation: Reservation, cost: int) -> int:
        """Charge the real cost, returning what was held beyond it; returns the amount charged.

        A cost above the reservation is charged only as far as the balance goes (a limited
        account never goes below zero); the shortfall is the operator's.
        """
        cost = max(0, cost)
        if cost <= reservation.amount:
            # Queued, not awaited: it is written before anything this user does next (the
            # writer keeps order), usually in the same trip; reads flush the queue first.
            self._writer.append_later(
                (
                    reservation.account_id,
                    "settle",
                    reservation.amount - cost,
                    reservation.request_id,
                    reservation.feature,
                    None,
                    None,
                    self._clock(),
                )
            )
            return cost
        extra = cost - reservation.amount
        await self._writer.flush()  # the cap reads the balance
        # One statement: the extra charge is capped by the balance at that very moment.
        try:
            await self._db.execute(
                "INSERT INTO ledger_entries (account_id, kind, amount, request_id, feature, "
                "created_at) SELECT id, 'settle', "
                "CASE WHEN unlimited THEN -? ELSE -MIN(?, MAX(balance, 0)) END, "
                "?, ?, ? FROM accounts WHERE id = ?",
                (
                    extra,
                    extra,
                    reservation.request_id,
                    reservation.feature,
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
            "SELECT r.kind, r.amount, r.feature, r.note, r.created_at, c.kind, c.amount "
            "FROM ledger_entries r LEFT JOIN ledger_entries c ON c.request_id = r.request_id "
            "AND c.kind IN ('settle', 'refund') "
            "WHERE r.account_id = ? AND r.kind NOT IN ('settle', 'refund') ORDER BY r.id DESC LIMIT ?",
            (account, limit),
        )
        items = []
        for kind, amount, feature, note, created, closed_by, closed in rows:
            if kind != "reserve":
                items.append(Activity(created, kind, amount, feature=feature, note=note))
                continue
            status = {"settle": "charged", "refund": "refunded", None: "held"}[closed_by]
            final = amount + (closed or 0)  # a settle returns the rest (or charges more)
            items.append(Activity(created, status, final, -amount, feature=feature))
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
