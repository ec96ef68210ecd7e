"""Long-term recall: what left the verbatim window is embedded once, in chunks, and the few
chunks most like the newest message come back into its prompt, just before it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.catalogue import Catalogue
from core.errors import BotError
from core.ports.records import Conversation, StoredMessage
from core.ports.vectors import MemoryChunk, MemoryStats, Recalled, VectorStore
from core.text import estimate_tokens
from core.venice.client import VeniceClient
from core.venice.types import ChatMessage, Embeddings, ModelInfo

CHUNK_TOKENS = 20  # a sentence or two: a recalled fact brings little else along (bench/cost.py)
TOP_K = 3  # chunks recalled at most per turn
FLOOR = 0.3  # cosine below this is not "about the same thing"
QUERY_CHARS = 2_000  # a long paste is searched by its start
QUERY_WORDS = 48
_WORD = re.compile(r"\w+")
RECALL_HEADER = (
    "Earlier in this conversation (recalled from long-term memory; the user may have said more since):"
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n\s*\n")


def chunks(text: str, size: int = CHUNK_TOKENS) -> list[str]:
    """Split text into pieces of about ``size`` tokens at sentence ends (a long sentence at spaces)."""
    pieces: list[str] = []
    current = ""
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if not sentence:
            continue
        for part in _split_long(sentence, size):
            if current and estimate_tokens(current) + estimate_tokens(part) > size:
                pieces.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _split_long(sentence: str, size: int) -> list[str]:
    if estimate_tokens(sentence) <= size:
        return [sentence]
    out: list[str] = []
    current = ""
    for whole in sentence.split():
        word = whole[: size * 4]  # one "word" longer than a chunk (a URL, base64) is cut
        if current and estimate_tokens(current) + estimate_tokens(word) > size:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        out.append(current)
    return out


def query_words(text: str) -> list[str]:
    """The words of a question to match literally: distinct, in order, at most ``QUERY_WORDS``."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and len(seen) < QUERY_WORDS:
            seen.setdefault(word, None)
    return list(seen)


def fused(*rankings: list[Recalled]) -> list[Recalled]:
    """The rankings interleaved, best first, each chunk once: the best by meaning, the best by
    words, the second by meaning... A chunk that only one search finds (a code that embeddings
    blur, a paraphrase that shares no word) still makes the top few."""
    seen: set[tuple[int, str]] = set()
    merged: list[Recalled] = []
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking):
                item = ranking[rank]
                if (item.message_id, item.text) not in seen:
                    seen.add((item.message_id, item.text))
                    merged.append(item)
    return merged


@dataclass(frozen=True)
class Embedded:
    """What one embedding request cost: its tokens, at the price of its model."""

    tokens: int = 0
    model: ModelInfo | None = None


@dataclass(frozen=True)
class Recollection:
    """The chunks recalled for a question, and what embedding the question cost."""

    items: tuple[Recalled, ...] = ()
    spent: Embedded = field(default_factory=Embedded)

    @property
    def tokens(self) -> int:
        """Tokens the recalled chunks add to the prompt (estimated)."""
        return sum(item.tokens for item in self.items) + (
            estimate_tokens(RECALL_HEADER) + 4 * len(self.items) if self.items else 0
        )

    def message(self) -> ChatMessage | None:
        """The clearly marked block that goes just before the newest message, oldest first."""
        if not self.items:
            return None
        return {"role": "system", "content": "\n".join([RECALL_HEADER, *self.lines()])}

    def lines(self) -> list[str]:
        """Each recalled chunk, oldest first, saying who said it."""
        lines = []
        for item in sorted(self.items, key=lambda i: (i.message_id, i.created_at)):
            who = (
                "From a document the user sent"
                if item.kind == "document"
                else "The user said"
                if item.role == "user"
                else "You said"
            )
            lines.append(f"- {who}: {item.text}")
        return lines


class RecallPaused(BotError):
    """Embeddings failed a moment ago: recall waits before it asks Venice again."""


