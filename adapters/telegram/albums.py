"""Albums: Telegram sends several photos (or files) sent at once as one update each, sharing a
``media_group_id``. They are gathered here until no more come, to be answered as one message.

No Telegram types: the items are whatever the adapter keeps of each update, so this is tested alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from adapters.telegram.media import MAX_ALBUM

T = TypeVar("T")


class Album(Generic[T]):
    """The items of one media group that arrived so far, and when it counts as complete."""

    def __init__(self, key: Hashable, opened: float, *, quiet: float, longest: float, most: int) -> None:
        self.key = key
        self.items: list[T] = []
        self.full = asyncio.Event()
        self._opened = opened
        self._last = opened
        self._quiet = quiet
        self._longest = longest
        self._most = most

    def add(self, item: T, now: float) -> None:
        """Take one more item, arrived at ``now``."""
        self.items.append(item)
        self._last = now
        if len(self.items) >= self._most:
            self.full.set()

    def wait_time(self, now: float) -> float:
        """Seconds until the album is complete; 0 when it is.

        Complete: ``quiet`` seconds after its newest item, ``longest`` after its first, or at
        ``most`` items (Telegram's limit), whichever comes first.
        """
        if self.full.is_set():
            return 0.0
        return max(0.0, min(self._last + self._quiet, self._opened + self._longest) - now)


class Albums(Generic[T]):
    """The albums being gathered, by key (a chat and its media group id).

    Args:
        quiet: an album is complete once no item has come for this long (seconds)...
        longest: ...or this long after its first item, however many keep coming.
        clock: monotonic seconds; the waits themselves are on the event loop's clock, which
            must agree (both are monotonic time by default).
    """

    def __init__(
        self,
        *,
        quiet: float,
        longest: float,
        most: int = MAX_ALBUM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._quiet = quiet
        self._longest = longest
        self._most = most
        self._clock = clock
        self._open: dict[Hashable, Album[T]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, key: Hashable, item: T) -> Album[T] | None:
        """Add an item to its album; return the album when this item opened it, else None.

        Whoever gets an album back awaits ``complete(album)``; the other items only join it.
        An item that comes after its album was complete opens a new one.
        """
        now = self._clock()
        album = self._open.get(key)
        opened = album is None or album.full.is_set()
        if opened:
            album = self._open[key] = Album(
                key, now, quiet=self._quiet, longest=self._longest, most=self._most
            )
        assert album is not None
        album.add(item, now)
        return album if opened else None

    async def complete(self, album: Album[T]) -> list[T]:
        """Wait until the album is complete, close it and return its items in arrival order."""
        try:
            while (wait := album.wait_time(self._clock())) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await album.full.wait()  # or the timeout: then look again at the newest item
        finally:
            if self._open.get(album.key) is album:
                del self._open[album.key]
        return list(album.items)
