"""Conversations and their messages in PostgreSQL, written by several workers at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.storage.conversations import CachedConversations, Turn, message
from adapters.storage.postgres.database import Database
from adapters.storage.rows import conversation_count
from core.ports.records import Conversation, ConversationCount, ConversationKey, StoredMessage

_MESSAGE = "SELECT id, role, content, token_count, interrupted FROM messages "
_ACTIVE = (
    "SELECT id, revision, summary, summary_tokens, summarized_upto FROM conversations "
    "WHERE platform = $1 AND chat_id = $2 AND thread_id = $3 AND user_scope = $4 AND persona = $5 "
    "AND active"
)


class ConversationStore(CachedConversations):
    """Read and write conversations; user ids and recent conversations cached in memory.

    A user's id never changes, so that cache is true in every worker. A conversation is
    cached with the ``revision`` of its row, which every change to it or its messages moves
    (database triggers, whoever writes): ``active`` reads the row (one indexed look-up) and
    keeps the cached messages only while the revision is the one this worker expects. A turn
    another worker saved, a summary it folded, a retention sweep: the cache is read again.
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
        # The revision each cached conversation has once this worker's own writes are in.
        self._revisions: dict[int, int] = {}

    async def user_id(self, platform: str, platform_user_id: str, display_name: str | None) -> int:
        """Return the internal id of a platform user, creating the user on first sight."""
        cache_key = (platform, platform_user_id)
        if cache_key in self._users:
            return self._users[cache_key]
        uid = int(
            await self._db.fetchval(
                "INSERT INTO users (platform, platform_user_id, display_name, created_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (platform, platform_user_id) "
                "DO UPDATE SET display_name = COALESCE(excluded.display_name, users.display_name) "
                "RETURNING id",
                platform,
                platform_user_id,
                display_name,
                self._clock(),
            )
        )
        self._users[cache_key] = uid
        return uid

    async def active(self, key: ConversationKey) -> Conversation:
        """Return the key's active conversation, starting one if there is none."""
        if key.ephemeral:
            return self._ephemeral_active(key)
        params = (key.platform, key.chat_id, key.thread_id, key.user_scope, key.persona)
        row = await self._db.fetchrow(_ACTIVE, *params)
        if row is None:
            now = self._clock()
            await self._db.execute(
                "INSERT INTO conversations (platform, chat_id, thread_id, user_scope, persona, "
                "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
                *params,
                now,
            )
            row = await self._db.fetchrow(_ACTIVE, *params)
            assert row is not None  # inserted, or another worker did
        cid, revision = int(row["id"]), int(row["revision"])
        cached = self._active.get(key)
        if cached is not None and cached.id == cid and self._revisions.get(cid) == revision:
            self._active.move_to_end(key)
            return cached
        unsummarized = await self._db.fetchval(
            "SELECT COALESCE(SUM(token_count), 0) FROM messages WHERE conversation_id = $1 AND id > $2",
            cid,
            row["summarized_upto"],
        )
        conversation = Conversation(
            cid, key, row["summary"], row["summary_tokens"], row["summarized_upto"], int(unsummarized)
        )
        self._remember(key, conversation)
        self._revisions[cid] = revision
        return conversation

    async def reset(self, key: ConversationKey) -> bool:
        """Retire the key's active conversation; return whether there was one with messages."""
        if key.ephemeral:
            return self._ephemeral_reset(key)
        changed = await self._db.execute(
            "UPDATE conversations SET active = false, updated_at = $6 WHERE platform = $1 AND "
            "chat_id = $2 AND thread_id = $3 AND user_scope = $4 AND persona = $5 AND active "
            "AND EXISTS (SELECT 1 FROM messages WHERE conversation_id = conversations.id)",
            key.platform,
            key.chat_id,
            key.thread_id,
            key.user_scope,
            key.persona,
            self._clock(),
        )
        gone = self._active.pop(key, None)
        if gone is not None:
            self._evicted(gone)
        return changed > 0

    async def counts(self) -> dict[str, int]:
        """How many users, conversations and messages are stored."""
        row = await self._db.fetchrow(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM conversations), "
            "(SELECT COUNT(*) FROM messages)"
        )
        assert row is not None
        return {"users": int(row[0]), "conversations": int(row[1]), "messages": int(row[2])}

    async def counts_of_user(self, user_id: int) -> list[ConversationCount]:
        """How many messages a user and the answers to them hold per chat, most recent first.

        The answer to a user's message is the conversation's next message when it is the bot's
        (ids of one turn need not be consecutive when several workers insert at once).
        """
        rows = await self._db.fetch(
            "SELECT c.platform, c.chat_id, count(q.id) + count(a.id), "
            "GREATEST(max(q.created_at), max(a.created_at)) AS last "
            "FROM messages q JOIN conversations c ON c.id = q.conversation_id "
            "LEFT JOIN LATERAL (SELECT n.id, n.role, n.created_at FROM messages n "
            "WHERE n.conversation_id = q.conversation_id AND n.id > q.id ORDER BY n.id LIMIT 1) a "
            "ON a.role = 'assistant' WHERE q.user_id = $1 AND q.role = 'user' "
            "GROUP BY c.platform, c.chat_id ORDER BY last DESC, c.platform, c.chat_id",
            user_id,
        )
        return [conversation_count(row) for row in rows]

    async def count_messages(self, conversation: Conversation) -> int:
        """How many messages the conversation has stored."""
        if conversation.in_memory:
            return len(conversation.recent)
        return int(
            await self._db.fetchval(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = $1", conversation.id
            )
        )

    def _evicted(self, conversation: Conversation) -> None:
        self._revisions.pop(conversation.id, None)

    def _wrote(self, conversation: Conversation, statements: int) -> None:
        """Count this worker's own change: each statement that touched the conversation's
        messages (or its summary) moved its revision by one. Any other writer in between
        moved it further, and the next ``active`` reads the conversation again."""
        if conversation.id not in self._revisions:
            return
        if self._active.get(conversation.key) is conversation:
            self._revisions[conversation.id] += statements
        else:  # written through an older copy: the cached one lacks this change
            del self._revisions[conversation.id]

    async def _page_before(self, conversation: Conversation, before: int) -> list[StoredMessage]:
        rows = await self._db.fetch(
            _MESSAGE + "WHERE conversation_id = $1 AND id > $2 AND id < $3 ORDER BY id DESC LIMIT $4",
            conversation.id,
            conversation.summarized_upto,
            before,
            self.PAGE,
        )
        return [message(row) for row in rows]

    async def _page_after(self, conversation: Conversation, after: int) -> list[StoredMessage]:
        rows = await self._db.fetch(
            _MESSAGE + "WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            conversation.id,
            after,
            self.PAGE,
        )
        return [message(row) for row in rows]

    async def _insert_turn(
        self, conversation: Conversation, turn: Turn, replacing: tuple[StoredMessage, StoredMessage] | None
    ) -> tuple[int, int]:
        # Without a turn to replace, one two-row INSERT, atomic on its own, is one round trip.
        # Workers insert at once: the two ids need not be consecutive, so both are returned.
        async with self._db.transaction() if replacing is not None else self._db.connection() as conn:
            if replacing is not None:
                await conn.execute(
                    "DELETE FROM messages WHERE conversation_id = $1 AND id = ANY($2::bigint[])",
                    conversation.id,
                    [replacing[0].id, replacing[1].id],
                )
            ids = await conn.fetch(
                "INSERT INTO messages (conversation_id, user_id, role, content, token_count, "
                "interrupted, created_at) VALUES ($1, $2, 'user', $3, $4, false, $8), "
                "($1, NULL, 'assistant', $5, $6, $7, $8) RETURNING id, role",
                conversation.id,
                turn.user_id,
                turn.question,
                turn.question_tokens,
                turn.answer,
                turn.answer_tokens,
                turn.interrupted,
                self._clock(),
            )
        self._wrote(conversation, 1 if replacing is None else 2)
        by_role = {row["role"]: int(row["id"]) for row in ids}
        return by_role["user"], by_role["assistant"]

    async def _set_content(self, conversation: Conversation, message_id: int, text: str, tokens: int) -> None:
        await self._db.execute(
            "UPDATE messages SET content = $1, token_count = $2 WHERE id = $3", text, tokens, message_id
        )
        self._wrote(conversation, 1)

    async def _insert_greeting(self, conversation: Conversation, greeting: str, tokens: int) -> int | None:
        message_id = await self._db.fetchval(
            "INSERT INTO messages (conversation_id, user_id, role, content, token_count, "
            "interrupted, created_at) SELECT $1, NULL, 'assistant', $2, $3, false, $4 WHERE NOT EXISTS "
            "(SELECT 1 FROM messages WHERE conversation_id = $1) RETURNING id",
            conversation.id,
            greeting,
            tokens,
            self._clock(),
        )
        if message_id is None:
            return None
        self._wrote(conversation, 1)
        return int(message_id)

    async def _store_summary(
        self, conversation: Conversation, summary: str, summary_tokens: int, upto_id: int
    ) -> None:
        await self._db.execute(
            "UPDATE conversations SET summary = $1, summary_tokens = $2, summarized_upto = $3, "
            "updated_at = $4, revision = revision + 1 WHERE id = $5",
            summary,
            summary_tokens,
            upto_id,
            self._clock(),
            conversation.id,
        )
        self._wrote(conversation, 1)
