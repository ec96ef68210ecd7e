"""What every adapter shares: per-chat arrival and delivery order, BotError → text, the apology, the newest answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from core.chat.turn import REGENERATE
from core.errors import BotError
from core.events import Reply, ReplyStream
from core.turns import Turn, TurnQueue

APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."
NOT_NEWEST = "Only the newest answer can be regenerated."
EXPIRED = "This button has expired. Send the command again."  # a button the bot forgot, or never made

Chat = TypeVar("Chat", bound=Hashable)  # how an adapter names a chat (with its topic, on Telegram)
MessageId = TypeVar("MessageId")


def error_text(exc: Exception, log: logging.Logger, failed: str, *, apology: str = APOLOGY) -> str:
    """What the user is told of a failure: a BotError's own words, else the apology (logged first).

    Args:
        log: the adapter's logger, which records an unexpected error with its traceback.
        failed: what failed, for the log ("Handling a Discord message failed").
    """
    if isinstance(exc, BotError):
        return exc.user_message
    log.error("%s", failed, exc_info=exc)
    return apology


async def write_afterword(result: object, write: Callable[[str], Awaitable[object]]) -> None:
    """Once an answer is written, write what the core says after it (it arrived but could not
    be saved), if anything; the core has then stored and paid it."""
    if isinstance(result, ReplyStream):
        said = await result.afterword()
        if said is not None:
            await write(said.text)


class Dispatch(Generic[Chat, MessageId]):
    """Per chat: the line messages reach the core in, the line their answers go out in, and the
    newest answer Regenerate may replace."""

    def __init__(self) -> None:
        self._order = TurnQueue()
        self._delivery = TurnQueue()
        self._newest: dict[Chat, MessageId] = {}

    def take_turn(self, chat: Chat) -> Turn:
        """A place in the chat's line, taken now (in arrival order); ``async with`` waits for it."""
        return self._order.take(chat)

    def take_delivery(self, chat: Chat) -> Turn:
        """A place in the line the chat's answers are written in, taken with ``take_turn``.

        The core is handed the next message as soon as the last one is, so answers are made
        side by side; they are shown one after the other, in arrival order, also when Telegram
        makes one wait (flood control): a later answer never overtakes an earlier one.
        """
        return self._delivery.take(chat)

    def answered(self, chat: Chat, reply: Reply, message_ids: Sequence[MessageId]) -> None:
        """Record the answer's last message as the chat's newest, if the answer can be regenerated."""
        if REGENERATE in reply.choices and message_ids:
            self._newest[chat] = message_ids[-1]

    def is_newest(self, chat: Chat, message_id: MessageId) -> bool:
        """Whether this message is the chat's newest answer (the only one Regenerate replaces)."""
        return chat in self._newest and self._newest[chat] == message_id
