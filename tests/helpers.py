"""Small helpers to talk to the core the way an adapter does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.app import App
from core.events import IncomingMessage, Reply, ReplyStream


@dataclass
class Answer:
    """A reply plus the deltas it streamed in."""

    reply: Reply
    deltas: list[str]

    @property
    def text(self) -> str:
        return self.reply.text


def message(text: str, **fields: Any) -> IncomingMessage:
    values: dict[str, Any] = {
        "platform": "test",
        "chat_id": "chat-1",
        "user_id": "alice",
        "user_name": "Alice",
        "text": text,
    }
    values.update(fields)
    return IncomingMessage(**values)


async def ask(service: App, text: str, **fields: Any) -> Answer:
    """Send a message and wait for the whole answer (errors raise as the adapter sees them)."""
    result = await service.handle_message(message(text, **fields))
    if isinstance(result, ReplyStream):
        deltas = [d async for d in result]
        reply = await result.reply()
        await result.afterword()  # the answer is stored and paid once it was handed over
        return Answer(reply, deltas)
    return Answer(result, [])


async def stored_messages(service: App) -> list[tuple[Any, ...]]:
    """Every stored message as (conversation, role, content, interrupted)."""
    db = service.store.conversations._db
    rows = await db.fetchall("SELECT conversation_id, role, content, interrupted FROM messages ORDER BY id")
    return [tuple(r) for r in rows]
