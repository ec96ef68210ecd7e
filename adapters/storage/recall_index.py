"""Long-term recall's search in the process, for every backend: exact cosine in numpy, BM25 beside it.

A search reads one conversation's chunks of one model, so the candidates are few (hundreds to
a few thousand): exact cosine over a cached matrix beats a vector extension at these sizes and
needs none (bench/vectors.py measures it). The backends keep the chunks (float32 blobs) and
say what the database holds now; this module keeps the matrices:

- ``Block``: one conversation's chunks of one model, their normalised vectors in rows, with the
  filters of a search and a keyword index (adapters/storage/recall_keywords.py) built on demand.
- ``BlockCache``: the blocks of stored conversations in an LRU bounded by bytes, each valid for
  the database ``State`` (count, highest id) it was read at and read again when that changed;
  and the blocks of ephemeral conversations, which live only here and never reach a database.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from adapters.storage.recall_keywords import KeywordIndex
from core.ports.records import Conversation
from core.ports.vectors import ChunkKind, MemoryChunk, MemoryStats, Recalled

Matrix: TypeAlias = npt.NDArray[np.float32]
Key: TypeAlias = tuple[int, str]  # (conversation id, embedding model)
State: TypeAlias = tuple[int, int]  # (count, highest id) of a key's rows in the database
Row: TypeAlias = tuple[int, ChunkKind, str, str, int, float]  # message id, kind, role, text, tokens, created


@dataclass
class Block:
    """One conversation's chunks of one model: normalised vectors in rows, and what each is.

    ``state`` is the database's (count, highest id) the block matches ((n, 0) in memory).
    """

    matrix: Matrix
    size: int = 0
    message_ids: list[int] = field(default_factory=list)
    documents: list[bool] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    state: State = (0, 0)
    text_bytes: int = 0
    _filters: tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]] | None = None  # built at a search
    _keywords: KeywordIndex | None = None  # built at the first keyword search

    @classmethod
    def empty(cls, dimensions: int) -> Block:
        """A block with no rows yet, for vectors of ``dimensions``."""
        return cls(np.empty((0, dimensions), dtype=np.float32))

    @property
    def dimensions(self) -> int:
        """The length of this block's vectors."""
        return int(self.matrix.shape[1])

    @property
    def nbytes(self) -> int:
        """About what the block holds in memory (the matrix and the texts)."""
        return int(self.matrix.nbytes) + self.text_bytes + 64 * self.size

    def append(self, vectors: Matrix, rows: Iterable[Row]) -> None:
        """Add normalised ``vectors`` with their (message id, kind, role, text, tokens, created_at)."""
        needed = self.size + len(vectors)
        if needed > len(self.matrix):  # grow by doubling: an append is amortised O(rows added)
            grown = np.empty((max(needed, 2 * len(self.matrix), 16), self.dimensions), dtype=np.float32)
            grown[: self.size] = self.matrix[: self.size]
            self.matrix = grown
        self.matrix[self.size : needed] = vectors
        self.size = needed
        self._filters = None
        first = len(self.texts)
        for message_id, kind, role, text, tokens, created in rows:
            self.message_ids.append(message_id)
            self.documents.append(kind == "document")
            self.roles.append(role)
            self.texts.append(text)
            self.text_bytes += len(text)
            self.tokens.append(tokens)
            self.created.append(created)
        if self._keywords is not None:
            self._keywords.append(self.texts[first:])

    def without(self, message_ids: frozenset[int]) -> Block:
        """A copy of this block without the chunks of these messages."""
        kept = [i for i, m in enumerate(self.message_ids) if m not in message_ids]
        block = Block.empty(self.dimensions)
        block.append(
            self.matrix[kept],
            (
                (
                    self.message_ids[i],
                    "document" if self.documents[i] else "message",
                    self.roles[i],
                    self.texts[i],
                    self.tokens[i],
                    self.created[i],
                )
                for i in kept
            ),
        )
        block.state = (block.size, 0)
        return block

    def search(
        self, query: Matrix, *, limit: int, floor: float, messages_before: int, before: int | None
    ) -> list[Recalled]:
        """The ``limit`` best rows by cosine (>= ``floor``), best first, within the filters."""
        if self.size == 0 or limit <= 0 or query.shape[0] != self.dimensions:
            return []
        scores = self.matrix[: self.size] @ query
        candidates = np.flatnonzero(self._allowed(messages_before, before) & (scores >= floor))
        if len(candidates) > limit:
            candidates = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        # Best first; among equal scores the older chunk first, so results are stable.
        order = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), i))
        return [self.recalled(i, float(scores[i])) for i in order]

    def keyword_search(
        self, words: Sequence[str], *, limit: int, messages_before: int, before: int | None
    ) -> list[Recalled]:
        """The ``limit`` best rows by BM25 over their words, best first, within the filters."""
        if self._keywords is None:
            self._keywords = KeywordIndex()
            self._keywords.append(self.texts)

        found = self._keywords.search(words, limit=limit, allowed=self._allowed(messages_before, before))
        return [self.recalled(i, score) for i, score in found]

    def _allowed(self, messages_before: int, before: int | None) -> npt.NDArray[np.bool_]:
        """Which rows a search may return: documents, and messages older than the window;
        with ``before``, nothing of that message or a later one."""
        if self._filters is None:
            self._filters = (
                np.fromiter(self.message_ids, dtype=np.int64, count=self.size),
                np.fromiter(self.documents, dtype=bool, count=self.size),
            )
        message_ids, documents = self._filters
        keep = documents | (message_ids < messages_before)
        if before is not None:
            keep &= message_ids < before
        return keep

    def recalled(self, i: int, score: float) -> Recalled:
        """Row ``i`` as a search result."""
        return Recalled(
            message_id=self.message_ids[i],
            kind="document" if self.documents[i] else "message",
            role=self.roles[i],
            text=self.texts[i],
            tokens=self.tokens[i],
            score=score,
            created_at=self.created[i],
        )


