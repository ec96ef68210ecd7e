"""What is kept, for how long, and how a user takes it out or has it deleted.

Retention deletes old messages in small batches in the background; /forget deletes a user's
content (the ledger keeps its amounts, which hold none); /export hands a user their data.
The store zeroes deleted rows in its files and empties its write-ahead log after (``checkpoint``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import StorageUnavailable
from core.ports.coordination import Coordination
from core.ports.privacy import PrivacyStore
from core.ports.records import HeldMessage
from core.ports.storage import ChatSettingsStore, ConversationStore, LedgerStore
from core.settings import Settings
from core.text import plural

log = logging.getLogger(__name__)

BATCH = 200  # messages per delete: ~2 ms each, so an answer never waits long behind one
PAUSE = 0.005  # between batches: answers get the database in between (bench/privacy.py)


@dataclass(frozen=True)
class Forgotten:
    """What /forget removed.

    ``messages`` are counted as /export counts them (``held``): the same messages, so the two
    always agree. ``conversations`` are the ones deleted whole (nobody else spoke in them);
    ``spread_over`` is how many conversations the deleted messages were in.
    """

    messages: int
    conversations: int
    settings: int
    spread_over: int = 0

    @property
    def held(self) -> str:
        """The deleted messages in the words /export uses: "14 messages in 3 conversations"."""
        return held(self.messages, self.spread_over)


def held(messages: int, conversations: int) -> str:
    """How /export and /forget name a user's messages: "14 messages in 3 conversations"."""
    return f"{plural(messages, 'message')} in {plural(conversations, 'conversation')}"


@dataclass(frozen=True)
class _Yours:
    """What of the stored conversations belongs to one user.

    Attributes:
        whole: conversations nobody else spoke in (their DMs, their own scope): every message
            there is theirs, a character's greeting included.
        shared: in the other conversations, their messages and the answer that follows each.
        touched: every conversation with anything of theirs (whole or shared).
    """

    whole: list[int]
    shared: list[int]
    touched: set[int]


