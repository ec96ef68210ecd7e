"""The inbox in PostgreSQL: messages recorded as they arrive, claimed by one worker at a time."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence

from adapters.storage.postgres.database import Database
from core.ports.records import InboxItem

# The unanswered messages a worker may take: no live lease on them, and no earlier message of
# their chat held by another worker's live lease (that chat's answers stay in order).
_CLAIM = """
WITH picked AS (
    SELECT i.id FROM inbox i
    WHERE i.platform = $1 AND i.answered_at IS NULL AND i.payload IS NOT NULL
      AND i.received_at >= $2 AND (i.claimed_until IS NULL OR i.claimed_until < $3)
      AND NOT EXISTS (
          SELECT 1 FROM inbox e
          WHERE e.platform = i.platform AND e.chat = i.chat AND e.id < i.id
            AND e.answered_at IS NULL AND e.claimed_until >= $3 AND e.claimed_by <> $5)
    ORDER BY i.id
    FOR UPDATE SKIP LOCKED
)
UPDATE inbox SET claimed_until = $4, claimed_by = $5 FROM picked WHERE inbox.id = picked.id
RETURNING inbox.id, inbox.key, inbox.chat, inbox.payload, inbox.received_at
"""


class Inbox:
    """Record messages before the platform is told they arrived; mark them answered; take up
    those nobody answers.

    Several workers share the table. A message is claimed with a lease (``claimed_until``,
    ``claimed_by``): the worker that records it holds it while it answers; ``take_over``
    takes only messages whose lease has run out (a worker that died) or that none holds,
    with ``FOR UPDATE SKIP LOCKED``, so two workers taking over at once never get the same one.
    """

    KEEP_SECONDS = 7 * 24 * 3600  # Telegram keeps undelivered updates for 24 h; a week is ample
    PRUNE_EVERY = 1000

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._worker = secrets.token_hex(6)  # this worker: whose claims are its own
        self._records = 0

    async def record(self, platform: str, key: str, chat: str, payload: str | None, *, lease: float) -> bool:
        """Record a message, claimed by this worker for ``lease`` seconds; False if it was
        recorded before (a redelivery: it is answered, or being answered, already)."""
        now = self._clock()
        fresh = (
            await self._db.execute(
                "INSERT INTO inbox (platform, key, chat, payload, received_at, claimed_until, "
                "claimed_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                platform,
                key,
                chat,
                payload,
                now,
                now + lease,
                self._worker,
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
        await self._db.execute(
            "UPDATE inbox SET answered_at = $1, payload = NULL, claimed_until = NULL "
            "WHERE platform = $2 AND key = ANY($3::text[]) AND answered_at IS NULL",
            self._clock(),
            platform,
            list(keys),
        )

    async def take_over(self, platform: str, *, window: float, lease: float) -> list[InboxItem]:
        """Claim the unanswered messages of the last ``window`` seconds that no live turn
        holds, oldest first, for ``lease`` seconds."""
        now = self._clock()
        since = now - window
        async with self._db.transaction() as conn:
            # Older ones nobody holds are given up: their content goes now, not a week later.
            # Rows another worker has locked are left to it (two workers never wait on each other).
            await conn.execute(
                "UPDATE inbox SET payload = NULL WHERE id IN (SELECT id FROM inbox WHERE platform = $1 "
                "AND answered_at IS NULL AND received_at < $2 AND payload IS NOT NULL "
                "AND (claimed_until IS NULL OR claimed_until < $3) FOR UPDATE SKIP LOCKED)",
                platform,
                since,
                now,
            )
            rows = await conn.fetch(_CLAIM, platform, since, now, now + lease, self._worker)
        return [
            InboxItem(
                platform, str(row["key"]), str(row["chat"]), str(row["payload"]), float(row["received_at"])
            )
            for row in sorted(rows, key=lambda row: int(row["id"]))
        ]

    async def unanswered(self) -> int:
        """How many messages wait for an answer (those a crash left too)."""
        return int(await self._db.fetchval("SELECT COUNT(*) FROM inbox WHERE answered_at IS NULL"))

    async def prune(self) -> None:
        """Forget old messages: what a redelivery check needs is a week; an unanswered message
        older than that is given up, its content dropped with it."""
        await self._db.execute("DELETE FROM inbox WHERE received_at < $1", self._clock() - self.KEEP_SECONDS)
