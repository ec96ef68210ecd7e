"""The inbox: messages recorded as they arrive, so a crash loses none and none is answered twice."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from adapters.storage.sqlite.database import Database
from core.ports.records import InboxItem

# The unanswered messages this process may take: no live lease on them, and no earlier message
# of their chat held by a live lease of another worker (that chat's answers stay in order).
_CLAIM = """
UPDATE inbox SET claimed_until = ?, claimed_by = ? WHERE id IN (
    SELECT i.id FROM inbox i
    WHERE i.platform = ? AND i.answered_at IS NULL AND i.payload IS NOT NULL
      AND i.received_at >= ? AND (i.claimed_until IS NULL OR i.claimed_until < ?)
      AND NOT EXISTS (
          SELECT 1 FROM inbox e
          WHERE e.platform = i.platform AND e.chat = i.chat AND e.id < i.id
            AND e.answered_at IS NULL AND e.claimed_until >= ? AND e.claimed_by IS NOT ?)
    ORDER BY i.id LIMIT ?)
RETURNING id, key, chat, payload, received_at
"""


class Inbox:
    """Record messages before the platform is told they arrived; mark them answered; find those
    a crash left unanswered.

    SQLite is served by one process, so at start-up every claim of an earlier process is void:
    that process is gone. (A backend shared by several workers honours each other's leases.)
    """

    KEEP_SECONDS = 7 * 24 * 3600  # Telegram keeps undelivered updates for 24 h; a week is ample
    PRUNE_EVERY = 1000

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._worker = secrets.token_hex(6)  # this process: whose claims are live
        self._records = 0
        self._more = asyncio.Event()  # set when a message for any taker is recorded

    async def record(self, platform: str, key: str, chat: str, payload: str | None, *, lease: float) -> bool:
        """Record a message, claimed by this process for ``lease`` seconds; False if it was
        recorded before (a redelivery: it is answered, or being answered, already)."""
        now = self._clock()
        fresh = (
            await self._db.execute(
                "INSERT INTO inbox (platform, key, chat, payload, received_at, claimed_until, "
                "claimed_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (platform, key, chat, payload, now, now + lease, self._worker),
            )
            == 1
        )
        self._records += 1
        if fresh and lease <= 0:
            self._more.set()
        if self._records % self.PRUNE_EVERY == 0:
            await self.prune()
        return fresh

    async def answered(self, platform: str, keys: Sequence[str]) -> None:
        """Mark messages answered; what answering them needed is dropped."""
        if not keys:
            return
        marks = ",".join("?" * len(keys))
        await self._db.execute(
            f"UPDATE inbox SET answered_at = ?, payload = NULL, claimed_until = NULL "
            f"WHERE platform = ? AND key IN ({marks}) AND answered_at IS NULL",
            (self._clock(), platform, *keys),
        )

    async def take_over(self, platform: str, *, window: float, lease: float) -> list[InboxItem]:
        """Claim the unanswered messages of the last ``window`` seconds that no live turn
        holds, oldest first, for ``lease`` seconds."""
        now = self._clock()
        since = now - window
        async with self._db.transaction() as conn:
            # Older ones are given up: their content goes now, not a week later.
            await conn.execute(
                "UPDATE inbox SET payload = NULL WHERE platform = ? AND answered_at IS NULL "
                "AND received_at < ?",
                (platform, since),
            )
            cursor = await conn.execute(
                "UPDATE inbox SET claimed_until = ?, claimed_by = ? WHERE platform = ? "
                "AND answered_at IS NULL AND payload IS NOT NULL AND received_at >= ? "
                "AND (claimed_by IS NOT ? OR claimed_until < ?) "
                "RETURNING id, key, chat, payload, received_at",
                (now + lease, self._worker, platform, since, self._worker, now),
            )
            rows = list(await cursor.fetchall())
        return _items(platform, rows)

    async def claim_next(self, platform: str, *, window: float, lease: float, limit: int) -> list[InboxItem]:
        """Claim up to ``limit`` unanswered messages of the last ``window`` seconds that no
        live turn holds, oldest first, for ``lease`` seconds; a chat whose earlier message
        another worker still answers is skipped."""
        now = self._clock()
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                _CLAIM, (now + lease, self._worker, platform, now - window, now, now, self._worker, limit)
            )
            rows = list(await cursor.fetchall())
        return _items(platform, rows)

    async def renew(self, platform: str, keys: Sequence[str], *, lease: float) -> None:
        """Hold this process's claims on unanswered messages ``lease`` seconds more."""
        if keys:
            marks = ",".join("?" * len(keys))
            await self._db.execute(
                f"UPDATE inbox SET claimed_until = ? WHERE platform = ? AND key IN ({marks}) "
                "AND claimed_by = ? AND answered_at IS NULL",
                (self._clock() + lease, platform, *keys, self._worker),
            )

    async def wait_for_more(self, platform: str, timeout: float) -> None:
        """Return once a message for any taker was recorded (by this process: the only one
        on SQLite), or after ``timeout``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._more.wait(), timeout)
        self._more.clear()

    async def unanswered(self) -> int:
        """How many messages wait for an answer (those a crash left too)."""
        row = await self._db.fetchone("SELECT COUNT(*) FROM inbox WHERE answered_at IS NULL")
        return int(row[0]) if row else 0

    async def prune(self) -> None:
        """Forget old messages: what a redelivery check needs is a week; an unanswered message
        older than that is given up, its content dropped with it."""
        await self._db.execute(
            "DELETE FROM inbox WHERE received_at < ?", (self._clock() - self.KEEP_SECONDS,)
        )


def _items(platform: str, rows: list[Any]) -> list[InboxItem]:
    """Claimed rows (id, key, chat, payload, received_at) as messages, oldest first."""
    return [
        InboxItem(platform, str(key), str(chat), str(payload), float(at))
        for _, key, chat, payload, at in sorted(rows, key=lambda row: int(row[0]))
    ]
