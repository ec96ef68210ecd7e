"""The inbox: messages recorded as they arrive, so a crash loses none and none is answered twice."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence

from adapters.storage.sqlite.database import Database
from core.ports.records import InboxItem


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
            rows = sorted(await cursor.fetchall(), key=lambda row: int(row[0]))
        return [
            InboxItem(platform, str(key), str(chat), str(payload), float(at))
            for _, key, chat, payload, at in rows
        ]

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
