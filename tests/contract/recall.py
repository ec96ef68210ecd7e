"""Builders for the tests of long-term recall's vector store (contract and SQLite-specific)."""

from __future__ import annotations

from core.ports.records import Conversation, ConversationKey, StoredMessage
from core.ports.storage import Store
from core.ports.vectors import ChunkKind, MemoryChunk
from core.privacy.policy import Privacy
from core.settings import Settings
from tests.contract.conftest import Now
from tests.fakes.venice_memory import embedding_vector

MODEL = "text-embedding-bge-m3"
DIMENSIONS = 1024  # BGE M3's size


def vector(text: str) -> list[float]:
    """Texts sharing words point alike (the fake Venice's embedding, at the real model's size)."""
    return embedding_vector(text, DIMENSIONS)


def chunk(message: StoredMessage, text: str | None = None, kind: ChunkKind = "message") -> MemoryChunk:
    text = message.content if text is None else text
    return MemoryChunk(message.id, kind, message.role, text, len(text.split()), vector(text))


async def turn(
    store: Store, key: ConversationKey, question: str, answer: str, *, user: int | None = None
) -> tuple[Conversation, StoredMessage, StoredMessage]:
    """Save one turn and return the conversation with the question and answer as stored."""
    conversation = await store.conversations.active(key)
    await store.conversations.save_turn(
        conversation, user_id=user, question=question, question_tokens=len(question.split()),
        answer=answer, answer_tokens=len(answer.split()),
    )  # fmt: skip
    last = await store.conversations.last_turn(conversation)
    assert last is not None
    return conversation, last[0], last[1]


async def two_users(
    store: Store, alice_says: str, bob_says: str
) -> tuple[
    tuple[Conversation, StoredMessage, StoredMessage], tuple[Conversation, StoredMessage, StoredMessage]
]:
    """Alice (telegram user 1) and Bob (user 2) each say something in their own DM."""
    alice = await store.conversations.user_id("telegram", "1", "Alice")
    bob = await store.conversations.user_id("telegram", "2", "Bob")
    return (
        await turn(store, ConversationKey("telegram", "dm-1"), alice_says, "noted", user=alice),
        await turn(store, ConversationKey("telegram", "dm-2"), bob_says, "noted", user=bob),
    )


async def remembered(store: Store, conversation: Conversation, text: str, **filters: int) -> list[str]:
    """The texts a search for ``text`` recalls (no floor, few enough to see them all)."""
    found = await store.vectors.search(
        conversation, MODEL, vector(text), limit=filters.pop("limit", 10), floor=-1.0,
        messages_before=filters.pop("messages_before", 1 << 62), **filters,
    )  # fmt: skip
    return [r.text for r in found]


def privacy_of(store: Store, now: Now) -> Privacy:
    """Retention and /forget as the app runs them, on this store."""
    settings = Settings(_env_file=None, venice_api_key="test-key")  # type: ignore[call-arg]
    return Privacy(
        store.privacy,
        settings,
        conversations=store.conversations,
        chat_settings=store.chat_settings,
        ledger=store.ledger,
        clock=now,
    )
