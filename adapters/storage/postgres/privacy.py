"""The SQL of retention, /forget and /export in PostgreSQL; what to delete is core/privacy.py's call.

Deleting removes the rows (and the chunks of recall with them, by cascade) in one transaction.
PostgreSQL has no ``secure_delete``: a deleted row stays in its page as a dead tuple until
VACUUM frees the space, and even then its bytes stay on disk until new rows overwrite them; the
write-ahead log, backups and replicas keep what they kept. ``checkpoint`` runs a plain VACUUM of
the tables that hold content (what the owning role may run), so no query, index or later
snapshot can reach a deleted row and its space is reused first; scrubbing the disk is the
operator's (the server's storage encryption, backups' retention).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg

from adapters.storage.postgres.database import Database
from core.ports.records import HeldMessage, UserRecord

log = logging.getLogger(__name__)

DAY = 86_400
# The tables that hold what users wrote (summaries are in conversations, questions not yet
# answered in the inbox).
CONTENT_TABLES = (
    "messages",
    "memory_chunks",
    "conversations",
    "users",
    "video_jobs",
    "chat_settings",
    "inbox",
)

# A chat's own retention_days (in its settings' JSON) wins over the default; 0 keeps forever.
_DAYS = "COALESCE((s.settings::jsonb ->> 'retention_days')::double precision, $1)"


class PrivacyStore:
    """Find and delete a user's content; delete expired messages; vacuum after."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def delete_expired(self, default_days: int, now: float, limit: int) -> list[int]:
        """Delete up to ``limit`` messages older than their chat's retention; return the
        conversation of each (a chat's own retention_days wins; 0 keeps forever)."""
        # The first condition follows from the second (no chat keeps less than the shortest
        # retention) and lets the index on created_at skip the recent messages. SKIP LOCKED: two
        # workers sweeping at once share the work instead of waiting for each other.
        rows = await self._db.fetch(
            "DELETE FROM messages WHERE id IN (SELECT m.id FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id "
            "LEFT JOIN chat_settings s ON s.platform = c.platform AND s.chat_id = c.chat_id "
            "WHERE m.created_at < $2 - $3 * (SELECT MIN(d) FROM (SELECT $1::double precision AS d "
            "UNION ALL SELECT (settings::jsonb ->> 'retention_days')::double precision FROM chat_settings "
            "WHERE settings LIKE '%retention_days%') "
            "AS days WHERE d > 0) "
            f"AND {_DAYS} > 0 AND m.created_at < $2 - $3 * {_DAYS} "
            "LIMIT $4 FOR UPDATE OF m SKIP LOCKED) RETURNING conversation_id",
            float(default_days),
            now,
            DAY,
            limit,
        )
        return [int(r[0]) for r in rows]

    async def clear_summaries(self, conversation_ids: list[int]) -> None:
        """Empty the summaries of these conversations (they retell deleted messages)."""
        if conversation_ids:
            await self._db.execute(
                "UPDATE conversations SET summary = '', summary_tokens = 0 "
                "WHERE id = ANY($1::bigint[]) AND summary != ''",
                conversation_ids,
            )

    async def checkpoint(self) -> None:
        """Vacuum the tables of content, so no deleted row stays reachable (see the module)."""
        if self._db.in_transaction():
            return  # VACUUM cannot run in a transaction: the next checkpoint after it does
        try:
            # SKIP_LOCKED: a table another worker (or autovacuum) is vacuuming now is left to it.
            await self._db.execute(f"VACUUM (SKIP_LOCKED) {', '.join(CONTENT_TABLES)}")
        except asyncpg.PostgresError as exc:  # deleting worked; the clean-up waits for autovacuum
            log.warning("VACUUM after a delete failed (autovacuum will do it): %s", exc)

    async def user(self, platform: str, platform_user_id: str) -> UserRecord | None:
        """A stored user, or None."""
        row = await self._db.fetchrow(
            "SELECT id, display_name, created_at FROM users WHERE platform = $1 AND platform_user_id = $2",
            platform,
            platform_user_id,
        )
        return UserRecord(int(row[0]), row[1], float(row[2])) if row else None

    async def delete_chat_settings(self, platform: str, chat_id: str) -> int:
        """Delete a chat's settings; return how many rows went (0 or 1)."""
        return await self._db.execute(
            "DELETE FROM chat_settings WHERE platform = $1 AND chat_id = $2", platform, chat_id
        )

    async def chat_settings(self, platform: str, chat_id: str) -> dict[str, Any] | None:
        """A chat's settings as stored (for /export), or None."""
        settings = await self._db.fetchval(
            "SELECT settings::text FROM chat_settings WHERE platform = $1 AND chat_id = $2", platform, chat_id
        )
        return dict(json.loads(settings)) if settings is not None else None

    async def solo_chats(self, conversation_ids: list[int]) -> list[tuple[str, str]]:
        """The chats whose conversations with messages are all among ``conversation_ids``."""
        if not conversation_ids:
            return []
        rows = await self._db.fetch(
            "SELECT DISTINCT platform, chat_id FROM conversations c WHERE id = ANY($1::bigint[]) AND NOT EXISTS "
            "(SELECT 1 FROM conversations o WHERE o.platform = c.platform AND o.chat_id = c.chat_id "
            "AND NOT o.id = ANY($1::bigint[]) AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = o.id))",
            conversation_ids,
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def conversations_of(self, user_id: int, platform: str, scope: str, chats: list[str]) -> set[int]:
        """Conversations the user wrote in, or held in their own scope or private chats."""
        rows = await self._db.fetch(
            "SELECT DISTINCT conversation_id FROM messages WHERE user_id = $1 UNION "
            "SELECT id FROM conversations WHERE platform = $2 AND (user_scope = $3 OR chat_id = ANY($4::text[]))",
            user_id,
            platform,
            scope,
            chats,
        )
        return {int(r[0]) for r in rows}

    async def others_spoke(self, conversation_id: int, user_id: int) -> bool:
        """Whether anyone but this user wrote in a conversation."""
        return bool(
            await self._db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND role = 'user' "
                "AND user_id IS DISTINCT FROM $2)",
                conversation_id,
                user_id,
            )
        )

    async def turns_of(self, user_id: int) -> list[tuple[int, int]]:
        """(message id, conversation id) of the user's messages and the answer that follows each
        (the conversation's next message, when it is the bot's: ids of one turn need not be
        consecutive when several workers insert at once)."""
        rows = await self._db.fetch(
            "SELECT q.id, q.conversation_id FROM messages q WHERE q.user_id = $1 UNION "
            "SELECT a.id, a.conversation_id FROM messages q CROSS JOIN LATERAL (SELECT n.id, n.conversation_id, "
            "n.role FROM messages n WHERE n.conversation_id = q.conversation_id AND n.id > q.id "
            "ORDER BY n.id LIMIT 1) a WHERE q.user_id = $1 AND a.role = 'assistant'",
            user_id,
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def messages(self, whole: list[int], shared: list[int]) -> list[HeldMessage]:
        """Every message of the ``whole`` conversations and the ``shared`` messages, oldest
        first per conversation."""
        rows = await self._db.fetch(
            "SELECT c.id, c.chat_id, c.thread_id, c.persona, m.role, m.content, m.created_at, m.user_id "
            "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.conversation_id = ANY($1::bigint[]) OR m.id = ANY($2::bigint[]) ORDER BY c.id, m.id",
            whole,
            shared,
        )
        return [HeldMessage(*r) for r in rows]

    async def summary(self, conversation_id: int) -> str:
        """A conversation's running summary ("" when none)."""
        summary = await self._db.fetchval("SELECT summary FROM conversations WHERE id = $1", conversation_id)
        return str(summary) if summary else ""

    async def documents(self, whole: list[int], shared: list[int]) -> list[tuple[int, str, float]]:
        """(conversation id, text, created_at) of the document chunks of the ``whole``
        conversations and the ``shared`` messages, in the order they were stored (each text
        once, though several embedding models may hold it)."""
        rows = await self._db.fetch(
            "SELECT conversation_id, text, MIN(created_at) FROM memory_chunks WHERE kind = 'document' "
            "AND (conversation_id = ANY($1::bigint[]) OR message_id = ANY($2::bigint[])) "
            "GROUP BY conversation_id, message_id, text ORDER BY MIN(id)",
            whole,
            shared,
        )
        return [(int(r[0]), str(r[1]), float(r[2])) for r in rows]

    async def video_jobs_of(self, platform: str, platform_user_id: str) -> list[dict[str, Any]]:
        """The user's video and music jobs for /export: id, kind, status, model, prompt, created_at."""
        rows = await self._db.fetch(
            "SELECT id, status, model, request::jsonb ->> 'prompt', created_at, kind FROM video_jobs "
            "WHERE platform = $1 AND user_id = $2 ORDER BY created_at, id",
            platform,
            platform_user_id,
        )
        return [
            {"id": r[0], "kind": r[5], "status": r[1], "model": r[2], "prompt": r[3], "at": r[4]}
            for r in rows
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
        async with self._db.transaction() as conn:
            gone = await conn.fetch(
                "DELETE FROM messages WHERE conversation_id = ANY($1::bigint[]) OR id = ANY($2::bigint[]) "
                "RETURNING conversation_id",
                whole,
                shared,
            )
            await conn.execute("DELETE FROM conversations WHERE id = ANY($1::bigint[])", whole)
            rest = sorted(touched - set(whole))
            if rest:
                await conn.execute(
                    "UPDATE conversations SET summary = '', summary_tokens = 0 WHERE id = ANY($1::bigint[])",
                    rest,
                )
            await conn.execute("DELETE FROM account_links WHERE user_id = $1", user_id)
            await conn.execute("UPDATE users SET display_name = NULL WHERE id = $1", user_id)
            await conn.execute(
                "DELETE FROM video_jobs WHERE platform = $1 AND user_id = $2 AND status != 'queued'",
                platform,
                platform_user_id,
            )
            await conn.execute(
                "UPDATE video_jobs SET request = jsonb_set(request::jsonb, '{prompt}', '\"\"') "
                "WHERE platform = $1 AND user_id = $2",
                platform,
                platform_user_id,
            )
        return len(gone), {int(r[0]) for r in gone}
