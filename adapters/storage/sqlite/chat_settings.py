"""Per-chat settings, one JSON object per chat."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from adapters.storage.sqlite.database import Database
from core.ports.records import ChatSettings


class ChatSettingsStore:
    """Load and save chat settings, cached in memory (this process is the only writer)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._cache: dict[tuple[str, str], ChatSettings] = {}

    async def get(self, platform: str, chat_id: str) -> ChatSettings:
        """Return a chat's settings (the defaults when it has none)."""
        key = (platform, chat_id)
        if key not in self._cache:
            row = await self._db.fetchone(
                "SELECT settings FROM chat_settings WHERE platform = ? AND chat_id = ?", key
            )
            self._cache[key] = ChatSettings.from_json(json.loads(row[0])) if row else ChatSettings()
        return self._cache[key]

    def drop_cached(self, platform: str, chat_id: str) -> None:
        """Forget a chat's cached settings (its row was deleted)."""
        self._cache.pop((platform, chat_id), None)

    async def update(self, platform: str, chat_id: str, **changes: Any) -> ChatSettings:
        """Change some settings of a chat and return the result."""
        new = dataclasses.replace(await self.get(platform, chat_id), **changes)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chat_settings (platform, chat_id, settings, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (platform, chat_id) DO UPDATE SET "
                "settings = excluded.settings, updated_at = excluded.updated_at",
                (platform, chat_id, json.dumps(dataclasses.asdict(new)), self._clock()),
            )
        self._cache[(platform, chat_id)] = new
        return new

    async def models_in_use(self) -> dict[str, int]:
        """How many chats pin each model (chats on the default are not counted)."""
        rows = await self._db.fetchall(
            "SELECT json_extract(settings, '$.model'), COUNT(*) FROM chat_settings "
            "WHERE json_extract(settings, '$.model') != '' GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        return {str(model): int(count) for model, count in rows}
