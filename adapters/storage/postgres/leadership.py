"""Leadership on PostgreSQL: a session-level advisory lock held on a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib

import asyncpg

log = logging.getLogger(__name__)

# Advisory lock keys are bigints shared by every application on the server: this namespace
# keeps the bot's roles apart from other locks (the migrations' among them).
_NAMESPACE = 0x7E_4E_1C_E0 << 32


def role_key(role: str) -> int:
    """The advisory lock key of a role (stable across workers and versions)."""
    return _NAMESPACE | zlib.crc32(role.encode())


class AdvisoryLeadership:
    """One leader per role among the workers on one database.

    The leader holds ``pg_try_advisory_lock`` on a connection kept for that role alone: when
    its process dies the server sees the connection close and frees the lock, so the next
    ``lead`` of another worker (they retry every few seconds) takes the role over. A leader
    checks its connection on each ``lead``: one that broke lost the role (the server may have
    given it to another worker already), and it tries again for it on a new connection.
    """

    shared = True

    def __init__(self, url: str) -> None:
        self._url = url
        self._connections: dict[str, asyncpg.Connection] = {}
        self._leading: set[str] = set()
        self._lock = asyncio.Lock()

    async def lead(self, role: str) -> bool:
        """Become (or stay) the one worker doing ``role``; False while another does it."""
        async with self._lock:
            try:
                conn = self._connections.get(role)
                if conn is None or conn.is_closed():
                    self._leading.discard(role)
                    conn = self._connections[role] = await asyncpg.connect(self._url, timeout=10)
                if role in self._leading:
                    await conn.fetchval("SELECT 1", timeout=10)  # still connected: still holding it
                    return True
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", role_key(role), timeout=10):
                    self._leading.add(role)
                    log.info("This worker now leads %s", role)
                    return True
                return False
            except Exception as exc:  # noqa: BLE001 - a broken connection fails in many ways (asyncpg's own too)
                if role in self._leading:
                    log.warning("This worker lost %s (its database connection broke: %s)", role, exc)
                self._leading.discard(role)
                await self._drop(role)
                return False

    async def step_down(self, role: str) -> None:
        """Give ``role`` up (closing its connection frees the lock)."""
        async with self._lock:
            self._leading.discard(role)
            await self._drop(role)

    async def aclose(self) -> None:
        """Give every role up."""
        for role in list(self._connections):
            await self.step_down(role)

    async def _drop(self, role: str) -> None:
        conn = self._connections.pop(role, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing left to free
                await asyncio.wait_for(conn.close(), 5)
            if not conn.is_closed():
                conn.terminate()