class Recall:
    """Embed what leaves the window and search it; never across conversations (the store's rule).

    Recall is a help, not the answer: when an embedding request fails, recall pauses for
    ``PAUSE_SECONDS`` (turns are answered without it meanwhile), so that a failing embeddings
    endpoint costs a few failed requests a minute, not several a turn that would use up the
    failure budget the answers need.
    """

    PAUSE_SECONDS = 60.0

    def __init__(
        self,
        vectors: VectorStore,
        venice: VeniceClient,
        catalogue: Catalogue,
        *,
        token_budget: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._vectors = vectors
        self._venice = venice
        self._catalogue = catalogue
        self.token_budget = token_budget
        self._clock = clock
        self._paused_until = 0.0

    async def _embed(self, texts: list[str], model: ModelInfo) -> Embeddings:
        """Embed ``texts``, unless recall is paused; a failure pauses it."""
        if self._clock() < self._paused_until:
            raise RecallPaused("Recall is paused after a failed embedding request.")
        try:
            return await self._venice.embed(texts, model=model.id)
        except BotError:
            self._paused_until = self._clock() + self.PAUSE_SECONDS
            raise

    @property
    def enabled(self) -> bool:
        """Whether the operator allows recall at all (``RECALL_TOKEN_BUDGET`` above 0)."""
        return self.token_budget > 0

    async def search(
        self, conversation: Conversation, question: str, *, messages_before: int, before: int | None
    ) -> Recollection:
        """The chunks most like ``question`` that the prompt does not already hold verbatim."""
        if not self.enabled or self._clock() < self._paused_until:
            return Recollection()
        if (await self._vectors.stats(conversation)).chunks == 0:
            return Recollection()  # nothing remembered yet: no embedding request either
        model = await self._catalogue.embedding_model()
        query = question[:QUERY_CHARS].strip() or "?"
        embedded = await self._embed([query], model)
        by_meaning = await self._vectors.search(
            conversation,
            model.id,
            embedded.vectors[0],
            limit=TOP_K * 3,
            floor=FLOOR,
            messages_before=messages_before,
            before=before,
        )
        by_words = await self._vectors.keyword_search(
            conversation,
            model.id,
            query_words(query),
            limit=TOP_K * 3,
            messages_before=messages_before,
            before=before,
        )
        picked: list[Recalled] = []
        used = 0
        for item in fused(by_meaning, by_words)[: TOP_K * 2]:  # best first, within the budget
            if len(picked) == TOP_K or used + item.tokens > self.token_budget:
                continue
            picked.append(item)
            used += item.tokens
        return Recollection(tuple(picked), Embedded(embedded.prompt_tokens, model))

    async def remember(self, conversation: Conversation, messages: Sequence[StoredMessage]) -> Embedded:
        """Embed messages that left the verbatim window (one batched request) and keep them."""
        pieces = [
            (message, piece)
            for message in messages
            if message.content.strip()
            for piece in chunks(message.content, CHUNK_TOKENS)
        ]
        if not self.enabled or not pieces:
            return Embedded()
        model = await self._catalogue.embedding_model()
        embedded = await self._embed([piece for _, piece in pieces], model)
        await self._vectors.add(
            conversation,
            model.id,
            [
                MemoryChunk(message.id, "message", message.role, piece, estimate_tokens(piece), vector)
                for (message, piece), vector in zip(pieces, embedded.vectors, strict=True)
            ],
        )
        return Embedded(embedded.prompt_tokens, model)

    async def remember_document(
        self, conversation: Conversation, message_id: int, name: str, text: str
    ) -> Embedded:
        """Embed a document's text in chunks, kept with the message that brought it."""
        pieces = chunks(text, CHUNK_TOKENS * 3)  # documents are searched by passage, not by fact
        if not self.enabled or not pieces:
            return Embedded()
        model = await self._catalogue.embedding_model()
        embedded = await self._embed(pieces, model)
        await self._vectors.add(
            conversation,
            model.id,
            [
                MemoryChunk(
                    message_id, "document", "user", f"({name}) {piece}", estimate_tokens(piece), vector
                )
                for piece, vector in zip(pieces, embedded.vectors, strict=True)
            ],
        )
        return Embedded(embedded.prompt_tokens, model)

    async def last_embedded(self, conversation: Conversation) -> int:
        """The newest message already embedded (0: none)."""
        return await self._vectors.last_embedded(conversation)

    async def stats(self, conversation: Conversation) -> MemoryStats:
        """How much this conversation can recall."""
        return await self._vectors.stats(conversation)

    def drop(self, conversation_id: int) -> None:
        """Forget an ephemeral conversation's chunks (kept in memory only)."""
        self._vectors.drop(conversation_id)
