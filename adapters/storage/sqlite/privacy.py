"""The SQL of retention, /forget and /export in SQLite; what to delete is core/privacy.py's call."""

from __future__ import annotations

import json
from typing import Any

from adapters.storage.sqlite.database import Database
from core.ports.records import HeldMessage, UserRecord

DAY = 86_400
CHUNK = 200  # ids per statement: well under SQLite's limit of bound parameters


class PrivacyStore:
    """Find and delete a user's content; delete expired messages; empty the WAL after."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def delete_expired(self, default_days: int, now: float, limit: int) -> list[int]:
        """Delete up to ``limit`` messages older than their chat's retention; return the
        conversation of each (a chat's own retention_days wins; 0 keeps forever)."""
        rows = await self._db.fetchall(
            "DELETE FROM messages WHERE id IN (SELECT m.id FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id "
            "LEFT JOIN chat_settings s ON s.platform = c.platform AND s.chat_id = c.chat_id "
            "WHERE COALESCE(json_extract(s.settings, '$.retention_days'), ?) > 0 "
            "AND m.created_at < ? - ? * COALESCE(json_extract(s.settings, '$.retention_days'), ?) "
            "LIMIT ?) RETURNING conversation_id",
            (default_days, now, DAY, default_days, limit),
        )
        return [int(r[0]) for r in rows]

    async def clear_summaries(self, conversation_ids: list[int]) -> None:
        """Empty the summaries of these conversations (they retell deleted messages)."""
        for start in range(0, len(conversation_ids), CHUNK):
            chunk = conversation_ids[start : start + CHUNK]
            await self._db.execute(
                f"UPDATE conversations SET summary = '', summary_tokens = 0 WHERE id IN ({_marks(chunk)}) "
                "AND summary != ''",
                chunk,
            )

    async def checkpoint(self) -> None:
        """Make deleted content leave every file of the database (the WAL too)."""
        await self._db.checkpoint()

    async def user(self, platform: str, platform_user_id: str) -> UserRecord | None:
        """A stored user, or None."""
        row = await self._db.fetchone(
            "SELECT id, display_name, created_at FROM users WHERE platform = ? AND platform_user_id = ?",
            (platform, platform_user_id),
        )
        return UserRecord(int(row[0]), row[1], float(row[2])) if row else None

    async def delete_chat_settings(self, platform: str, chat_id: str) -> int:
        """Delete a chat's settings; return how many rows went (0 or 1)."""
        return await self._db.execute(
            "DELETE FROM chat_settings WHERE platform = ? AND chat_id = ?", (platform, chat_id)
        )

    async def chat_settings(self, platform: str, chat_id: str) -> dict[str, Any] | None:
        """A chat's settings as stored (for /export), or None."""
        row = await self._db.fetchone(
            "SELECT settings FROM chat_settings WHERE platform = ? AND chat_id = ?", (platform, chat_id)
        )
        return dict(json.loads(row[0])) if row else None

    async def solo_chats(self, conversation_ids: list[int]) -> list[tuple[str, str]]:
        """The chats whose conversations with messages are all among ``conversation_ids``."""
        if not conversation_ids:
            return []
        marks = _marks(conversation_ids)
        rows = await self._db.fetchall(
            f"SELECT DISTINCT platform, chat_id FROM conversations WHERE id IN ({marks}) AND NOT EXISTS "
            f"(SELECT 1 FROM conversations o WHERE o.platform = conversations.platform AND "
            f"o.chat_id = conversations.chat_id AND o.id NOT IN ({marks}) AND EXISTS "
            f"(SELECT 1 FROM messages m WHERE m.conversation_id = o.id))",
            (*conversation_ids, *conversation_ids),
        )
        return [(str(p), str(c)) for p, c in rows]

    async def conversations_of(self, user_id: int, platform: str, scope: str, chats: list[str]) -> set[int]:
        """Conversations the user wrote in, or held in their own scope or private chats."""
        mine = await self._db.fetchall(
            "SELECT DISTINCT conversation_id FROM messages WHERE user_id = ?", (user_id,)
        )
        scoped = await self._db.fetchall(
            f"SELECT id FROM conversations WHERE platform = ? AND (user_scope = ? OR chat_id IN ({_marks(chats)}))",
            (platform, scope, *chats),
        )
        return {int(r[0]) for r in mine} | {int(r[0]) for r in scoped}

    async def others_spoke(self, conversation_id: int, user_id: int) -> bool:
        """Whether anyone but this user wrote in a conversation."""
        row = await self._db.fetchone(
            "SELECT 1 FROM messages WHERE conversation_id = ? AND role = 'user' AND "
            "(user_id IS NULL OR user_id != ?) LIMIT 1",
            (conversation_id, user_id),
        )
        return row is not None

    async def turns_of(self, user_id: int) -> list[tuple[int, int]]:
        """(message id, conversation id) of the user's messages and the answer that follows each
        (a turn is stored as two rows with consecutive ids, a regenerated one too)."""
        rows = await self._db.fetchall(
            "SELECT q.id, q.conversation_id FROM messages q WHERE q.user_id = ? UNION "
            "SELECT a.id, a.conversation_id FROM messages q JOIN messages a ON a.id = q.id + 1 AND "
            "a.conversation_id = q.conversation_id AND a.role = 'assistant' WHERE q.user_id = ?",
            (user_id, user_id),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def messages(self, whole: list[int], shared: list[int]) -> list[HeldMessage]:
        """Every message of the ``whole`` conversations and the ``shared`` messages, oldest
        first per conversation."""
        columns = (
            "SELECT c.id, c.chat_id, c.thread_id, c.persona, m.role, m.content, m.created_at, m.user_id, "
            "m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE "
        )
        rows: list[tuple[Any, ...]] = []
        for key, ids in (("m.conversation_id", whole), ("m.id", shared)):
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                rows.extend(
                    tuple(r) for r in await self._db.fetchall(f"{columns}{key} IN ({_marks(chunk)})", chunk)
                )
        rows.sort(key=lambda r: (r[0], r[8]))
        return [HeldMessage(*r[:8]) for r in rows]

    async def summary(self, conversation_id: int) -> str:
        """A conversation's running summary ("" when none)."""
        row = await self._db.fetchone("SELECT summary FROM conversations WHERE id = ?", (conversation_id,))
        return str(row[0]) if row and row[0] else ""

    async def documents(self, whole: list[int], shared: list[int]) -> list[tuple[int, str, float]]:
        """(conversation id, text, created_at) of the document chunks of the ``whole``
        conversations and the ``shared`` messages, in the order they were stored (each text
        once, though several embedding models may hold it)."""
        rows: list[tuple[int, str, float]] = []
        for key, ids in (("conversation_id", whole), ("message_id", shared)):
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                rows.extend(
                    (int(r[0]), str(r[1]), float(r[2]))
                    for r in await self._db.fetchall(
                        "SELECT conversation_id, text, MIN(created_at), MIN(id) FROM memory_chunks "
                        f"WHERE kind = 'document' AND {key} IN ({_marks(chunk)}) "
                        "GROUP BY conversation_id, message_id, text ORDER BY MIN(id)",
                        chunk,
                    )
                )
        return rows

    async def video_jobs_of(self, platform: str, platform_user_id: str) -> list[dict[str, Any]]:
        """The user's video and music jobs for /export: id, kind, status, model, prompt, created_at."""
        rows = await self._db.fetchall(
            "SELECT id, status, model, request, created_at, kind FROM video_jobs WHERE platform = ? AND user_id = ?",
            (platform, platform_user_id),
        )
        return [
            {
                "id": j[0],
                "kind": j[5],
                "status": j[1],
                "model": j[2],
                "prompt": json.loads(j[3]).get("prompt"),
                "at": j[4],
            }
            for j in rows
        ]

    async def delete_user_content(
        self,
        user_id: int,
        platform: str,
        platform_user_id: str,
        *,
        whole: list[int],
        shared: list[int],
        touched: set[int],
    ) -> tuple[int, set[int]]:
        """In one transaction: delete the ``whole`` conversations and the ``shared`` messages,
        empty the other touched conversations' summaries, unlink the user, drop their name and
        their finished video jobs, blank their queued videos' prompts.

        Returns how many messages went and the conversations they were in.
        """
        deleted = 0
        spread: set[int] = set()
        async with self._db.transaction() as conn:
            for cid in whole:
                cursor = await conn.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
                deleted += cursor.rowcount
                spread.update([cid] if cursor.rowcount else [])
                await conn.execute("DELETE FROM conversations WHERE id = ?", (cid,))
            for start in range(0, len(shared), CHUNK):
                chunk = shared[start : start + CHUNK]
                async with conn.execute(
                    f"DELETE FROM messages WHERE id IN ({_marks(chunk)}) RETURNING conversation_id", chunk
                ) as cursor:
                    gone = list(await cursor.fetchall())
                deleted += len(gone)
                spread.update(int(r[0]) for r in gone)
            rest = sorted(touched - set(whole))
            if rest:
                await conn.execute(
                    f"UPDATE conversations SET summary = '', summary_tokens = 0 WHERE id IN ({_marks(rest)})",
                    rest,
                )
            await conn.execute("DELETE FROM account_links WHERE user_id = ?", (user_id,))
            await conn.execute("UPDATE users SET display_name = NULL WHERE id = ?", (user_id,))
            await conn.execute(
                "DELETE FROM video_jobs WHERE platform = ? AND user_id = ? AND status != 'queued'",
                (platform, platform_user_id),
            )
            await conn.execute(
                "UPDATE video_jobs SET request = json_set(request, '$.prompt', '') "
                "WHERE platform = ? AND user_id = ?",
                (platform, platform_user_id),
            )
        return deleted, spread


def _marks(values: list[Any]) -> str:
    return ",".join("?" * len(values))