def normalised(vectors: Sequence[Sequence[float]] | Matrix) -> Matrix:
    """Rows scaled to unit length (a zero vector stays zero: it matches nothing)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return cast(Matrix, matrix / np.where(norms == 0, 1, norms))


def encode(vector: Sequence[float]) -> bytes:
    """A vector as stored: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def prepared(chunks: Sequence[MemoryChunk], now: float) -> tuple[Matrix, list[Row]]:
    """The chunks of one add as normalised vectors and rows; their vectors must share one length."""
    dimensions = {len(c.vector) for c in chunks}
    if len(dimensions) != 1 or 0 in dimensions:
        raise ValueError(f"Chunks of one add must have vectors of one non-zero length; got {dimensions}.")
    rows: list[Row] = [(c.message_id, c.kind, c.role, c.text, c.tokens, now) for c in chunks]
    return normalised([c.vector for c in chunks]), rows


def stored_block(rows: Sequence[Any]) -> Block | None:
    """A block of stored rows (id, message_id, kind, role, text, tokens, vector, created_at),
    read in id order by one statement, so their count and last id are the database's state."""
    if not rows:
        return None
    # The newest rows' length wins: vectors of another length (the model changed its size)
    # cannot be compared with a query of the new one. The state counts every row read, so
    # it matches the table's as this one statement saw it.
    width = len(rows[-1][6])
    state = (len(rows), int(rows[-1][0]))
    rows = [r for r in rows if len(r[6]) == width]
    raw = np.frombuffer(b"".join(bytes(r[6]) for r in rows), dtype="<f4").reshape(len(rows), width // 4)
    block = Block.empty(width // 4)
    block.append(
        normalised(raw),
        ((int(r[1]), cast(ChunkKind, r[2]), str(r[3]), str(r[4]), int(r[5]), float(r[7])) for r in rows),
    )
    block.state = state
    return block


class BlockCache:
    """The blocks a vector store searches: stored conversations' in an LRU bounded by bytes and
    checked against the database's state before each use; ephemeral ones' only in this process."""

    def __init__(self, cache_bytes: int) -> None:
        self._cache_bytes = cache_bytes
        self._cache: OrderedDict[Key, Block] = OrderedDict()
        self._memory: dict[Key, Block] = {}  # ephemeral conversations: never in a database

    def __len__(self) -> int:
        """How many stored conversations' blocks are cached."""
        return len(self._cache)

    def keep_in_memory(self, key: Key, vectors: Matrix, rows: list[Row]) -> None:
        """Add an ephemeral conversation's chunks."""
        block = self._memory.get(key)
        if block is None or block.dimensions != vectors.shape[1]:
            block = self._memory[key] = Block.empty(vectors.shape[1])
        block.append(vectors, rows)
        block.state = (block.size, 0)

    def in_memory(self, key: Key) -> Block | None:
        """An ephemeral conversation's block, if it has chunks of this model."""
        return self._memory.get(key)

    def last_in_memory(self, conversation_id: int) -> int:
        """The highest message id with a ``message`` chunk of an ephemeral conversation (0: none)."""
        return max(
            (
                m
                for (cid, _), block in self._memory.items()
                if cid == conversation_id
                for m, document in zip(block.message_ids, block.documents, strict=True)
                if not document
            ),
            default=0,
        )

    def stats_in_memory(self, conversation_id: int) -> MemoryStats:
        """How much an ephemeral conversation remembers (chunks of every model)."""
        blocks = [b for (cid, _), b in self._memory.items() if cid == conversation_id]
        pairs = [(m, d) for b in blocks for m, d in zip(b.message_ids, b.documents, strict=True)]
        return MemoryStats(
            chunks=len(pairs),
            messages=len({m for m, d in pairs if not d}),
            documents=len({m for m, d in pairs if d}),
            tokens=sum(sum(b.tokens) for b in blocks),
        )

    def added(self, key: Key, was: State, now: State, vectors: Matrix, rows: list[Row]) -> None:
        """Follow an add that took the database from ``was`` to ``now`` by storing ``rows``:
        append them to a current block, or forget a block that was behind (it is read again)."""
        cached = self._cache.get(key)
        if cached is None:
            return
        whole = now[0] - was[0] == len(rows)
        if whole and cached.state == was and cached.dimensions == vectors.shape[1]:
            cached.append(vectors, rows)
            cached.state = now
            self._cache.move_to_end(key)
            self._trim()
        else:
            del self._cache[key]

    async def current(
        self, key: Key, state: State, read: Callable[[], Awaitable[Block | None]]
    ) -> Block | None:
        """The block of a stored conversation at the database's ``state``: cached, or ``read``."""
        if state[0] == 0:
            self._cache.pop(key, None)
            return None
        cached = self._cache.get(key)
        if cached is not None and cached.state == state:
            self._cache.move_to_end(key)
            return cached
        block = await read()
        if block is None:
            self._cache.pop(key, None)
            return None
        self._cache[key] = block
        self._cache.move_to_end(key)
        self._trim()
        return block

    def discard(self, conversation_id: int, message_ids: frozenset[int] | None) -> None:
        """Forget an ephemeral conversation's chunks: all of them (None), or those of these
        messages (a regenerated turn's; a stored conversation's go by cascade)."""
        if message_ids is None:
            self.drop(conversation_id)
            return
        for key in [k for k in self._memory if k[0] == conversation_id]:
            self._memory[key] = self._memory[key].without(message_ids)

    def drop(self, conversation_id: int) -> None:
        """Forget an ephemeral conversation's chunks (and any cached block of a stored one)."""
        for table in (self._memory, self._cache):
            for key in [k for k in table if k[0] == conversation_id]:
                del table[key]

    def _trim(self) -> None:
        """Drop the least recently searched conversations past the byte bound (keep the newest)."""
        total = sum(b.nbytes for b in self._cache.values())
        while len(self._cache) > 1 and total > self._cache_bytes:
            _, gone = self._cache.popitem(last=False)
            total -= gone.nbytes


class CachedVectorStore:
    """What a backend's vector store does outside its SQL: ephemeral conversations here only,
    stored ones searched in their cached block. A backend writes and reads the rows
    (``_add_stored``, ``_stored``, ``_last_stored``, ``_stats_stored``)."""

    CACHE_BYTES = 64 * 1024 * 1024  # ~16,000 chunks of 1,024 dimensions across conversations

    def __init__(self, *, clock: Callable[[], float], cache_bytes: int | None) -> None:
        self._clock = clock
        self._cache = BlockCache(self.CACHE_BYTES if cache_bytes is None else cache_bytes)

    async def add(self, conversation: Conversation, model: str, chunks: Sequence[MemoryChunk]) -> None:
        """Keep these chunks (embedded with ``model``); in memory only for an ephemeral conversation."""
        if not chunks:
            return
        vectors, rows = prepared(chunks, self._clock())
        key = (conversation.id, model)
        if conversation.in_memory:
            self._cache.keep_in_memory(key, vectors, rows)
            return
        await self._add_stored(key, chunks, vectors, rows)

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

    async def last_embedded(self, conversation: Conversation) -> int:
        """The highest message id with a ``message`` chunk (0: none yet)."""
        if conversation.in_memory:
            return self._cache.last_in_memory(conversation.id)
        return await self._last_stored(conversation.id)

    async def stats(self, conversation: Conversation) -> MemoryStats:
        """How much this conversation remembers (chunks of every model)."""
        if conversation.in_memory:
            return self._cache.stats_in_memory(conversation.id)
        row = await self._stats_stored(conversation.id)
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

    async def _block(self, conversation: Conversation, model: str) -> Block | None:
        key = (conversation.id, model)
        return self._cache.in_memory(key) if conversation.in_memory else await self._stored(key)

    async def _add_stored(
        self, key: Key, chunks: Sequence[MemoryChunk], vectors: Matrix, rows: list[Row]
    ) -> None:
        """Insert a stored conversation's chunks (those whose message is still there) and tell
        the cache (``BlockCache.added``)."""
        raise NotImplementedError

    async def _stored(self, key: Key) -> Block | None:
        """A stored conversation's block as the database holds it now (``BlockCache.current``)."""
        raise NotImplementedError

    async def _last_stored(self, conversation_id: int) -> int:
        raise NotImplementedError

    async def _stats_stored(self, conversation_id: int) -> Any:
        """(chunks, distinct messages, distinct documents, tokens) of a stored conversation."""
        raise NotImplementedError
