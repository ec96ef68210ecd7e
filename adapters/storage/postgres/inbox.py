"""The inbox in PostgreSQL: messages recorded as they arrive, claimed by one worker at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

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
    LIMIT $6
    FOR UPDATE SKIP LOCKED
)
UPDATE inbox SET claimed_until = $4, claimed_by = $5 FROM picked WHERE inbox.id = picked.id
RETURNING inbox.id, inbox.key, inbox.chat, inbox.payload, inbox.received_at
"""

log = logging.getLogger(__name__)

CHANNEL = "venice_inbox"  # NOTIFY'd with the platform when a message for any worker is recorded
# Claims are taken one worker at a time (a transaction-level advisory lock): a claim sees what
# the one before it took, so two workers never take two messages of one chat at once.
CLAIM_LOCK = 0x76656E696365_01


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

    def __init__(
        self, db: Database, *, clock: Callable[[], float] = time.time, url: str | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._url = url  # for the connection that listens for new messages
        self._worker = secrets.token_hex(6)  # this worker: whose claims are its own
        self._records = 0
        self._listener: asyncpg.Connection | None = None
        self._more: dict[str, asyncio.Event] = {}

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
        if fresh and lease <= 0:  # the workers waiting for messages look now
            await self._db.execute("SELECT pg_notify($1, $2)", CHANNEL, platform)
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
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CLAIM_LOCK)
            rows = await conn.fetch(_CLAIM, platform, since, now, now + lease, self._worker, None)
        return _items(platform, rows)

    async def claim_next(self, platform: str, *, window: float, lease: float, limit: int) -> list[InboxItem]:
        """Claim up to ``limit`` unanswered messages of the last ``window`` seconds that no
        live turn holds, oldest first, for ``lease`` seconds; a chat whose earlier message
        another worker still answers is skipped (its answers stay in order)."""
        now = self._clock()
        async with self._db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CLAIM_LOCK)
            rows = await conn.fetch(_CLAIM, platform, now - window, now, now + lease, self._worker, limit)
        return _items(platform, rows)

    async def renew(self, platform: str, keys: Sequence[str], *, lease: float) -> None:
        """Hold this worker's claims on unanswered messages ``lease`` seconds more."""
        if keys:
            await self._db.execute(
                "UPDATE inbox SET claimed_until = $1 WHERE platform = $2 AND key = ANY($3::text[]) "
                "AND claimed_by = $4 AND answered_at IS NULL",
                self._clock() + lease,
                platform,
                list(keys),
                self._worker,
            )

    async def wait_for_more(self, platform: str, timeout: float) -> None:
        """Return once a worker recorded a message for any worker to claim (LISTEN/NOTIFY),
        or after ``timeout`` (the slow fallback, also while the listening connection is down)."""
        more = self._more.setdefault(platform, asyncio.Event())
        await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(more.wait(), timeout)
        more.clear()

    async def _listen(self) -> None:
        """Keep a connection of its own listening for new messages (re-opened if it broke)."""
        if self._url is None or (self._listener is not None and not self._listener.is_closed()):
            return
        try:
            conn = await asyncpg.connect(self._url, timeout=10)
            await conn.add_listener(CHANNEL, self._heard)
        except Exception as exc:  # noqa: BLE001 - whatever the cause, the slow look every few seconds stands in
            log.warning("Cannot listen for new inbox messages (looking every few seconds): %s", exc)
            return
        self._listener = conn

    def _heard(self, conn: Any, pid: int, channel: str, platform: object) -> None:
        self._more.setdefault(str(platform), asyncio.Event()).set()

    async def aclose(self) -> None:
        """Stop listening."""
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            with contextlib.suppress(Exception):  # broken already: nothing to close
                await asyncio.wait_for(listener.close(), 5)

    async def unanswered(self) -> int:
        """How many messages wait for an answer (those a crash left too)."""
        return int(await self._db.fetchval("SELECT COUNT(*) FROM inbox WHERE answered_at IS NULL"))

    async def prune(self) -> None:
        """Forget old messages: what a redelivery check needs is a week; an unanswered message
        older than that is given up, its content dropped with it."""
        await self._db.execute("DELETE FROM inbox WHERE received_at < $1", self._clock() - self.KEEP_SECONDS)


def _items(platform: str, rows: list[asyncpg.Record]) -> list[InboxItem]:
    """Claimed rows as messages, oldest first."""
    return [
        InboxItem(platform, str(row["key"]), str(row["chat"]), str(row["payload"]), float(row["received_at"]))
        for row in sorted(rows, key=lambda row: int(row["id"]))
    ]
