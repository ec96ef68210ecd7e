"""Small key-value facts the bot keeps between runs, in PostgreSQL."""

from __future__ import annotations

import time

from adapters.storage.postgres.database import Database


class StateStore:
    """Read and write short strings by key."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, if any."""
        value = await self._db.fetchval("SELECT value FROM bot_state WHERE key = $1", key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        await self._db.execute(
            "INSERT INTO bot_state (key, value, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            key,
            value,
            time.time(),
        )

    async def setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the stored one.

        Of several workers at once, one inserts; the others wait for its commit on the key,
        find the conflict, and read its value: a new statement, so a new snapshot that sees it
        (one statement's snapshot would predate the other's commit and see nothing).
        """
        written = await self._db.fetchval(
            "INSERT INTO bot_state (key, value, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO NOTHING RETURNING value",
            key,
            value,
            time.time(),
        )
        if written is not None:
            return str(written)
        stored = await self._db.fetchval("SELECT value FROM bot_state WHERE key = $1", key)
        assert stored is not None  # rows of bot_state are never deleted
        return str(stored)
