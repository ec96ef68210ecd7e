"""What every backend's conversation store shares: ephemeral conversations in memory, the
cached window of recent messages, and the rules for reading it. Each backend subclasses
``CachedConversations`` and writes only its SQL (the ``_`` hooks at the end)."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from adapters.storage.rows import Row
from core.ports.records import Conversation, ConversationKey, StoredMessage


class CachedConversations:
    """The backend-neutral part of a conversation store.

    A conversation's unsummarized messages are kept in ``Conversation.recent`` once all have
    been read, and turns are appended as they are saved, so the next window needs no query.
    Ephemeral conversations live only here, never in the database.
    """

    PAGE = 256  # one query covers most windows; each query is a round trip
    CACHED_CONVERSATIONS = 512

    def __init__(self, *, discarded: Callable[[int, frozenset[int] | None], None] | None = None) -> None:
        # Told what of an ephemeral conversation is let go of (the whole conversation: None, or
        # the messages of a regenerated turn), so what else the process holds of it (its
        # recall chunks) goes too. A stored conversation's go by cascade in the database.
        self._discarded = discarded or (lambda conversation_id, message_ids: None)
        self._active: OrderedDict[ConversationKey, Conversation] = OrderedDict()
        self._ephemeral: dict[ConversationKey, Conversation] = {}
        self._memory_ids = itertools.count(1 << 50)  # ids of in-memory messages, above any row's

    def _ephemeral_active(self, key: ConversationKey) -> Conversation:
        """The in-memory conversation of an ephemeral key, started on first use."""
        if key not in self._ephemeral:
            self._ephemeral[key] = Conversation(-next(self._memory_ids), key, recent_complete=True)
        return self._ephemeral[key]

    def _ephemeral_reset(self, key: ConversationKey) -> bool:
        """Let go of an ephemeral conversation; whether it had messages."""
        gone = self._ephemeral.pop(key, None)
        if gone is not None:
            self._discarded(gone.id, None)
        return bool(gone and gone.recent)

    def _remember(self, key: ConversationKey, conversation: Conversation) -> None:
        """Cache a conversation read from the database, dropping the least recently used."""
        self._active[key] = conversation
        self._active.move_to_end(key)
        if len(self._active) > self.CACHED_CONVERSATIONS:
            self._evicted(self._active.popitem(last=False)[1])

    def _evicted(self, conversation: Conversation) -> None:
        """A conversation left the cache (a backend forgets what it kept beside it)."""

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
            return fit_window(recent, budget)
        picked: list[StoredMessage] = []
        used = 0
        before = before_id if before_id is not None else 1 << 62
        while True:
            page = await self._page_before(conversation, before)
            picked.extend(page)
            used += sum(m.token_count for m in page)
            if len(page) < self.PAGE:
                picked.reverse()
                if before_id is None:
                    # Every unsummarized message: cache them, and take their true token count.
                    conversation.recent = picked
                    conversation.recent_complete = True
                    conversation.unsummarized_tokens = used
                return fit_window(picked, budget)
            if used > budget:
                picked.reverse()
                return fit_window(picked, budget)
            before = page[-1].id

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
            page = await self._page_after(conversation, after)
            for message in page:
                if used >= tokens:
                    break
                used += message.token_count
                picked.append(message)
            if len(page) < self.PAGE:
                break
            after = page[-1].id
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
        transaction.
        """
        if conversation.in_memory:
            question_id, answer_id = next(self._memory_ids), next(self._memory_ids)
        else:
            question_id, answer_id = await self._insert_turn(
                conversation,
                Turn(user_id, question, question_tokens, answer, answer_tokens, interrupted),
                replacing,
            )
        conversation.unsummarized_tokens += question_tokens + answer_tokens
        if replacing is not None:
            conversation.unsummarized_tokens -= sum(m.token_count for m in replacing)
            gone = {m.id for m in replacing}
            conversation.recent = [m for m in conversation.recent if m.id not in gone]
            if conversation.in_memory:
                self._discarded(conversation.id, frozenset(gone))
        if conversation.recent_complete:
            conversation.recent.append(StoredMessage(question_id, "user", question, question_tokens))
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
            await self._set_content(conversation, old.id, greeting, tokens)
        conversation.recent = [StoredMessage(old.id, "assistant", greeting, tokens)]
        conversation.recent_complete = True
        conversation.unsummarized_tokens += tokens - old.token_count
        return True

    async def save_greeting(self, conversation: Conversation, greeting: str, tokens: int) -> bool:
        """Open an empty conversation with the character's greeting; False when it has messages."""
        if conversation.in_memory:
            if conversation.recent:
                return False
            conversation.recent.append(StoredMessage(next(self._memory_ids), "assistant", greeting, tokens))
            conversation.unsummarized_tokens += tokens
            return True
        message_id = await self._insert_greeting(conversation, greeting, tokens)
        if message_id is None:
            return False
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
            await self._store_summary(conversation, summary, summary_tokens, upto_id)
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
            self._evicted(self._active.pop(key))
        if platform is not None:
            for key in [
                k
                for k in self._ephemeral
                if k.platform == platform and (k.user_scope == user or k.chat_id in chats)
            ]:
                self._discarded(self._ephemeral.pop(key).id, None)

    # ----- what each backend writes in its own SQL

    async def _page_before(self, conversation: Conversation, before: int) -> list[StoredMessage]:
        """Up to ``PAGE`` unsummarized messages with ids below ``before``, newest first."""
        raise NotImplementedError

    async def _page_after(self, conversation: Conversation, after: int) -> list[StoredMessage]:
        """Up to ``PAGE`` messages with ids above ``after``, oldest first."""
        raise NotImplementedError

    async def _insert_turn(
        self, conversation: Conversation, turn: Turn, replacing: tuple[StoredMessage, StoredMessage] | None
    ) -> tuple[int, int]:
        """Write a turn (and remove the one it replaces, atomically); return the ids of its
        question and answer."""
        raise NotImplementedError

    async def _set_content(self, conversation: Conversation, message_id: int, text: str, tokens: int) -> None:
        """Change one stored message's text."""
        raise NotImplementedError

    async def _insert_greeting(self, conversation: Conversation, greeting: str, tokens: int) -> int | None:
        """Store a greeting if the conversation has no message; its id, or None."""
        raise NotImplementedError

    async def _store_summary(
        self, conversation: Conversation, summary: str, summary_tokens: int, upto_id: int
    ) -> None:
        """Write the running summary to the conversation's row."""
        raise NotImplementedError


@dataclass(frozen=True)
class Turn:
    """A question and its answer, as ``save_turn`` writes them."""

    user_id: int | None
    question: str
    question_tokens: int
    answer: str
    answer_tokens: int
    interrupted: bool


def message(row: Row) -> StoredMessage:
    """A stored message from a row of (id, role, content, token_count, interrupted)."""
    return StoredMessage(int(row[0]), str(row[1]), str(row[2]), int(row[3]), bool(row[4]))


def fit_window(messages: list[StoredMessage], budget: int) -> list[StoredMessage]:
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
