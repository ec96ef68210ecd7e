"""Remember which platform updates were handled, so none is handled twice."""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.storage.sqlite.database import Database


class UpdateLog:
    """Claim updates by id; a claim succeeds once per update, across restarts too."""

    KEEP_SECONDS = 7 * 24 * 3600  # Telegram keeps undelivered updates for 24 h; a week is ample
    PRUNE_EVERY = 1000

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._claims = 0

    async def claim(self, platform: str, update_id: str | int) -> bool:
        """Return True the first time an update is seen, False for a redelivery."""
        now = self._clock()
        async with self._db.transaction(begin=False) as conn:
            cursor = await conn.execute(
                "INSERT INTO processed_updates (platform, update_id, processed_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (platform, str(update_id), now),
            )
            fresh = cursor.rowcount == 1
        self._claims += 1
        if self._claims % self.PRUNE_EVERY == 0:
            async with self._db.transaction(begin=False) as conn:
                await conn.execute(
                    "DELETE FROM processed_updates WHERE processed_at < ?", (now - self.KEEP_SECONDS,)
                )
        return fresh
