"""Conversations and their messages in SQLite."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable

from adapters.storage.sqlite.database import Database
from core.ports.records import Conversation, ConversationKey, StoredMessage


class ConversationStore:
    """Read and write conversations; keeps recent ones and user ids cached in memory.

    The process is the only writer of its database, so the caches stay true. The database
    stays the truth: a conversation dropped from the cache is simply read again.
    """

    PAGE = 256  # one query covers most windows; each query is a round trip to the DB thread
    CACHED_CONVERSATIONS = 512

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        discarded: Callable[[int, frozenset[int] | None], None] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        # Told what of an ephemeral conversation is let go of (the whole conversation: None, or
        # the messages of a regenerated turn), so what else the process holds of it (its
        # recall chunks) goes too. A stored conversation's go by cascade in the database.
        self._discarded = discarded or (lambda conversation_id, message_ids: None)
        self._active: OrderedDict[ConversationKey, Conversation] = OrderedDict()
        self._users: dict[tuple[str, str], int] = {}
        self._ephemeral: dict[ConversationKey, Conversation] = {}
        self._memory_ids = itertools.count(1 << 50)  # ids of in-memory messages, above any row's

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
            if key not in self._ephemeral:
                self._ephemeral[key] = Conversation(-next(self._memory_ids), key, recent_complete=True)
            return self._ephemeral[key]
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
        self._active[key] = conversation
        if len(self._active) > self.CACHED_CONVERSATIONS:
            self._active.popitem(last=False)
        return conversation

    async def reset(self, key: ConversationKey) -> bool:
        """Retire the key's active conversation; return whether there was one with messages."""
        if key.ephemeral:
            gone = self._ephemeral.pop(key, None)
            if gone is not None:
                self._discarded(gone.id, None)
            return bool(gone and gone.recent)
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

    async def newest(
        self, conversation: Conversation, budget: int, *, before_id: int | None = None
    ) -> list[StoredMessage]:
        """Return the newest unsummarized messages whose tokens fit ``budget``, oldest first.

        ``before_id`` leaves out that message and all later ones (to regenerate an answer).
        From the cache when it holds them all; otherwise pages from the newest backwards
        along the (conversation_id, id) index, so the cost depends on the window, not on how
        many messages the conversation has stored.
        """
        if conversation.recent_complete:
            recent = conversation.recent
            if before_id is not None:
                recent = [m for m in recent if m.id < before_id]
            return _fit(recent, budget)
        picked: list[StoredMessage] = []
        used = 0
        before = before_id if before_id is not None else 1 << 62
        while True:
            rows = await self._db.fetchall(
                "SELECT id, role, content, token_count, interrupted FROM messages "
                "WHERE conversation_id = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?",
                (conversation.id, conversation.summarized_upto, before, self.PAGE),
            )
            for row in rows:
                picked.append(StoredMessage(row[0], row[1], row[2], row[3], bool(row[4])))
                used += row[3]
            if len(rows) < self.PAGE:
                picked.reverse()
                if before_id is None:
                    # Every unsummarized message: cache them, and take their true token count.
                    conversation.recent = picked
                    conversation.recent_complete = True
                    conversation.unsummarized_tokens = used
                return _fit(picked, budget)
            if used > budget:
                picked.reverse()
                return _fit(picked, budget)
            before = rows[-1][0]

    async def last_turn(self, conversation: Conversation) -> tuple[StoredMessage, StoredMessage] | None:
        """The newest question and its answer, if the conversation ends with a whole turn."""
        messages = (
            await self.newest(conversation, 1 << 62)
            if not conversation.recent_complete
            else conversation.recent
        )
        if len(messages) >= 2 and messages[-2].role == "user" and messages[-1].role == "assistant":
            return messages[-2], messages[-1]
        return None

    async def oldest_unsummarized(self, conversation: Conversation, tokens: int) -> list[StoredMessage]:
        """Return the oldest unsummarized messages, up to about ``tokens`` tokens."""
        if conversation.in_memory:
            taken: list[StoredMessage] = []
            for stored in conversation.recent:
                if sum(m.token_count for m in taken) >= tokens:
                    break
                taken.append(stored)
            return taken
        picked: list[StoredMessage] = []
        used = 0
        after = conversation.summarized_upto
        while used < tokens:
            rows = await self._db.fetchall(
                "SELECT id, role, content, token_count, interrupted FROM messages "
                "WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
                (conversation.id, after, self.PAGE),
            )
            for row in rows:
                if used >= tokens:
                    break
                used += row[3]
                picked.append(StoredMessage(row[0], row[1], row[2], row[3], bool(row[4])))
            if len(rows) < self.PAGE:
                break
            after = rows[-1][0]
        return picked

    async def save_turn(
        self,
        conversation: Conversation,
        *,
        user_id: int | None,
        question: str,
        question_tokens: int,
        answer: str,
        answer_tokens: int,
        interrupted: bool = False,
        replacing: tuple[StoredMessage, StoredMessage] | None = None,
    ) -> None:
        """Store a question and its answer together: both or neither.

        ``replacing`` is a regenerated turn's old question and answer, removed in the same
        transaction. Otherwise one multi-row INSERT, atomic on its own, costs one round trip.
        """
        now = self._clock()
        if conversation.in_memory:
            answer_id = next(self._memory_ids) + 1
            next(self._memory_ids)
        else:
            answer_id = await self._insert_turn(
                conversation,
                user_id,
                question,
                question_tokens,
                answer,
                answer_tokens,
                interrupted,
                replacing,
                now,
            )
        conversation.unsummarized_tokens += question_tokens + answer_tokens
        if replacing is not None:
            conversation.unsummarized_tokens -= sum(m.token_count for m in replacing)
            gone = {m.id for m in replacing}
            conversation.recent = [m for m in conversation.recent if m.id not in gone]
            if conversation.in_memory:
                self._discarded(conversation.id, frozenset(gone))
        if conversation.recent_complete:
            conversation.recent.append(StoredMessage(answer_id - 1, "user", question, question_tokens))
            conversation.recent.append(
                StoredMessage(answer_id, "assistant", answer, answer_tokens, interrupted)
            )

    async def replace_opening(self, conversation: Conversation, greeting: str, tokens: int) -> bool:
        """Swap the greeting of a conversation that holds nothing else; False otherwise."""
        messages = await self.newest(conversation, 1 << 62)
        if len(messages) != 1 or messages[0].role != "assistant":
            return False
        old = messages[0]
        if not conversation.in_memory:
            await self._db.execute(
                "UPDATE messages SET content = ?, token_count = ? WHERE id = ?", (greeting, tokens, old.id)
            )
        conversation.recent = [StoredMessage(old.id, "assistant", greeting, tokens)]
        conversation.recent_complete = True
        conversation.unsummarized_tokens += tokens - old.token_count
        return True

    async def _insert_turn(
        self,
        conversation: Conversation,
        user_id: int | None,
        question: str,
        question_tokens: int,
        answer: str,
        answer_tokens: int,
        interrupted: bool,
        replacing: tuple[StoredMessage, StoredMessage] | None,
        now: float,
    ) -> int:
        """Write a turn (and remove the one it replaces); returns the answer's id."""
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
                    user_id,
                    question,
                    question_tokens,
                    now,
                    conversation.id,
                    answer,
                    answer_tokens,
                    int(interrupted),
                    now,
                ),
            )
            return int(cursor.lastrowid or 0)

    async def save_greeting(self, conversation: Conversation, greeting: str, tokens: int) -> bool:
        """Open an empty conversation with the character's greeting; False when it has messages."""
        if conversation.in_memory:
            if conversation.recent:
                return False
            conversation.recent.append(StoredMessage(next(self._memory_ids), "assistant", greeting, tokens))
            conversation.unsummarized_tokens += tokens
            return True
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO messages (conversation_id, user_id, role, content, token_count, "
                "interrupted, created_at) SELECT ?, NULL, 'assistant', ?, ?, 0, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM messages WHERE conversation_id = ?)",
                (conversation.id, greeting, tokens, self._clock(), conversation.id),
            )
            if cursor.rowcount != 1:
                return False
            message_id = int(cursor.lastrowid or 0)
        conversation.unsummarized_tokens += tokens
        if conversation.recent_complete:
            conversation.recent.append(StoredMessage(message_id, "assistant", greeting, tokens))
        return True

    async def save_summary(
        self,
        conversation: Conversation,
        *,
        summary: str,
        summary_tokens: int,
        upto_id: int,
        folded_tokens: int,
    ) -> None:
        """Record a new running summary covering messages up to ``upto_id``."""
        if not conversation.in_memory:
            async with self._db.transaction() as conn:
                await conn.execute(
                    "UPDATE conversations SET summary = ?, summary_tokens = ?, summarized_upto = ?, "
                    "updated_at = ? WHERE id = ?",
                    (summary, summary_tokens, upto_id, self._clock(), conversation.id),
                )
        conversation.summary = summary
        conversation.summary_tokens = summary_tokens
        conversation.summarized_upto = upto_id
        conversation.unsummarized_tokens = max(0, conversation.unsummarized_tokens - folded_tokens)
        conversation.recent = [m for m in conversation.recent if m.id > upto_id]

    def drop_cached(
        self,
        conversation_ids: set[int],
        *,
        platform: str | None = None,
        user: str | None = None,
        chats: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        """Forget cached conversations (their rows changed under the cache); with ``user``,
        also the in-memory conversations of that user's scope and chats."""
        for key in [k for k, c in self._active.items() if c.id in conversation_ids]:
            del self._active[key]
        if platform is not None:
            for key in [
                k
                for k in self._ephemeral
                if k.platform == platform and (k.user_scope == user or k.chat_id in chats)
            ]:
                self._discarded(self._ephemeral.pop(key).id, None)

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


def _fit(messages: list[StoredMessage], budget: int) -> list[StoredMessage]:
    """The newest messages (oldest first) whose tokens fit, starting on a whole turn."""
    used = 0
    start = len(messages)
    while start > 0 and used + messages[start - 1].token_count <= budget:
        start -= 1
        used += messages[start].token_count
    # Drop a leading answer whose question fell out of the window (an answer that opens the
    # conversation, a character's greeting, had no question: it stays).
    while 0 < start < len(messages) and messages[start].role == "assistant":
        start += 1
    return messages[start:]
