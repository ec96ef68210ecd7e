"""Long-term recall's vector store in PostgreSQL: the chunks in ``memory_chunks``, searched in the process.

The vectors live in ``memory_chunks`` (float32 in ``bytea``, as SQLite keeps them); the search
is exact cosine in numpy and BM25 over a cached block per conversation, as for SQLite
(adapters/storage/recall_index.py). One conversation's candidates are few (hundreds to a few
thousand), so exact search is fast and needs no extension; pgvector is not used (managed
servers may lack it, and it would index what a few matrix products already do).

Several workers write the same table, so before each search one indexed query reads the
conversation's (count, highest id) and a block read at another state is read again. That
holds across processes because an add takes a transaction-level lock per conversation before
its ids are drawn: adds to one conversation commit in id order, so every add raises the
highest id a reader can see, and every delete (/forget, retention, a regenerated turn, all by
cascade) lowers the count. Ids are never reused. An ephemeral conversation's chunks live only
in this process and never reach the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from adapters.storage.postgres.database import Connection, Database
from adapters.storage.recall_index import (
    Block,
    CachedVectorStore,
    Key,
    Matrix,
    Row,
    State,
    encode,
    stored_block,
)
from core.ports.vectors import MemoryChunk

# The first half of the two-key advisory lock an add takes per conversation ("reca"); the
# two-key space is apart from the one-key locks of migrations and polling.
ADD_LOCK = 0x72656361
_INT4 = 2**31 - 1  # the second key is an int4: a conversation id past it shares a lock, harmlessly


class PostgresVectorStore(CachedVectorStore):
    """Chunks in ``memory_chunks``, searched by exact cosine over a per-conversation cache."""

    def __init__(
        self, db: Database, *, clock: Callable[[], float] = time.time, cache_bytes: int | None = None
    ) -> None:
        super().__init__(clock=clock, cache_bytes=cache_bytes)
        self._db = db

    async def _add_stored(
        self, key: Key, chunks: Sequence[MemoryChunk], vectors: Matrix, rows: list[Row]
    ) -> None:
        conversation_id, model = key
        now = rows[0][5]  # the time ``prepared`` stamped them with
        async with self._db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", ADD_LOCK, conversation_id % _INT4)
            was = await _state(conn, key)
            # A chunk of a message that is gone (regenerated, forgotten, expired while it was
            # being embedded) or of another conversation is not kept: nothing to remember. The
            # messages kept are share-locked until the commit, so no delete slips in between.
            present = {
                int(r[0])
                for r in await conn.fetch(
                    "SELECT id FROM messages WHERE conversation_id = $1 AND id = ANY($2::bigint[]) "
                    "FOR KEY SHARE",
                    conversation_id,
                    sorted({c.message_id for c in chunks}),
                )
            }
            kept = [i for i, c in enumerate(chunks) if c.message_id in present]
            if kept:
                await conn.executemany(
                    "INSERT INTO memory_chunks (conversation_id, message_id, kind, role, text, tokens, "
                    "model, vector, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    [
                        (
                            *(conversation_id, chunks[i].message_id, chunks[i].kind, chunks[i].role),
                            *(chunks[i].text, chunks[i].tokens, model, encode(chunks[i].vector), now),
                        )
                        for i in kept
                    ],
                )
            now_state = await _state(conn, key)
        self._cache.added(key, was, now_state, vectors[kept], [rows[i] for i in kept])

    async def _stored(self, key: Key) -> Block | None:
        async with self._db.connection() as conn:
            return await self._cache.current(key, await _state(conn, key), lambda: self._read(conn, key))

    async def _last_stored(self, conversation_id: int) -> int:
        return int(
            await self._db.fetchval(
                "SELECT COALESCE(MAX(message_id), 0) FROM memory_chunks WHERE conversation_id = $1 "
                "AND kind = 'message'",
                conversation_id,
            )
        )

    async def _stats_stored(self, conversation_id: int) -> Any:
        return await self._db.fetchrow(
            "SELECT COUNT(*), COUNT(DISTINCT message_id) FILTER (WHERE kind = 'message'), "
            "COUNT(DISTINCT message_id) FILTER (WHERE kind = 'document'), COALESCE(SUM(tokens), 0) "
            "FROM memory_chunks WHERE conversation_id = $1",
            conversation_id,
        )

    async def _read(self, conn: Connection, key: Key) -> Block | None:
        """Read one conversation's chunks of one model (one statement: a consistent snapshot)."""
        rows = await conn.fetch(
            "SELECT id, message_id, kind, role, text, tokens, vector, created_at FROM memory_chunks "
            "WHERE conversation_id = $1 AND model = $2 ORDER BY id",
            *key,
        )
        return stored_block(rows)


async def _state(conn: Connection, key: Key) -> State:
    """(count, highest id) of a conversation's chunks of one model, read from its index."""
    row = await conn.fetchrow(
        "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM memory_chunks WHERE conversation_id = $1 AND model = $2",
        *key,
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)
