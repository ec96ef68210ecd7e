"""Read-only look-ups of the users and chats the bot has seen (for admins and /whoami).

Nothing here writes: an operator looking someone up must not create them. Users are
created only by ``ConversationStore.user_id``, when they use the bot.
"""

from __future__ import annotations

from adapters.storage.rows import known_user, search_pattern
from adapters.storage.sqlite.database import Database
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
_MATCH = (
    "(u.platform || ':' || u.platform_user_id LIKE ? ESCAPE '\\' "
    "OR COALESCE(u.display_name, '') LIKE ? ESCAPE '\\')"
)


class UserDirectory:
    """Find users and chats without creating them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, platform: str, platform_user_id: str) -> int | None:
        """The internal id of a user the bot has seen, or None."""
        row = await self._db.fetchone(
            "SELECT id FROM users WHERE platform = ? AND platform_user_id = ?", (platform, platform_user_id)
        )
        return int(row[0]) if row else None

    async def get(self, platform: str, platform_user_id: str) -> KnownUser | None:
        """A seen user with their account, or None."""
        rows = await self._db.fetchall(
            _SELECT + "WHERE u.platform = ? AND u.platform_user_id = ?", (platform, platform_user_id)
        )
        return known_user(rows[0]) if rows else None

    async def search(self, text: str | None = None, *, limit: int = 50, offset: int = 0) -> UserPage:
        """Users whose ``platform:id`` or name contains ``text``, most recently active first
        (ties by newest id: pages never overlap); ``offset`` skips that many of them."""
        where = ""
        params: tuple[str, ...] = ()
        if text:
            pattern = search_pattern(text)
            where, params = f"WHERE {_MATCH} ", (pattern, pattern)
        rows = await self._db.fetchall(
            _SELECT + where + "ORDER BY COALESCE(m.last, u.created_at) DESC, u.id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        count = await self._db.fetchone(f"SELECT COUNT(*) FROM users u {where}", params)
        return UserPage([known_user(r) for r in rows], int(count[0]) if count else 0)

    async def sharing(self, owner: str) -> list[str]:
        """``platform:id`` of every user who pays from ``owner`` (linked accounts and its own user)."""
        rows = await self._db.fetchall(
            "SELECT u.platform || ':' || u.platform_user_id FROM users u "
            "LEFT JOIN account_links l ON l.user_id = u.id "
            "WHERE COALESCE(l.owner, 'user:' || u.id) = ? ORDER BY u.id",
            (owner,),
        )
        return [str(r[0]) for r in rows]

    async def chat_seen(self, platform: str, chat_id: str) -> bool:
        """Whether the bot knows a chat: it has a conversation, settings or a shared balance."""
        row = await self._db.fetchone(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE platform = ? AND chat_id = ?) "
            "OR EXISTS (SELECT 1 FROM chat_settings WHERE platform = ? AND chat_id = ?) "
            "OR EXISTS (SELECT 1 FROM accounts WHERE owner = ?)",
            (platform, chat_id, platform, chat_id, f"chat:{platform}:{chat_id}"),
        )
        return bool(row and row[0])
