"""Long-term recall's vector store in SQLite: the chunks in ``memory_chunks``, searched in the process.

The vectors live in ``memory_chunks`` (float32 blobs); the search is exact cosine in numpy and
BM25 over a cached block per conversation (adapters/storage/recall_index.py, shared with
PostgreSQL). Before each search one indexed query reads the conversation's (count, highest
id): ids are never reused (AUTOINCREMENT) and SQLite commits one writer at a time, so any
delete (/forget, retention, a regenerated turn, all by cascade) or a rolled-back add shows as a
difference, and the block is read again. An ephemeral conversation's chunks live only in this
process and never reach the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

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
from adapters.storage.sqlite.database import Database
from core.ports.vectors import MemoryChunk


class SqliteVectorStore(CachedVectorStore):
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
            was = await _state(conn, key)
            # A chunk of a message that is gone (regenerated, forgotten, expired while it was
            # being embedded) or of another conversation is not kept: nothing to remember.
            await conn.executemany(
                "INSERT INTO memory_chunks (conversation_id, message_id, kind, role, text, tokens, "
                "model, vector, created_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)",
                [
                    (
                        *(conversation_id, c.message_id, c.kind, c.role, c.text, c.tokens, model),
                        *(encode(c.vector), now, c.message_id, conversation_id),
                    )
                    for c in chunks
                ],
            )
            now_state = await _state(conn, key)
        # Some chunks not kept: the counts differ and the cached block is read again.
        self._cache.added(key, was, now_state, vectors, rows)

    async def _stored(self, key: Key) -> Block | None:
        return await self._cache.current(key, await _state(self._db, key), lambda: self._read(key))

    async def _last_stored(self, conversation_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(message_id), 0) FROM memory_chunks WHERE conversation_id = ? "
            "AND kind = 'message'",
            (conversation_id,),
        )
        return int(row[0]) if row else 0

    async def _stats_stored(self, conversation_id: int) -> Any:
        return await self._db.fetchone(
            "SELECT COUNT(*), COUNT(DISTINCT CASE WHEN kind = 'message' THEN message_id END), "
            "COUNT(DISTINCT CASE WHEN kind = 'document' THEN message_id END), COALESCE(SUM(tokens), 0) "
            "FROM memory_chunks WHERE conversation_id = ?",
            (conversation_id,),
        )

    async def _read(self, key: Key) -> Block | None:
        """Read one conversation's chunks of one model (one statement: a consistent snapshot)."""
        rows = await self._db.fetchall(
            "SELECT id, message_id, kind, role, text, tokens, vector, created_at FROM memory_chunks "
            "WHERE conversation_id = ? AND model = ? ORDER BY id",
            key,
        )
        return stored_block(rows)


async def _state(db: Database | aiosqlite.Connection, key: Key) -> State:
    """(count, highest id) of a conversation's chunks of one model, read from its index."""
    sql = "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM memory_chunks WHERE conversation_id = ? AND model = ?"
    if isinstance(db, Database):
        row = await db.fetchone(sql, key)
    else:  # the connection of a transaction this task holds
        async with db.execute(sql, key) as cursor:
            row = await cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
