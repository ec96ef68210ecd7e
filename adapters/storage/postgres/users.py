"""Read-only look-ups of the users and chats the bot has seen, in PostgreSQL.

Nothing here writes: an operator looking someone up must not create them. Users are
created only by ``ConversationStore.user_id``, when they use the bot. The owner of a user's
account comes from the ledger's tables (account_links, accounts: migration 0002).
"""

from __future__ import annotations

from typing import Any

from adapters.storage.postgres.database import Database
from adapters.storage.rows import known_user, search_pattern
from core.ports.records import KnownUser, UserPage

_SELECT = (
    "SELECT u.id, u.platform, u.platform_user_id, u.display_name, u.created_at, m.last, "
    "COALESCE(l.owner, 'user:' || u.id), o.platform || ':' || o.platform_user_id "
    "FROM users u "
    "LEFT JOIN (SELECT user_id, MAX(created_at) AS last FROM messages WHERE user_id IS NOT NULL "
    "GROUP BY user_id) m ON m.user_id = u.id "
    "LEFT JOIN account_links l ON l.user_id = u.id "
    "LEFT JOIN users o ON l.owner = 'user:' || o.id AND o.id != u.id "
)
# ILIKE: SQLite's LIKE ignores the case of ASCII letters, and the search must find the same.
_MATCH = (
    "(u.platform || ':' || u.platform_user_id ILIKE $1 ESCAPE '\\' "
    "OR COALESCE(u.display_name, '') ILIKE $1 ESCAPE '\\')"
)


class UserDirectory:
    """Find users and chats without creating them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, platform: str, platform_user_id: str) -> int | None:
        """The internal id of a user the bot has seen, or None."""
        found = await self._db.fetchval(
            "SELECT id FROM users WHERE platform = $1 AND platform_user_id = $2", platform, platform_user_id
        )
        return None if found is None else int(found)

    async def get(self, platform: str, platform_user_id: str) -> KnownUser | None:
        """A seen user with their account, or None."""
        row = await self._db.fetchrow(
            _SELECT + "WHERE u.platform = $1 AND u.platform_user_id = $2", platform, platform_user_id
        )
        return known_user(row) if row else None

    async def search(self, text: str | None = None, *, limit: int = 50, offset: int = 0) -> UserPage:
        """Users whose ``platform:id`` or name contains ``text``, most recently active first
        (ties by newest id: pages never overlap); ``offset`` skips that many of them."""
        where = ""
        params: list[Any] = []
        if text:
            where, params = f"WHERE {_MATCH} ", [search_pattern(text)]
        rows = await self._db.fetch(
            _SELECT
            + where
            + "ORDER BY COALESCE(m.last, u.created_at) DESC, u.id DESC "
            + f"LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}",
            *params,
            limit,
            offset,
        )
        total = await self._db.fetchval(f"SELECT COUNT(*) FROM users u {where}", *params)
        return UserPage([known_user(row) for row in rows], int(total))

    async def sharing(self, owner: str) -> list[str]:
        """``platform:id`` of every user who pays from ``owner`` (linked accounts and its own user)."""
        rows = await self._db.fetch(
            "SELECT u.platform || ':' || u.platform_user_id FROM users u "
            "LEFT JOIN account_links l ON l.user_id = u.id "
            "WHERE COALESCE(l.owner, 'user:' || u.id) = $1 ORDER BY u.id",
            owner,
        )
        return [str(row[0]) for row in rows]

    async def chat_seen(self, platform: str, chat_id: str) -> bool:
        """Whether the bot knows a chat: it has a conversation, settings or a shared balance."""
        return bool(
            await self._db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM conversations WHERE platform = $1 AND chat_id = $2) "
                "OR EXISTS (SELECT 1 FROM chat_settings WHERE platform = $1 AND chat_id = $2) "
                "OR EXISTS (SELECT 1 FROM accounts WHERE owner = $3)",
                platform,
                chat_id,
                f"chat:{platform}:{chat_id}",
            )
        )
