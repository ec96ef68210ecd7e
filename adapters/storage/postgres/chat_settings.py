"""Per-chat settings in PostgreSQL, one JSON object per chat."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from adapters.storage.postgres.database import Database
from core.ports.records import ChatSettings


class ChatSettingsStore:
    """Load and save chat settings.

    Not cached: another worker may change a chat's settings (/model) at any moment, and the
    change must apply to the next turn whichever worker serves it. Reading the row by its
    primary key costs about what checking a cached copy would.
    """

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def get(self, platform: str, chat_id: str) -> ChatSettings:
        """Return a chat's settings (the defaults when it has none)."""
        stored = await self._db.fetchval(
            "SELECT settings FROM chat_settings WHERE platform = $1 AND chat_id = $2", platform, chat_id
        )
        return ChatSettings.from_json(json.loads(stored)) if stored is not None else ChatSettings()

    def drop_cached(self, platform: str, chat_id: str) -> None:
        """Forget a chat's cached settings (nothing is cached here)."""

    async def update(self, platform: str, chat_id: str, **changes: Any) -> ChatSettings:
        """Change some settings of a chat and return the result.

        The row is locked while it is read and written, so two workers changing different
        settings of one chat at once both keep their change.
        """
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chat_settings (platform, chat_id, updated_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                platform,
                chat_id,
                self._clock(),
            )
            stored = await conn.fetchval(
                "SELECT settings FROM chat_settings WHERE platform = $1 AND chat_id = $2 FOR UPDATE",
                platform,
                chat_id,
            )
            new = dataclasses.replace(ChatSettings.from_json(json.loads(stored)), **changes)
            await conn.execute(
                "UPDATE chat_settings SET settings = $3, updated_at = $4 WHERE platform = $1 AND chat_id = $2",
                platform,
                chat_id,
                json.dumps(dataclasses.asdict(new)),
                self._clock(),
            )
        return new

    async def models_in_use(self) -> dict[str, int]:
        """How many chats pin each model (chats on the default are not counted)."""
        rows = await self._db.fetch(
            "SELECT settings::jsonb ->> 'model' AS model, count(*) FROM chat_settings "
            "WHERE settings::jsonb ->> 'model' <> '' GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        return {str(model): int(count) for model, count in rows}
