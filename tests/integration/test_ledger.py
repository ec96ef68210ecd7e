"""The ledger: no credit spent twice, balances always the sum of their entries, refills on time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.storage.sqlite.database import Database
from adapters.storage.sqlite.ledger import Ledger
from adapters.storage.sqlite.migrations import migrate
from core.money import AllowancePolicy, InsufficientCredit, usd

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "sqlite"


async def open_ledger(path: str, policy: AllowancePolicy | None = None, clock: list[float] | None = None):  # type: ignore[no-untyped-def]
    db_cm = Database.open(path)
    db = await db_cm.__aenter__()
    await migrate(db, MIGRATIONS)
    now = clock if clock is not None else [1_800_000_000.0]
    return db_cm, Ledger(db, policy=policy or AllowancePolicy(), clock=lambda: now[0])


async def test_200_concurrent_requests_from_one_user_spend_exactly_the_balance(tmp_path: Path) -> None:
    db_cm, ledger = await open_ledger(str(tmp_path / "l.db"))
    try:
        price = 1000
        await ledger.grant("user:1", 10 * price, actor="test")
        balances: list[int] = []

        async def request() -> bool:
            try:
                reservation = await ledger.reserve("user:1", price, feature="chat")
            except InsufficientCredit:
                return False
            balances.append(await ledger.balance("user:1"))
            await asyncio.sleep(0)  # the paid call happens here
            await ledger.settle(reservation, price)
            return True

        results = await asyncio.gather(*(request() for _ in range(200)))
        assert sum(results) == 10
        assert min(balances) >= 0
        assert await ledger.balance("user:1") == 0
        assert await ledger.check() == []
    finally:
        await db_cm.__aexit__(None, None, None)


async def test_a_short_balance_is_refused_with_what_is_needed_and_when_it_refills(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 25, 15, 0, tzinfo=UTC).timestamp()]
    policy = AllowancePolicy(amount=50_000, period="daily")
    db_cm, ledger = await open_ledger(str(tmp_path / "l.db"), policy, clock)
    try:
        with pytest.raises(InsufficientCredit) as info:
            await ledger.reserve("user:1", 80_000, feature="chat")
        message = info.value.user_message
        assert "needs about $0.08" in message and "you have $0.05" in message
        assert "2026-11-26 00:00 UTC" in message
    finally:
        await db_cm.__aexit__(None, None, None)


async def test_allowance_refills_at_the_period_boundary_with_or_without_roll_over(tmp_path: Path) -> None:
    for roll_over, expected in ((False, 100_000), (True, 170_000)):
        clock = [datetime(2026, 11, 25, 23, 59, tzinfo=UTC).timestamp()]
        policy = AllowancePolicy(amount=100_000, period="daily", roll_over=roll_over)
        db_cm, ledger = await open_ledger(str(tmp_path / f"l{roll_over}.db"), policy, clock)
        try:
            assert await ledger.balance("user:1") == 100_000  # first use: the day's allowance
            reservation = await ledger.reserve("user:1", 40_000, feature="chat")
            await ledger.settle(reservation, 30_000)
            assert await ledger.balance("user:1") == 70_000
            clock[0] += 59  # still the same day
            assert await ledger.balance("user:1") == 70_000
            clock[0] += 61  # 00:01 UTC: a new day
            assert await ledger.balance("user:1") == expected
            assert await ledger.balance("user:1") == expected  # refilled once only
            assert await ledger.check() == []
        finally:
            await db_cm.__aexit__(None, None, None)


def test_period_starts() -> None:
    wednesday = datetime(2026, 11, 25, 15, 30, tzinfo=UTC).timestamp()
    assert (
        AllowancePolicy(1, "weekly").period_start(wednesday) == datetime(2026, 11, 23, tzinfo=UTC).timestamp()
    )
    assert (
        AllowancePolicy(1, "monthly").next_refill(wednesday) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    )
    assert AllowancePolicy(1, "none").period_start(wednesday) is None
    assert usd(1_500_000) == "$1.50" and usd(4200) == "$0.0042" and usd(0) == "$0"


async def test_entries_are_append_only(tmp_path: Path) -> None:
    import sqlite3

    db_cm, ledger = await open_ledger(str(tmp_path / "l.db"))
    try:
        await ledger.grant("user:1", 10, actor="test")
        db = ledger._db
        for sql in ("UPDATE ledger_entries SET amount = 999", "DELETE FROM ledger_entries"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                await db.executescript(sql)
    finally:
        await db_cm.__aexit__(None, None, None)


async def test_entries_written_together_fail_alone(tmp_path: Path) -> None:
    """Concurrent entries share a transaction; one refused entry must not sink the others."""
    db_cm, ledger = await open_ledger(str(tmp_path / "l.db"))
    try:
        for user, credit in (("user:rich", 100_000), ("user:poor", 1_000), ("user:none", 0)):
            if credit:
                await ledger.grant(user, credit, actor="test")
        held = await ledger.reserve("user:rich", 5_000, feature="chat")
        attempts = [
            ("user:rich", 10_000),
            ("user:poor", 5_000),
            ("user:none", 1),
            ("user:rich", 20_000),
            ("user:poor", 1_000),
            ("user:none", 0),
        ]

        async def attempt(owner: str, amount: int) -> bool:
            try:
                await ledger.reserve(owner, amount, feature="chat")
            except InsufficientCredit:
                return False
            return True

        results = await asyncio.gather(
            *(attempt(o, a) for o, a in attempts), ledger.refund(held), ledger.refund(held)
        )
        assert results[:6] == [True, False, False, True, True, True]
        assert await ledger.balance("user:rich") == 100_000 - 30_000  # refunded once only
        assert await ledger.balance("user:poor") == 0
        assert await ledger.check() == []
    finally:
        await db_cm.__aexit__(None, None, None)


async def test_a_queued_settlement_is_seen_by_the_very_next_reserve(tmp_path: Path) -> None:
    db_cm, ledger = await open_ledger(str(tmp_path / "l.db"))
    try:
        await ledger.grant("user:1", 10_000, actor="test")
        first = await ledger.reserve("user:1", 10_000, feature="chat")
        await ledger.settle(first, 2_000)  # returns before it is written…
        second = await ledger.reserve("user:1", 8_000, feature="chat")  # …yet this sees it
        with pytest.raises(InsufficientCredit):
            await ledger.reserve("user:1", 1, feature="chat")
        await ledger.settle(second, 8_000)
        assert await ledger.balance("user:1") == 0
        kinds = [e.kind for e in await ledger.entries("user:1")]
        assert kinds == ["settle", "reserve", "settle", "reserve", "grant"]
        assert await ledger.check() == []
    finally:
        await db_cm.__aexit__(None, None, None)
