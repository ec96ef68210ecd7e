"""Long-term recall in the SQLite file itself: what /forget and retention delete is gone from
the rows and from the bytes on disk, and the vector cache stays bounded yet correct."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.storage.sqlite.store import SqliteStore
from adapters.storage.sqlite.vectors import SqliteVectorStore
from core.money import AllowancePolicy
from core.ports.records import ConversationKey
from tests.contract.conftest import Now
from tests.contract.recall import MODEL, chunk, privacy_of, remembered, turn, two_users


@pytest.fixture
async def store(tmp_path: Path, now: Now) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(
        str(tmp_path / "bot.db"), policy=AllowancePolicy(amount=0, period="none"), clock=now, ledger_clock=now
    ) as opened:
        yield opened


@pytest.fixture
def now() -> Now:
    return Now()


async def rows(store: SqliteStore) -> int:
    """The chunk rows in the table, counted directly."""
    row = await store.database.fetchone("SELECT COUNT(*) FROM memory_chunks")
    assert row is not None
    return int(row[0])


def on_disk(store: SqliteStore) -> bytes:
    """The database file and its WAL, as stored."""
    path = Path(store.path)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_forget_removes_the_chunk_rows_and_their_bytes_and_keeps_other_users(
    store: SqliteStore, now: Now
) -> None:
    (mine, q1, a1), (theirs, q2, _) = await two_users(store, "alice-marker-3141 fact", "bob-marker-2718 fact")
    await store.vectors.add(
        mine, MODEL, [chunk(q1), chunk(a1), chunk(q1, "alice-marker-3141 doc", "document")]
    )
    await store.vectors.add(theirs, MODEL, [chunk(q2)])
    await store.privacy.checkpoint()
    assert b"alice-marker-3141 doc" in on_disk(store)
    await privacy_of(store, now).forget("telegram", "1")
    assert await rows(store) == 1
    data = on_disk(store)
    assert b"alice-marker-3141" not in data and b"bob-marker-2718" in data
    assert await remembered(store, theirs, "bob-marker-2718 fact") == ["bob-marker-2718 fact"]


async def test_retention_removes_the_chunk_rows_and_their_bytes(store: SqliteStore, now: Now) -> None:
    key = ConversationKey("telegram", "chat-1")
    conversation, question, answer = await turn(store, key, "old-marker-1618 fact", "ok")
    await store.vectors.add(conversation, MODEL, [chunk(question), chunk(answer)])
    now.advance(31 * 86_400)
    assert await privacy_of(store, now).sweep() == 2
    assert await rows(store) == 0
    assert b"old-marker-1618" not in on_disk(store)
    assert await remembered(store, conversation, "old-marker-1618 fact") == []


async def test_a_small_cache_reads_conversations_again_and_answers_the_same(store: SqliteStore) -> None:
    vectors = SqliteVectorStore(store.database, cache_bytes=1)  # room for one conversation only
    store.vectors = vectors
    found = {}
    for name in ("north", "south", "east"):
        conversation, question, answer = await turn(
            store, ConversationKey("telegram", name), f"the {name} tower is tall", f"{name} noted"
        )
        await vectors.add(conversation, MODEL, [chunk(question), chunk(answer)])
        found[name] = conversation
    for _ in range(2):  # each search pushes the previous conversation out of the cache
        for name, conversation in found.items():
            assert (await remembered(store, conversation, f"the {name} tower", limit=1)) == [
                f"the {name} tower is tall"
            ]
    assert len(vectors._cache) == 1
