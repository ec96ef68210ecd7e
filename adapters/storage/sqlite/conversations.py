"""Conversations and their messages in SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.storage.conversations import CachedConversations, Turn, message
from adapters.storage.rows import conversation_count
from adapters.storage.sqlite.database import Database
from core.ports.records import Conversation, ConversationCount, ConversationKey, StoredMessage

_MESSAGE = "SELECT id, role, content, token_count, interrupted FROM messages "


class ConversationStore(CachedConversations):
    """Read and write conversations; keeps recent ones and user ids cached in memory.

    The process is the only writer of its database, so the caches stay true. The database
    stays the truth: a conversation dropped from the cache is simply read again.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        discarded: Callable[[int, frozenset[int] | None], None] | None = None,
    ) -> None:
        super().__init__(discarded=discarded)
        self._db = db
        self._clock = clock
        self._users: dict[tuple[str, str], int] = {}

    async def user_id(self, platform: str, platform_user_id: str, display_name: str | None) -> int:
        """Return the internal id of a platform user, creating the user on first sight."""
        cache_key = (platform, platform_user_id)
        if cache_key in self._users:
            return self._users[cache_key]
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (platform, platform_user_id, display_name, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (platform, platform_user_id) "
                "DO UPDATE SET display_name = COALESCE(excluded.display_name, display_name)",
                (platform, platform_user_id, display_name, self._clock()),
            )
            async with conn.execute(
                "SELECT id FROM users WHERE platform = ? AND platform_user_id = ?",
                (platform, platform_user_id),
            ) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        self._users[cache_key] = int(row[0])
        return int(row[0])

    async def active(self, key: ConversationKey) -> Conversation:
        """Return the key's active conversation, starting one if there is none."""
        if key.ephemeral:
            return self._ephemeral_active(key)
        cached = self._active.get(key)
        if cached is not None:
            self._active.move_to_end(key)
            return cached
        sql = (
            "SELECT id, summary, summary_tokens, summarized_upto, "
            "(SELECT COALESCE(SUM(token_count), 0) FROM messages m WHERE "
            "m.conversation_id = c.id AND m.id > c.summarized_upto) "
            "FROM conversations c WHERE platform = ? AND chat_id = ? AND thread_id = ? "
            "AND user_scope = ? AND persona = ? AND active = 1"
        )
        params = (key.platform, key.chat_id, key.thread_id, key.user_scope, key.persona)
        row = await self._db.fetchone(sql, params)
        if row is None:
            now = self._clock()
            async with self._db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO conversations (platform, chat_id, thread_id, user_scope, persona, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (*params, now, now),
                )
            row = await self._db.fetchone(sql, params)
            assert row is not None
        conversation = Conversation(int(row[0]), key, row[1], row[2], row[3], row[4])
        self._remember(key, conversation)
        return conversation

    async def reset(self, key: ConversationKey) -> bool:
        """Retire the key's active conversation; return whether there was one with messages."""
        if key.ephemeral:
            return self._ephemeral_reset(key)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE conversations SET active = 0, updated_at = ? WHERE platform = ? AND "
                "chat_id = ? AND thread_id = ? AND user_scope = ? AND persona = ? AND active = 1 "
                "AND EXISTS (SELECT 1 FROM messages WHERE conversation_id = conversations.id)",
                (self._clock(), key.platform, key.chat_id, key.thread_id, key.user_scope, key.persona),
            )
            changed = cursor.rowcount > 0
        self._active.pop(key, None)
        return changed

    async def counts(self) -> dict[str, int]:
        """How many users, conversations and messages are stored."""
        row = await self._db.fetchone(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM conversations), "
            "(SELECT COUNT(*) FROM messages)"
        )
        assert row is not None
        return {"users": row[0], "conversations": row[1], "messages": row[2]}

    async def count_messages(self, conversation: Conversation) -> int:
        """How many messages the conversation has stored."""
        if conversation.in_memory:
            return len(conversation.recent)
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation.id,)
        )
        return int(row[0]) if row else 0

    async def counts_of_user(self, user_id: int) -> list[ConversationCount]:
        """How many messages a user and the answers to them hold per chat, most recent first.

        A turn is stored as two rows with consecutive ids (a regenerated one too): the answer
        to a user's message is the bot's row right after it.
        """
        rows = await self._db.fetchall(
            "SELECT c.platform, c.chat_id, COUNT(q.id) + COUNT(a.id), "
            "MAX(MAX(q.created_at), COALESCE(MAX(a.created_at), 0)) AS last "
            "FROM messages q JOIN conversations c ON c.id = q.conversation_id "
            "LEFT JOIN messages a ON a.id = q.id + 1 AND a.conversation_id = q.conversation_id "
            "AND a.role = 'assistant' WHERE q.user_id = ? AND q.role = 'user' "
            "GROUP BY c.platform, c.chat_id ORDER BY last DESC, c.platform, c.chat_id",
            (user_id,),
        )
        return [conversation_count(row) for row in rows]

    async def _page_before(self, conversation: Conversation, before: int) -> list[StoredMessage]:
        rows = await self._db.fetchall(
            _MESSAGE + "WHERE conversation_id = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?",
            (conversation.id, conversation.summarized_upto, before, self.PAGE),
        )
        return [message(row) for row in rows]

    async def _page_after(self, conversation: Conversation, after: int) -> list[StoredMessage]:
        rows = await self._db.fetchall(
            _MESSAGE + "WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
            (conversation.id, after, self.PAGE),
        )
        return [message(row) for row in rows]

    async def _insert_turn(
        self, conversation: Conversation, turn: Turn, replacing: tuple[StoredMessage, StoredMessage] | None
    ) -> tuple[int, int]:
        # Without a turn to replace, one multi-row INSERT, atomic on its own, costs one round trip.
        now = self._clock()
        async with self._db.transaction(begin=replacing is not None) as conn:
            if replacing is not None:
                await conn.execute(
                    "DELETE FROM messages WHERE conversation_id = ? AND id IN (?, ?)",
                    (conversation.id, replacing[0].id, replacing[1].id),
                )
            cursor = await conn.execute(
                "INSERT INTO messages (conversation_id, user_id, role, content, token_count, "
                "interrupted, created_at) VALUES (?, ?, 'user', ?, ?, 0, ?), "
                "(?, NULL, 'assistant', ?, ?, ?, ?)",
                (
                    conversation.id,
                    turn.user_id,
                    turn.question,
                    turn.question_tokens,
                    now,
                    conversation.id,
                    turn.answer,
                    turn.answer_tokens,
                    int(turn.interrupted),
                    now,
                ),
            )
            # One process writes, so the question's row is the one just before the answer's.
            answer_id = int(cursor.lastrowid or 0)
            return answer_id - 1, answer_id

    async def _set_content(self, conversation: Conversation, message_id: int, text: str, tokens: int) -> None:
        await self._db.execute(
            "UPDATE messages SET content = ?, token_count = ? WHERE id = ?", (text, tokens, message_id)
        )

    async def _insert_greeting(self, conversation: Conversation, greeting: str, tokens: int) -> int | None:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO messages (conversation_id, user_id, role, content, token_count, "
                "interrupted, created_at) SELECT ?, NULL, 'assistant', ?, ?, 0, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM messages WHERE conversation_id = ?)",
                (conversation.id, greeting, tokens, self._clock(), conversation.id),
            )
            return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else None

    async def _store_summary(
        self, conversation: Conversation, summary: str, summary_tokens: int, upto_id: int
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE conversations SET summary = ?, summary_tokens = ?, summarized_upto = ?, "
                "updated_at = ? WHERE id = ?",
                (summary, summary_tokens, upto_id, self._clock(), conversation.id),
            )
