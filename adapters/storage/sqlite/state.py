"""Small key-value facts the bot keeps between runs."""

from __future__ import annotations

import time

from adapters.storage.sqlite.database import Database


class StateStore:
    """Read and write short strings by key."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, if any."""
        row = await self._db.fetchone("SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        async with self._db.transaction(begin=False) as conn:
            await conn.execute(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, time.time()),
            )

    async def setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the stored one."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value, time.time()),
            )
            async with conn.execute("SELECT value FROM bot_state WHERE key = ?", (key,)) as cursor:
                row = await cursor.fetchone()
        assert row is not None  # written just above, in the same transaction
        return str(row[0])
