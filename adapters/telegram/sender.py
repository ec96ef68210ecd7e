"""Every call that sends to Telegram goes through here: flood control, retries, blocked chats."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class ChatBlocked(Exception):
    """The chat refuses the bot (blocked, or the bot was removed): an answer did not arrive."""

    def __init__(self, chat_id: int) -> None:
        super().__init__(f"chat {chat_id} refuses the bot")
        self.chat_id = chat_id


class FloodWaitTooLong(Exception):
    """Telegram asks an essential send to wait longer than the sender waits: it was not sent."""

    def __init__(self, chat_id: int, retry_after: float) -> None:
        super().__init__(f"chat {chat_id} is cooling down for {retry_after:.0f} s")
        self.chat_id = chat_id
        self.retry_after = retry_after


class TelegramSender:
    """Send with Telegram's rules applied.

    - ``RetryAfter``: the chat is cooling down for that long. Essential sends (an answer's
      final text) wait it out and go through; optional ones (an intermediate edit) are
      skipped, since the next one or the final text supersedes them. A wait longer than
      ``max_flood_wait`` is not waited: an essential send raises ``FloodWaitTooLong`` (the
      caller refunds the answer and tells the user later), and so does every essential send
      to that chat until the wait is over.
    - ``Forbidden`` (the user blocked the bot, or it was removed from the group): nothing more
      is sent to that chat until a new message comes from it.
    - Network errors: retried with jittered backoff, a bounded number of times.
    - ``BadRequest`` is the caller's to handle (bad markup, message not modified).
    """

    def __init__(
        self,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        network_attempts: int = 5,
        max_flood_wait: float = 900.0,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self._network_attempts = network_attempts
        self._max_flood_wait = max_flood_wait
        self._cooling: dict[int, float] = {}
        self.blocked: set[int] = set()

    def cooling_for(self, chat_id: int) -> float:
        """Seconds until the chat may be sent to again (0 when it may now)."""
        until = self._cooling.get(chat_id, 0.0)
        left = until - self._clock()
        if left <= 0:
            self._cooling.pop(chat_id, None)
            return 0.0
        return left

    async def wait_free(self, chat_id: int) -> None:
        """Wait until the chat may be sent to again, however long that is."""
        while wait := self.cooling_for(chat_id):
            await self._sleep(wait)

    def heard_from(self, chat_id: int) -> None:
        """A message came from the chat: a user who blocked the bot has unblocked it."""
        self.blocked.discard(chat_id)

    async def send(
        self,
        chat_id: int,
        call: Callable[..., Awaitable[T]],
        /,
        *,
        essential: bool = True,
        **kwargs: Any,
    ) -> T | None:
        """Run ``call(chat_id=…, **kwargs)``; None when skipped, blocked or given up."""
        attempt = 0
        while True:
            if chat_id in self.blocked:
                return None
            wait = self.cooling_for(chat_id)
            if wait:
                if not essential:
                    return None
                if wait > self._max_flood_wait:
                    raise FloodWaitTooLong(chat_id, wait)
                await self._sleep(wait)
                continue
            try:
                return await call(chat_id=chat_id, **kwargs)
            except RetryAfter as exc:
                seconds = _retry_after(exc)
                log.info("Telegram flood control on chat %s: waiting %.0f s", chat_id, seconds)
                # Remembered also when it is too long to wait: later sends to the chat know.
                self._cooling[chat_id] = self._clock() + seconds
                if seconds > self._max_flood_wait:
                    log.error(
                        "Telegram asks to wait %.0f s for chat %s; giving up this send", seconds, chat_id
                    )
                    if essential:
                        raise FloodWaitTooLong(chat_id, seconds) from None
                    return None
            except Forbidden as exc:
                log.info(
                    "Telegram refuses sends to chat %s (%s); stopping until it writes again",
                    chat_id,
                    exc.message,
                )
                self.blocked.add(chat_id)
                return None
            except ChatMigrated as exc:
                log.info("Chat %s became supergroup %s", chat_id, exc.new_chat_id)
                self.blocked.discard(chat_id)
                chat_id = exc.new_chat_id
            except BadRequest:
                raise
            except NetworkError as exc:  # includes TimedOut
                attempt += 1
                if attempt >= self._network_attempts:
                    log.warning(
                        "Telegram unreachable for chat %s after %d tries: %s", chat_id, attempt, exc.message
                    )
                    if essential:
                        raise
                    return None
                await self._sleep(min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))


def _retry_after(exc: RetryAfter) -> float:
    """The wait in seconds; PTB 22 gives an int and warns that it will become a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
