"""One turn at a time per conversation, in the order the turns were asked for."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from types import TracebackType


class Turn:
    """A place in a conversation's queue; ``async with turn:`` waits for it, then holds it."""

    def __init__(self, queue: TurnQueue, key: Hashable, future: asyncio.Future[None]) -> None:
        self._queue = queue
        self._key = key
        self._future = future
        self._released = False

    async def __aenter__(self) -> None:
        try:
            await self._future
        except asyncio.CancelledError:
            self.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Give the conversation to the next turn (idempotent; also for a turn never entered)."""
        if not self._released:
            self._released = True
            self._queue._release(self._key, self._future)


class TurnQueue:
    """FIFO turns per key.

    A place is taken when ``take()`` is called, synchronously, so turns run in the order they
    were asked for even if the tasks that run them start in another order. Keys with no
    turn waiting are forgotten.
    """

    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[asyncio.Future[None]]] = {}

    @property
    def waiting(self) -> int:
        """How many turns wait behind another turn of their conversation."""
        return sum(len(queue) - 1 for queue in self._queues.values())

    def take(self, key: Hashable) -> Turn:
        """Join the key's queue; the turn is ready when all earlier ones are released."""
        queue = self._queues.setdefault(key, deque())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not queue:
            future.set_result(None)
        queue.append(future)
        return Turn(self, key, future)

    def busy(self, key: Hashable) -> bool:
        """Whether some turn holds or awaits this key."""
        return key in self._queues

    def _release(self, key: Hashable, future: asyncio.Future[None]) -> None:
        queue = self._queues[key]
        was_first = queue[0] is future
        queue.remove(future)
        if not queue:
            del self._queues[key]
        elif was_first and not queue[0].done():
            queue[0].set_result(None)