class Privacy:
    """Retention sweeps, forgetting a user, exporting a user's data."""

    def __init__(
        self,
        store: PrivacyStore,
        settings: Settings,
        *,
        conversations: ConversationStore,
        chat_settings: ChatSettingsStore,
        ledger: LedgerStore,
        workers: Coordination | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._workers = workers
        self._conversations = conversations
        self._chat_settings = chat_settings
        self._ledger = ledger
        self._store = store
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    # ----- retention

    def start(self) -> None:
        """Sweep now and then in the background until ``aclose``."""
        if self._task is None:
            self._task = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep_round()
            except StorageUnavailable:
                pass  # logged where it arose; the next sweep tries again
            except Exception:  # a bad sweep must not stop the next one
                log.exception("Retention sweep failed")
            # Real time, also in tests (they call sweep() with an injected clock instead).
            await asyncio.sleep(self.settings.retention_sweep_seconds)

    async def sweep_round(self) -> int | None:
        """Sweep unless another worker is sweeping now (None: it is; this round is skipped)."""
        if self._workers is None:  # alone on the database
            return await self.sweep()
        async with self._workers.exclusively("retention-sweep") as mine:
            return await self.sweep() if mine else None

    async def sweep(self) -> int:
        """Delete messages older than their chat's retention, in batches; returns how many."""
        default = self.settings.message_retention_days
        now = self._clock()
        total = 0
        touched: set[int] = set()
        while True:
            # A chat's own /retention wins over MESSAGE_RETENTION_DAYS; 0 keeps forever.
            rows = await self._store.delete_expired(default, now, BATCH)
            if not rows:
                break
            total += len(rows)
            touched.update(rows)
            await asyncio.sleep(PAUSE)  # let answers in between (real time: it only paces)
        if total:
            await self._after_delete(touched)
            log.info("Retention: deleted %d old messages from %d conversations", total, len(touched))
        return total

    async def _after_delete(self, conversations: set[int]) -> None:
        """Summaries of conversations that lost messages go too (they retell them); caches and
        the WAL are emptied so nothing deleted is used or lingers."""
        await self._store.clear_summaries(sorted(conversations))
        self._conversations.drop_cached(conversations)
        await self._store.checkpoint()

    # ----- /forget

    async def forget(self, platform: str, platform_user_id: str, *, dm_chat: str | None = None) -> Forgotten:
        """Delete a user's messages (and the answers to them), summaries, settings and links."""
        user = await self._store.user(platform, platform_user_id)
        settings_chats = _private_chats(dm_chat)
        removed_settings = 0
        for chat_id in settings_chats:
            removed_settings += await self._store.delete_chat_settings(platform, chat_id)
            self._chat_settings.drop_cached(platform, chat_id)
        if user is None:
            await self._store.checkpoint()
            return Forgotten(0, 0, removed_settings)
        uid = user.id
        yours = await self._yours(uid, platform, platform_user_id, settings_chats)
        # Chats where they were the only one ever to speak (their DMs on any platform): the
        # chat's settings are theirs too.
        for chat_platform, chat_id in await self._store.solo_chats(yours.whole):
            if (chat_platform, chat_id) != (platform, dm_chat):
                removed_settings += await self._store.delete_chat_settings(chat_platform, chat_id)
                self._chat_settings.drop_cached(chat_platform, chat_id)
        deleted, spread = await self._store.delete_user_content(
            uid, platform, platform_user_id, whole=yours.whole, shared=yours.shared, touched=yours.touched
        )
        self._ledger.forget_link(uid)
        self._conversations.drop_cached(
            yours.touched, platform=platform, user=platform_user_id, chats=settings_chats
        )
        await self._store.checkpoint()
        log.info(
            "Forgot %s user %s: %d messages, %d whole conversations", platform, uid, deleted, len(yours.whole)
        )
        return Forgotten(deleted, len(yours.whole), removed_settings, len(spread))

    async def _yours(self, uid: int, platform: str, platform_user_id: str, private_chats: set[str]) -> _Yours:
        """Select what of the stored conversations is the user's (see ``_Yours``): what
        /export hands out and /forget deletes, so both always count the same messages."""
        chats = sorted(private_chats) or [""]
        conversation_ids = await self._store.conversations_of(uid, platform, platform_user_id, chats)
        # Nobody else spoke there: the whole conversation is theirs.
        whole = [cid for cid in sorted(conversation_ids) if not await self._store.others_spoke(cid, uid)]
        # In shared conversations: their messages, and the answer that follows each.
        in_whole = set(whole)
        shared = sorted(mid for mid, cid in await self._store.turns_of(uid) if cid not in in_whole)
        return _Yours(whole, shared, conversation_ids)

    async def held_summary(self, platform: str, platform_user_id: str, *, dm_chat: str | None = None) -> str:
        """What /forget would delete and /export hands out: "14 messages in 3 conversations"."""
        user = await self._store.user(platform, platform_user_id)
        if user is None:
            return held(0, 0)
        chats = _private_chats(dm_chat)
        rows = await self._messages(await self._yours(user.id, platform, platform_user_id, chats))
        return held(len(rows), len({r.conversation_id for r in rows}))

    async def _messages(self, yours: _Yours) -> list[HeldMessage]:
        """The user's messages, oldest first per conversation."""
        return await self._store.messages(yours.whole, yours.shared)

    # ----- /export

    async def export(
        self, platform: str, platform_user_id: str, *, dm_chat: str | None = None
    ) -> dict[str, Any]:
        """Everything stored about a user, as one JSON-ready object."""
        user = await self._store.user(platform, platform_user_id)
        data: dict[str, Any] = {
            "exported_at": _iso(self._clock()),
            "user": {
                "platform": platform,
                "id": platform_user_id,
                "display_name": user.display_name if user else None,
                "first_seen": _iso(user.created_at) if user else None,
            },
            "conversations": [],
            "settings": {},
            "account": None,
            "video_jobs": [],
        }
        for chat_id in _private_chats(dm_chat):
            settings = await self._store.chat_settings(platform, chat_id)
            if settings:
                data["settings"][chat_id] = settings
        if user is None:
            return data
        uid = user.id
        yours = await self._yours(uid, platform, platform_user_id, _private_chats(dm_chat))
        by_conversation: dict[int, dict[str, Any]] = {}
        for m in await self._messages(yours):
            entry = by_conversation.setdefault(
                m.conversation_id,
                {
                    "chat_id": m.chat_id,
                    "thread_id": m.thread_id or None,
                    "character": m.persona or None,
                    "messages": [],
                },
            )
            who = "you" if m.role == "user" and m.author == uid else "bot"
            entry["messages"].append({"role": who, "text": m.content, "at": _iso(m.created_at)})
        for cid, text, at in await self._store.documents(yours.whole, yours.shared):
            # Documents they sent are kept as chunks for recall: content of theirs too.
            if cid in by_conversation:
                by_conversation[cid].setdefault("documents", []).append({"text": text, "at": _iso(at)})
        for cid in yours.whole:  # a summary of their own conversation retells their messages
            summary = await self._store.summary(cid)
            if cid in by_conversation and summary:
                by_conversation[cid]["summary"] = summary
        data["conversations"] = list(by_conversation.values())
        owner = await self._ledger.owner_of_user(uid)
        data["account"] = {
            "owner": owner,
            "balance_usd": await self._ledger.balance(owner) / 1_000_000,
            "entries": [
                {"kind": e.kind, "usd": e.amount / 1_000_000, "feature": e.feature, "at": _iso(e.created_at)}
                for e in await self._ledger.entries(owner, limit=1000)
            ],
        }
        data["video_jobs"] = [
            {**job, "at": _iso(job["at"])}
            for job in await self._store.video_jobs_of(platform, platform_user_id)
        ]
        return data

    async def aclose(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def _private_chats(dm_chat: str | None) -> set[str]:
    """The user's private chat, where it is known without asking the platform: where they are
    asking from, or what the adapter says (IncomingMessage.private_chat_id)."""
    return {dm_chat} if dm_chat else set()


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds") if stamp else None
