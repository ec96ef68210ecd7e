"""Tell the bot's admins when the database cannot save, at most once an hour."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from core.errors import StorageUnavailable

log = logging.getLogger(__name__)

Alert = Callable[[str], Awaitable[None]]


def alert_text(error: StorageUnavailable) -> str:
    """The admins' notice: what is wrong, what to do, and that no restart is needed."""
    return (
        f"⚠️ {error.advice} Until then users are told to try again later; the bot recovers "
        "by itself once it can save, without a restart."
    )


class StorageAlarm:
    """Alert the admins of a database that cannot save: once, then again only after ``every``
    seconds while it lasts. Needs no database itself: the time of the last notice is in memory."""

    def __init__(
        self,
        alerts: list[Alert],
        *,
        every: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._alerts = alerts
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, error: StorageUnavailable) -> None:
        """Note a failed save; send the admins a notice if none went out within the hour."""
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            return
        self._last = now
        # Sent in a task of its own: the caller may hold the database, and the user's answer
        # must not wait for the admins' notice.
        task = asyncio.get_running_loop().create_task(self._tell(alert_text(error)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, text: str) -> None:
        for alert in list(self._alerts):
            try:
                await alert(text)
            except Exception as exc:  # noqa: BLE001 - a failed notice must not end the others
                log.warning("Telling the admins that the database cannot save failed: %s", exc)

    async def aclose(self) -> None:
        """Wait for notices still being sent."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
