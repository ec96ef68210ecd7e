"""Answers Telegram would not take in time: refunded at once, the user told when the chat is free."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.error import TelegramError

from adapters.telegram.sender import FloodWaitTooLong, TelegramSender
from core.billing.cashier import Cashier
from core.events import Charge

log = logging.getLogger(__name__)

QUOTED = 60  # characters of the question quoted in the notice


@dataclass(frozen=True)
class Missed:
    """An answer that was not delivered: what it answered, and whether its charge is back
    (None: nothing was known to be charged for it, e.g. a command's answer)."""

    question: str
    refunded: bool | None


class Undelivered:
    """Refund answers whose chat Telegram held back for longer than the bot waits, and say so.

    The user is told as soon as Telegram lets the bot write to the chat again (one message for
    every answer missed meanwhile): waiting for their next message could mean never, and a
    user who got no answer wants to know why, and that they did not pay for it.
    """

    def __init__(self, bot: Bot, sender: TelegramSender, cashier: Cashier) -> None:
        self._bot = bot
        self._sender = sender
        self._cashier = cashier
        self._missed: dict[tuple[int, int | None], list[Missed]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def missed(
        self,
        where: tuple[int, int | None],
        question: str,
        charges: tuple[Charge, ...],
        *,
        refunded: bool = False,
    ) -> None:
        """Refund an answer that was not delivered to ``where`` (chat, topic); tell the chat later.

        ``charges``: what was paid for it, given back here; ``refunded``: its producer gives
        back what it charges only on delivery (a chat answer, a picture) by itself.
        """
        given_back: bool | None = True if charges or refunded else None
        for charge in charges:  # e.g. the voice of an answer
            try:
                await self._cashier.refund_undelivered(charge)
            except Exception:  # the user is still told; the operator sees the log
                log.exception("Refunding undelivered answer %s failed", charge.request_id)
                given_back = False
        log.warning("An answer in Telegram chat %s was not delivered (flood wait); refunded", where[0])
        missed = self._missed.setdefault(where, [])
        missed.append(Missed(question, given_back))
        if len(missed) == 1:  # one teller per chat: later misses join its message
            task = asyncio.create_task(self._tell(where))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop waiting to tell (shutdown): the refunds stand, the notices are dropped."""
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._missed:
            log.warning("Shutting down before telling %d chat(s) of undelivered answers", len(self._missed))

    async def _tell(self, where: tuple[int, int | None]) -> None:
        chat_id, thread_id = where
        while True:
            await self._sender.wait_free(chat_id)
            told = list(self._missed[where])
            try:
                await self._sender.send(
                    chat_id, self._bot.send_message, text=notice(told), message_thread_id=thread_id
                )
            except FloodWaitTooLong:
                continue  # held back again: wait that out too
            except TelegramError as exc:
                log.warning("Cannot tell chat %s of undelivered answers: %s", chat_id, exc.message)
            rest = self._missed[where][len(told) :]
            if not rest:
                del self._missed[where]
                return
            self._missed[where] = rest


def notice(missed: list[Missed]) -> str:
    """What the user is told of answers that were not delivered."""
    quotes = [_quote(m.question) for m in missed]
    quoted = quotes[0] if len(quotes) == 1 else ", ".join(quotes[:-1]) + " and " + quotes[-1]
    several = len(missed) > 1
    said = f"⚠️ Your {'answers' if several else 'answer'} to {quoted} could not be delivered in time"
    said += " (Telegram held this chat back)"
    if all(m.refunded for m in missed):
        return f"{said}; you were not charged for {'them' if several else 'it'}."
    if any(m.refunded is False for m in missed):
        return f"{said}. Giving the charge back failed; the bot's admins can see why in the log."
    return f"{said}."  # a command's answer, a video's: it claims nothing of charges it does not know


def _quote(question: str) -> str:
    line = " ".join(question.split())
    if not line:
        return "your message"
    return f"“{line[: QUOTED - 1]}…”" if len(line) > QUOTED else f"“{line}”"
