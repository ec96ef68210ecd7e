"""A database that cannot save (full disk, read-only): one clear error, nothing half-written.

Simulated with SQLite's own limits on the store's own connection, so the errors are SQLite's
real ones: ``PRAGMA max_page_count`` (SQLITE_FULL) and ``PRAGMA query_only`` (SQLITE_READONLY).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.storage.sqlite.database import Database
from adapters.storage.sqlite.store import SqliteStore
from core.errors import StorageUnavailable
from core.money import AllowancePolicy
from core.ports.records import ConversationKey
from core.storage_alarm import StorageAlarm

NOW = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(
        str(tmp_path / "bot.db"),
        policy=AllowancePolicy(amount=0, period="none"),
        clock=lambda: NOW,
        ledger_clock=lambda: NOW,
    ) as opened:
        yield opened


async def fill_disk(db: Database) -> None:
    """Let the database grow no more: every write that needs a new page fails as on a full disk."""
    pages = await db.pragma("page_count")
    await db.fetchall(f"PRAGMA max_page_count = {int(pages)}")


async def free_disk(db: Database) -> None:
    await db.fetchall("PRAGMA max_page_count = 1073741823")


KEY = ConversationKey("telegram", "1001", "1001", "private")


async def test_a_turn_that_cannot_be_saved_leaves_nothing_and_saves_once_space_returns(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    conversation = await store.conversations.active(KEY)
    user_id = await store.conversations.user_id("telegram", "1001", "Alice")
    await fill_disk(store.database)
    long = "a question that needs pages of its own " * 200
    with pytest.raises(StorageUnavailable) as info:
        await store.conversations.save_turn(
            conversation,
            user_id=user_id,
            question=long,
            question_tokens=2000,
            answer=long,
            answer_tokens=2000,
        )
    assert info.value.cause == StorageUnavailable.DISK_FULL
    assert "can't save right now" in info.value.user_message
    assert await store.conversations.count_messages(conversation) == 0  # no question without answer
    assert await store.conversations.last_turn(conversation) is None
    warnings = [r for r in caplog.records if r.name == "adapters.storage.sqlite.database"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING and not warnings[0].exc_info

    await free_disk(store.database)
    await store.conversations.save_turn(
        conversation, user_id=user_id, question=long, question_tokens=2000, answer="yes", answer_tokens=1
    )
    assert await store.conversations.count_messages(conversation) == 2


async def test_a_transaction_that_sqlite_ends_itself_is_reported_not_hidden_by_its_rollback(
    store: SqliteStore,
) -> None:
    # SQLite rolls a transaction back on its own when the disk is full; a second ROLLBACK
    # would fail with "no transaction is active" and hide why.
    db = store.database
    await db.executescript("CREATE TABLE notes (body TEXT)")
    await fill_disk(db)
    with pytest.raises(StorageUnavailable):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO notes VALUES ('small')")
            await conn.execute("INSERT INTO notes VALUES (?)", ("x" * 100_000,))
    assert await db.fetchall("SELECT body FROM notes") == []
    await free_disk(db)
    async with db.transaction() as conn:  # the connection is usable again
        await conn.execute("INSERT INTO notes VALUES ('after')")
    assert [r[0] for r in await db.fetchall("SELECT body FROM notes")] == ["after"]


async def test_a_read_only_database_refuses_paid_actions_but_still_reads_balances(
    store: SqliteStore,
) -> None:
    ledger = store.ledger
    await ledger.grant("user:1", 50_000, actor="test")
    before = await ledger.balance("user:1")
    await store.database.fetchall("PRAGMA query_only = ON")
    with pytest.raises(StorageUnavailable) as info:
        await ledger.reserve("user:1", 5_000, feature="chat")
    assert info.value.cause == StorageUnavailable.READ_ONLY
    assert await ledger.balance("user:1") == before  # reads still work; nothing was held
    assert await ledger.check() == []


async def test_settlements_the_database_could_not_save_are_written_once_it_can(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = store.ledger
    await ledger.grant("user:1", 100_000, actor="test")
    holds = [await ledger.reserve("user:1", 1_000, feature="chat") for _ in range(10)]
    await ledger.reserve("user:2", 0, feature="chat")  # another account, written normally later
    held = await ledger.balance("user:1")
    await store.database.fetchall("PRAGMA query_only = ON")
    await ledger.settle(holds[0], 100)  # alone: one statement
    await ledger.flush()
    for hold in holds[1:]:  # queued together: one transaction, rolled back whole
        await ledger.settle(hold, 100)
    await ledger.flush()
    assert await ledger.balance("user:1") == held  # no settlement was half-written
    assert await ledger.check() == []
    await asyncio.sleep(0)

    await store.database.fetchall("PRAGMA query_only = OFF")
    await ledger.grant("user:2", 1, actor="test")  # the next write carries them
    await ledger.flush()
    assert await ledger.balance("user:1") == 100_000 - 10 * 100
    assert await ledger.check() == []
    assert not [r for r in caplog.records if "refused" in r.getMessage()]


async def test_admins_are_alerted_once_an_hour_while_saving_fails(store: SqliteStore) -> None:
    now = [0.0]
    told: list[str] = []

    async def tell(text: str) -> None:
        told.append(text)

    alarm = StorageAlarm([tell], clock=lambda: now[0])
    store.watch_unavailable(alarm.report)
    await store.database.fetchall("PRAGMA query_only = ON")
    for minute in range(0, 120, 10):  # a failure every ten minutes for two hours
        now[0] = minute * 60.0
        with pytest.raises(StorageUnavailable):
            await store.state.set("k", str(minute))
        await asyncio.sleep(0)
    await alarm.aclose()
    assert len(told) == 2
    assert "read-only" in told[0] and "write access" in told[0] and "without a restart" in told[0]
