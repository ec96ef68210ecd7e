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

from adapters.storage.postgres.database import Connection, Database
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
from core.ports.records import Conversation
from core.ports.vectors import MemoryChunk, MemoryStats, Recalled

# The first half of the two-key advisory lock an add takes per conversation ("reca"); the
# two-key space is apart from the one-key locks of migrations and polling.
ADD_LOCK = 0x72656361
_INT4 = 2**31 - 1  # the second key is an int4: a conversation id past it shares a lock, harmlessly


class PostgresVectorStore:
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
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", ADD_LOCK, conversation.id % _INT4)
            was = await _state(conn, key)
            # A chunk of a message that is gone (regenerated, forgotten, expired while it was
            # being embedded) or of another conversation is not kept: nothing to remember. The
            # messages kept are share-locked until the commit, so no delete slips in between.
            present = {
                int(r[0])
                for r in await conn.fetch(
                    "SELECT id FROM messages WHERE conversation_id = $1 AND id = ANY($2::bigint[]) "
                    "FOR KEY SHARE",
                    conversation.id,
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
                            *(conversation.id, chunks[i].message_id, chunks[i].kind, chunks[i].role),
                            *(chunks[i].text, chunks[i].tokens, model, encode(chunks[i].vector), now),
                        )
                        for i in kept
                    ],
                )
            now_state = await _state(conn, key)
        self._cache.added(key, was, now_state, vectors[kept], [rows[i] for i in kept])

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
        async with self._db.connection() as conn:
            return await self._cache.current(key, await _state(conn, key), lambda: self._read(conn, key))

    async def last_embedded(self, conversation: Conversation) -> int:
        """The highest message id with a ``message`` chunk (0: none yet)."""
        if conversation.in_memory:
            return self._cache.last_in_memory(conversation.id)
        return int(
            await self._db.fetchval(
                "SELECT COALESCE(MAX(message_id), 0) FROM memory_chunks WHERE conversation_id = $1 "
                "AND kind = 'message'",
                conversation.id,
            )
        )

    async def stats(self, conversation: Conversation) -> MemoryStats:
        """How much this conversation remembers (chunks of every model)."""
        if conversation.in_memory:
            return self._cache.stats_in_memory(conversation.id)
        row = await self._db.fetchrow(
            "SELECT COUNT(*), COUNT(DISTINCT message_id) FILTER (WHERE kind = 'message'), "
            "COUNT(DISTINCT message_id) FILTER (WHERE kind = 'document'), COALESCE(SUM(tokens), 0) "
            "FROM memory_chunks WHERE conversation_id = $1",
            conversation.id,
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
