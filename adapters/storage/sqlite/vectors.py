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

import aiosqlite

from adapters.storage.recall_index import (
    Block,
    BlockCache,
    Key,
    State,
    encode,
    normalised,
    prepared,
    stored_block,
)
from adapters.storage.sqlite.database import Database
from core.ports.records import Conversation
from core.ports.vectors import MemoryChunk, MemoryStats, Recalled


class SqliteVectorStore:
    """Chunks in ``memory_chunks``, searched by exact cosine over a per-conversation cache."""

    CACHE_BYTES = 64 * 1024 * 1024  # ~16,000 chunks of 1,024 dimensions across conversations

    def __init__(
        self, db: Database, *, clock: Callable[[], float] = time.time, cache_bytes: int | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._cache = BlockCache(self.CACHE_BYTES if cache_bytes is None else cache_bytes)

    async def add(self, conversation: Conversation, model: str, chunks: Sequence[MemoryChunk]) -> None:
        """Keep these chunks (embedded with ``model``); in memory only for an ephemeral conversation."""
        if not chunks:
            return
        now = self._clock()
        vectors, rows = prepared(chunks, now)
        key = (conversation.id, model)
        if conversation.in_memory:
            self._cache.keep_in_memory(key, vectors, rows)
            return
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
                        *(conversation.id, c.message_id, c.kind, c.role, c.text, c.tokens, model),
                        *(encode(c.vector), now, c.message_id, conversation.id),
                    )
                    for c in chunks
                ],
            )
            now_state = await _state(conn, key)
        # Some chunks not kept: the counts differ and the cached block is read again.
        self._cache.added(key, was, now_state, vectors, rows)

    async def search(
        self,
        conversation: Conversation,
        model: str,
        query: Sequence[float],
        *,
        limit: int,
        floor: float,
        messages_before: int,
        before: int | None = None,
    ) -> list[Recalled]:
        """The ``limit`` chunks most similar to ``query`` (cosine >= ``floor``), best first."""
        block = await self._block(conversation, model)
        if block is None:
            return []
        unit = normalised([query])[0]
        return block.search(unit, limit=limit, floor=floor, messages_before=messages_before, before=before)

    async def keyword_search(
        self,
        conversation: Conversation,
        model: str,
        words: Sequence[str],
        *,
        limit: int,
        messages_before: int,
        before: int | None = None,
    ) -> list[Recalled]:
        """The ``limit`` chunks that best match any of ``words`` (BM25), best first."""
        block = await self._block(conversation, model)
        if block is None:
            return []
        return block.keyword_search(words, limit=limit, messages_before=messages_before, before=before)

    async def _block(self, conversation: Conversation, model: str) -> Block | None:
        key = (conversation.id, model)
        if conversation.in_memory:
            return self._cache.in_memory(key)
        return await self._cache.current(key, await _state(self._db, key), lambda: self._read(key))

    async def last_embedded(self, conversation: Conversation) -> int:
        """The highest message id with a ``message`` chunk (0: none yet)."""
        if conversation.in_memory:
            return self._cache.last_in_memory(conversation.id)
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(message_id), 0) FROM memory_chunks WHERE conversation_id = ? "
            "AND kind = 'message'",
            (conversation.id,),
        )
        return int(row[0]) if row else 0

    async def stats(self, conversation: Conversation) -> MemoryStats:
        """How much this conversation remembers (chunks of every model)."""
        if conversation.in_memory:
            return self._cache.stats_in_memory(conversation.id)
        row = await self._db.fetchone(
            "SELECT COUNT(*), COUNT(DISTINCT CASE WHEN kind = 'message' THEN message_id END), "
            "COUNT(DISTINCT CASE WHEN kind = 'document' THEN message_id END), COALESCE(SUM(tokens), 0) "
            "FROM memory_chunks WHERE conversation_id = ?",
            (conversation.id,),
        )
        if row is None:
            return MemoryStats()
        return MemoryStats(
            chunks=int(row[0]), messages=int(row[1]), documents=int(row[2]), tokens=int(row[3])
        )

    def discard(self, conversation_id: int, message_ids: frozenset[int] | None) -> None:
        """Forget an ephemeral conversation's chunks: all of them (None), or those of these
        messages (a regenerated turn's; a stored conversation's go by cascade)."""
        self._cache.discard(conversation_id, message_ids)

    def drop(self, conversation_id: int) -> None:
        """Forget an ephemeral conversation's chunks (and any cached matrix of a stored one)."""
        self._cache.drop(conversation_id)

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
