"""The fake Telegram's pending updates, served by getUpdates with Telegram's offset and long-poll rules."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram_api import TgError

__all__ = ["UpdateQueue"]

# What Telegram sends when allowed_updates was never given (or given as []): everything but these.
_OPT_IN_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class _Pending:
    update: dict[str, Any]
    replay: bool  # pushed again with an id the bot may already have confirmed
    served: bool = False


class UpdateQueue:
    """Updates waiting for the bot.

    Telegram's rules: getUpdates returns pending updates with ``update_id >= offset``, oldest first; the
    ``offset`` confirms (drops) every update below it; with nothing pending it holds the request up to
    ``timeout`` seconds. A newer getUpdates ends an older one still waiting with 409 Conflict.

    Replays (the fake's addition): an update pushed again with an id at or below one already queued, or below
    the highest offset seen, would never be served under the rule above, since the bot has confirmed that id.
    Telegram never does this, but a test of "the same update arrives twice" needs it, so a replay is served
    once regardless of ``offset`` and dropped by the next confirmation after that.
    """

    def __init__(self) -> None:
        self._pending: list[_Pending] = []
        self._next_id = 1
        self._highest_queued = 0
        self._highest_offset = 0
        self._wakeup = asyncio.Event()
        self._poll_generation = 0
        self._closed = False
        self.allowed_updates: list[str] | None = None  # as last given to getUpdates or setWebhook

    def __len__(self) -> int:
        return len(self._pending)

    def new_id(self) -> int:
        """Return a fresh update_id, above every one seen so far."""
        update_id = self._next_id
        self._next_id += 1
        return update_id

    def push(self, update: dict[str, Any]) -> None:
        """Queue ``update`` (it must have an update_id) and wake a waiting getUpdates."""
        update_id = int(update["update_id"])
        replay = update_id <= self._highest_queued or update_id < self._highest_offset
        self._pending.append(_Pending(copy.deepcopy(update), replay))
        self._highest_queued = max(self._highest_queued, update_id)
        self._next_id = max(self._next_id, update_id + 1)
        self._wake()

    def clear(self) -> None:
        """Drop every pending update (drop_pending_updates)."""
        self._pending.clear()

    def close(self) -> None:
        """Answer every waiting getUpdates now, so the server can stop without waiting for long polls."""
        self._closed = True
        self._wake()

    async def get(self, offset: int, limit: int, timeout: float) -> list[dict[str, Any]]:
        """Serve one getUpdates call."""
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # an older long poll still waiting notices it has been replaced
        self._confirm(offset)
        deadline = asyncio.get_running_loop().time() + max(timeout, 0)
        while True:
            if generation != self._poll_generation:
                raise TgError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = self._take(offset, limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if batch or self._closed or remaining <= 0:
                return batch
            wakeup = self._wakeup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)

    def _wake(self) -> None:
        # A fresh event per round: every waiter wakes once, and later waiters wait for the next push.
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _confirm(self, offset: int) -> None:
        if offset < 0:  # Telegram: a negative offset keeps only the last -offset updates
            self._pending = self._pending[offset:]
            return
        self._highest_offset = max(self._highest_offset, offset)
        self._pending = [
            p for p in self._pending if not (p.update["update_id"] < offset and (p.served or not p.replay))
        ]

    def _take(self, offset: int, limit: int) -> list[dict[str, Any]]:
        self._pending = [p for p in self._pending if self._allowed(p.update)]
        candidates = [
            p
            for p in self._pending
            if offset < 0 or p.update["update_id"] >= offset or (p.replay and not p.served)
        ]
        # Oldest first by id, so the bot's next offset (last id + 1) confirms the whole batch.
        batch = sorted(candidates, key=lambda p: p.update["update_id"])[: max(1, min(limit, 100))]
        for pending in batch:
            pending.served = True
        return [copy.deepcopy(p.update) for p in batch]

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _OPT_IN_TYPES
