"""What the Telegram end-to-end tests share: ids, a fast pace, and what a user sees."""

from __future__ import annotations

from adapters.telegram.writer import Pace
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript

ALICE, BOB = 1001, 1002
GROUP, FORUM = -100111, -100222
FAST = Pace(draft=0.05, private_edit=0.05, group_edit=0.05)


def texts(tg: FakeTelegram, chat_id: int, thread_id: int | None = None) -> list[str]:
    """What the user sees in a chat: the bot's text messages, as plain text."""
    return [m["text"] for m in tg.visible(chat_id, thread_id) if "text" in m]


def slow(content: str, delay: float = 0.03) -> ChatScript:
    """A chat answer that streams in small pieces."""
    return ChatScript(content=content, chunk_delay=delay)
