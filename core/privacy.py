"""What is kept, for how long, and how a user takes it out or has it deleted.

Retention deletes old messages in small batches in the background; /forget deletes a user's
content (the ledger keeps its amounts, which hold none); /export hands a user their data.
Deleted rows are zeroed in the file (``PRAGMA secure_delete``) and the WAL is emptied after.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.ports.storage import ChatSettingsStore, ConversationStore, LedgerStore
from core.settings import Settings
from core.storage.database import Database
from core.text import plural

log = logging.getLogger(__name__)

DAY = 86_400
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
        db: Database,
        settings: Settings,
        *,
        conversations: ConversationStore,
        chat_settings: ChatSettingsStore,
        ledger: LedgerStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._conversations = conversations
        self._chat_settings = chat_settings
        self._ledger = ledger
        self._db = db
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
                await self.sweep()
            except Exception:  # a bad sweep must not stop the next one
                log.exception("Retention sweep failed")
            # Real time, also in tests (they call sweep() with an injected clock instead).
            await asyncio.sleep(self.settings.retention_sweep_seconds)

    async def sweep(self) -> int:
        """Delete messages older than their chat's retention, in batches; returns how many."""
        default = self.settings.message_retention_days
        now = self._clock()
        total = 0
        touched: set[int] = set()
        while True:
            # A chat's own /retention wins over MESSAGE_RETENTION_DAYS; 0 keeps forever.
            rows = await self._db.fetchall(
                "DELETE FROM messages WHERE id IN (SELECT m.id FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id "
                "LEFT JOIN chat_settings s ON s.platform = c.platform AND s.chat_id = c.chat_id "
                "WHERE COALESCE(json_extract(s.settings, '$.retention_days'), ?) > 0 "
                "AND m.created_at < ? - ? * COALESCE(json_extract(s.settings, '$.retention_days'), ?) "
                "LIMIT ?) RETURNING conversation_id",
                (default, now, DAY, default, BATCH),
            )
            if not rows:
                break
            total += len(rows)
            touched.update(int(r[0]) for r in rows)
            await asyncio.sleep(PAUSE)  # let answers in between (real time: it only paces)
        if total:
            await self._after_delete(touched)
            log.info("Retention: deleted %d old messages from %d conversations", total, len(touched))
        return total

    async def _after_delete(self, conversations: set[int]) -> None:
        """Summaries of conversations that lost messages go too (they retell them); caches and
        the WAL are emptied so nothing deleted is used or lingers."""
        ids = sorted(conversations)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            marks = ",".join("?" * len(chunk))
            await self._db.execute(
                f"UPDATE conversations SET summary = '', summary_tokens = 0 WHERE id IN ({marks}) "
                "AND summary != ''",
                chunk,
            )
        self._conversations.drop_cached(conversations)
        await self._db.checkpoint()

    # ----- /forget

    async def forget(self, platform: str, platform_user_id: str, *, dm_chat: str | None = None) -> Forgotten:
        """Delete a user's messages (and the answers to them), summaries, settings and links."""
        row = await self._db.fetchone(
            "SELECT id FROM users WHERE platform = ? AND platform_user_id = ?", (platform, platform_user_id)
        )
        settings_chats = _private_chats(dm_chat)
        removed_settings = 0
        for chat_id in settings_chats:
            removed_settings += await self._db.execute(
                "DELETE FROM chat_settings WHERE platform = ? AND chat_id = ?", (platform, chat_id)
            )
            self._chat_settings.drop_cached(platform, chat_id)
        if row is None:
            await self._db.checkpoint()
            return Forgotten(0, 0, removed_settings)
        uid = int(row[0])
        yours = await self._yours(uid, platform, platform_user_id, settings_chats)
        whole, ids, conversation_ids = yours.whole, yours.shared, yours.touched
        # Chats where they were the only one ever to speak (their DMs on any platform): the
        # chat's settings are theirs too.
        if whole:
            marks = ",".join("?" * len(whole))
            solo = await self._db.fetchall(
                f"SELECT DISTINCT platform, chat_id FROM conversations WHERE id IN ({marks}) AND NOT EXISTS "
                f"(SELECT 1 FROM conversations o WHERE o.platform = conversations.platform AND "
                f"o.chat_id = conversations.chat_id AND o.id NOT IN ({marks}) AND EXISTS "
                f"(SELECT 1 FROM messages m WHERE m.conversation_id = o.id))",
                (*whole, *whole),
            )
            for chat_platform, chat_id in solo:
                if (chat_platform, chat_id) != (platform, dm_chat):
                    removed_settings += await self._db.execute(
                        "DELETE FROM chat_settings WHERE platform = ? AND chat_id = ?",
                        (chat_platform, chat_id),
                    )
                    self._chat_settings.drop_cached(chat_platform, chat_id)
        deleted = 0
        spread: set[int] = set()
        async with self._db.transaction() as conn:
            for cid in whole:
                cursor = await conn.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
                deleted += cursor.rowcount
                spread.update([cid] if cursor.rowcount else [])
                await conn.execute("DELETE FROM conversations WHERE id = ?", (cid,))
            for start in range(0, len(ids), BATCH):
                chunk = ids[start : start + BATCH]
                async with conn.execute(
                    f"DELETE FROM messages WHERE id IN ({','.join('?' * len(chunk))}) "
                    "RETURNING conversation_id",
                    chunk,
                ) as cursor:
                    gone = list(await cursor.fetchall())
                deleted += len(gone)
                spread.update(int(r[0]) for r in gone)
            rest = sorted(conversation_ids - set(whole))
            if rest:
                await conn.execute(
                    f"UPDATE conversations SET summary = '', summary_tokens = 0 WHERE id IN "
                    f"({','.join('?' * len(rest))})",
                    rest,
                )
            await conn.execute("DELETE FROM account_links WHERE user_id = ?", (uid,))
            await conn.execute("UPDATE users SET display_name = NULL WHERE id = ?", (uid,))
            await conn.execute(
                "DELETE FROM video_jobs WHERE platform = ? AND user_id = ? AND status != 'queued'",
                (platform, platform_user_id),
            )
            await conn.execute(
                "UPDATE video_jobs SET request = json_set(request, '$.prompt', '') "
                "WHERE platform = ? AND user_id = ?",
                (platform, platform_user_id),
            )
        self._ledger.forget_link(uid)
        self._conversations.drop_cached(
            conversation_ids, platform=platform, user=platform_user_id, chats=settings_chats
        )
        await self._db.checkpoint()
        log.info("Forgot %s user %s: %d messages, %d whole conversations", platform, uid, deleted, len(whole))
        return Forgotten(deleted, len(whole), removed_settings, len(spread))

    async def _yours(self, uid: int, platform: str, platform_user_id: str, private_chats: set[str]) -> _Yours:
        """Select what of the stored conversations is the user's (see ``_Yours``): what
        /export hands out and /forget deletes, so both always count the same messages."""
        mine = await self._db.fetchall(
            "SELECT DISTINCT conversation_id FROM messages WHERE user_id = ?", (uid,)
        )
        conversation_ids = {int(r[0]) for r in mine}
        chats = sorted(private_chats) or [""]
        scoped = await self._db.fetchall(
            "SELECT id FROM conversations WHERE platform = ? AND (user_scope = ? OR chat_id IN "
            f"({','.join('?' * len(chats))}))",
            (platform, platform_user_id, *chats),
        )
        conversation_ids |= {int(r[0]) for r in scoped}
        whole: list[int] = []  # nobody else spoke there: the whole conversation is theirs
        for cid in sorted(conversation_ids):
            others = await self._db.fetchone(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND role = 'user' AND "
                "(user_id IS NULL OR user_id != ?) LIMIT 1",
                (cid, uid),
            )
            if others is None:
                whole.append(cid)
        # In shared conversations: their messages, and the answer that follows each (a turn
        # is stored as two rows with consecutive ids, a regenerated one too).
        rows = await self._db.fetchall(
            "SELECT q.id, q.conversation_id FROM messages q WHERE q.user_id = ? UNION "
            "SELECT a.id, a.conversation_id FROM messages q JOIN messages a ON a.id = q.id + 1 AND "
            "a.conversation_id = q.conversation_id AND a.role = 'assistant' WHERE q.user_id = ?",
            (uid, uid),
        )
        in_whole = set(whole)
        shared = sorted(int(r[0]) for r in rows if int(r[1]) not in in_whole)
        return _Yours(whole, shared, conversation_ids)

    async def held_summary(self, platform: str, platform_user_id: str, *, dm_chat: str | None = None) -> str:
        """What /forget would delete and /export hands out: "14 messages in 3 conversations"."""
        row = await self._db.fetchone(
            "SELECT id FROM users WHERE platform = ? AND platform_user_id = ?", (platform, platform_user_id)
        )
        if row is None:
            return held(0, 0)
        chats = _private_chats(dm_chat)
        rows = await self._messages(await self._yours(int(row[0]), platform, platform_user_id, chats))
        return held(len(rows), len({r[0] for r in rows}))

    async def _messages(self, yours: _Yours) -> list[tuple[Any, ...]]:
        """The user's messages, oldest first per conversation: (conversation id, chat id,
        thread id, persona, role, content, created at, author)."""
        columns = (
            "SELECT c.id, c.chat_id, c.thread_id, c.persona, m.role, m.content, m.created_at, m.user_id, "
            "m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE "
        )
        rows: list[tuple[Any, ...]] = []
        for key, ids in (("m.conversation_id", yours.whole), ("m.id", yours.shared)):
            for start in range(0, len(ids), BATCH):
                chunk = ids[start : start + BATCH]
                found = await self._db.fetchall(f"{columns}{key} IN ({','.join('?' * len(chunk))})", chunk)
                rows.extend(tuple(r) for r in found)
        rows.sort(key=lambda r: (r[0], r[8]))
        return [r[:8] for r in rows]

    # ----- /export

    async def export(
        self, platform: str, platform_user_id: str, *, dm_chat: str | None = None
    ) -> dict[str, Any]:
        """Everything stored about a user, as one JSON-ready object."""
        row = await self._db.fetchone(
            "SELECT id, display_name, created_at FROM users WHERE platform = ? AND platform_user_id = ?",
            (platform, platform_user_id),
        )
        data: dict[str, Any] = {
            "exported_at": _iso(self._clock()),
            "user": {
                "platform": platform,
                "id": platform_user_id,
                "display_name": row[1] if row else None,
                "first_seen": _iso(row[2]) if row else None,
            },
            "conversations": [],
            "settings": {},
            "account": None,
            "video_jobs": [],
        }
        for chat_id in _private_chats(dm_chat):
            settings = await self._db.fetchone(
                "SELECT settings FROM chat_settings WHERE platform = ? AND chat_id = ?", (platform, chat_id)
            )
            if settings:
                data["settings"][chat_id] = json.loads(settings[0])
        if row is None:
            return data
        uid = int(row[0])
        yours = await self._yours(uid, platform, platform_user_id, _private_chats(dm_chat))
        by_conversation: dict[int, dict[str, Any]] = {}
        for cid, chat_id, thread_id, persona, role, content, created, author in await self._messages(yours):
            entry = by_conversation.setdefault(
                cid,
                {
                    "chat_id": chat_id,
                    "thread_id": thread_id or None,
                    "character": persona or None,
                    "messages": [],
                },
            )
            who = "you" if role == "user" and author == uid else "bot"
            entry["messages"].append({"role": who, "text": content, "at": _iso(created)})
        for cid in yours.whole:  # a summary of their own conversation retells their messages
            summary = await self._db.fetchone("SELECT summary FROM conversations WHERE id = ?", (cid,))
            if cid in by_conversation and summary and summary[0]:
                by_conversation[cid]["summary"] = summary[0]
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
        jobs = await self._db.fetchall(
            "SELECT id, status, model, request, created_at FROM video_jobs WHERE platform = ? AND user_id = ?",
            (platform, platform_user_id),
        )
        data["video_jobs"] = [
            {
                "id": j[0],
                "status": j[1],
                "model": j[2],
                "prompt": json.loads(j[3]).get("prompt"),
                "at": _iso(j[4]),
            }
            for j in jobs
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
