"""What long-term recall needs from storage: a conversation's embedded chunks and a similarity search.

A chunk is a piece of a stored message (or of a document sent in the conversation) with its
embedding. Chunks belong to one conversation and are only ever searched within it, so nothing
recalled comes from another conversation or another user. They go when their message goes
(``/forget``, retention, a deleted conversation); an ephemeral conversation's live only in the
process, like its messages. SQLite and PostgreSQL implement it (adapters/storage/sqlite and
postgres), both by exact search in the process (adapters/storage/recall_index.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from core.ports.records import Conversation

ChunkKind = Literal["message", "document"]


@dataclass(frozen=True)
class MemoryChunk:
    """A piece of text to remember, with its embedding.

    ``message_id``: the stored message it comes from; a document's chunks carry the id of the
    message that brought the document (so they go when it goes).
    """

    message_id: int
    kind: ChunkKind
    role: str  # "user" or "assistant"
    text: str
    tokens: int
    vector: Sequence[float]


@dataclass(frozen=True)
class Recalled:
    """A chunk found by a search, with its cosine similarity to the query."""

    message_id: int
    kind: ChunkKind
    role: str
    text: str
    tokens: int
    score: float
    created_at: float


@dataclass(frozen=True)
class MemoryStats:
    """What a conversation remembers beyond its verbatim window, for /memory."""

    chunks: int = 0
    messages: int = 0  # distinct messages with chunks
    documents: int = 0  # distinct messages that brought a document
    tokens: int = 0


class VectorStore(Protocol):
    """Embedded chunks of conversations, searched by cosine similarity within one conversation."""

    async def add(self, conversation: Conversation, model: str, chunks: Sequence[MemoryChunk]) -> None:
        """Keep these chunks (embedded with ``model``); in memory only for an ephemeral conversation."""
        ...

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
        """The ``limit`` chunks most similar to ``query`` (cosine >= ``floor``), best first.

        Only this conversation's chunks embedded with ``model``; ``message`` chunks only of
        messages with an id below ``messages_before`` (older than the verbatim window);
        with ``before``, no chunk of that message or a later one (regenerating an answer).
        """
        ...

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
        """The ``limit`` chunks that best match any of ``words`` (BM25, word stems), best first.

        The same chunks and filters as ``search``; ``score`` is the match's rank score (higher is
        better). Finds what embeddings blur: names, numbers, codes.
        """
        ...

    async def last_embedded(self, conversation: Conversation) -> int:
        """The highest message id with a ``message`` chunk (0: none yet)."""
        ...

    async def stats(self, conversation: Conversation) -> MemoryStats:
        """How much this conversation remembers."""
        ...

    def drop(self, conversation_id: int) -> None:
        """Forget an ephemeral conversation's chunks (its reset; nothing on disk to delete)."""
        ...
