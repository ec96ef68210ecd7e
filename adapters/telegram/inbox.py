"""Telegram's updates through the inbox: each recorded before Telegram is told it arrived."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable

from telegram import Bot, Update
from telegram.error import NetworkError

from adapters.telegram.reading import PLATFORM
from core.errors import StorageUnavailable
from core.ports.inbox import Inbox
from core.ports.records import InboxItem

log = logging.getLogger(__name__)


class InboxQueue(asyncio.Queue[object]):
    """The application's update queue, recording each update in the inbox as it is queued.

    PTB's poller puts a batch of updates here and asks for the next batch, which tells
    Telegram to drop this one, only once every put returned; the webhook answers Telegram
    only after its put. So an update is recorded before Telegram forgets it. One that cannot
    be recorded fails the put as a network error: the poller asks for the same batch again
    after a pause, and a webhook call fails, so Telegram sends it again.

    An ephemeral chat's updates are recorded without their content (nothing of such a chat
    is written to disk): a redelivery is still known, but a crash cannot answer them again.
    """

    def __init__(
        self, inbox: Inbox, *, lease: float, may_store: Callable[[str, str], Awaitable[bool]]
    ) -> None:
        super().__init__()
        self._inbox = inbox
        self._lease = lease
        self._may_store = may_store

    async def put(self, item: object) -> None:
        """Record an update, then queue it; a redelivered one is dropped."""
        if isinstance(item, Update):
            chat = str(item.effective_chat.id) if item.effective_chat else ""
            try:
                payload = item.to_json() if await self._may_store(PLATFORM, chat) else None
                fresh = await self._inbox.record(
                    PLATFORM, str(item.update_id), chat, payload, lease=self._lease
                )
            except StorageUnavailable:
                # A full disk or a read-only database (logged where it arose): serve what can
                # be served without saving (/help, reads); what must save says it cannot.
                fresh = True
            except Exception as exc:  # e.g. the database stayed locked: Telegram sends it again
                log.warning("Could not record Telegram update %s: %s", item.update_id, exc)
                raise NetworkError("The bot could not record an update; it will ask for it again") from exc
            if not fresh:
                log.info("Update %s was handled already; ignoring it", item.update_id)
                return
        await super().put(item)

    async def replay(self, items: Iterable[InboxItem], bot: Bot) -> int:
        """Queue updates recorded before a restart and never answered, in the order they came."""
        count = 0
        for item in items:
            try:
                update = Update.de_json(json.loads(item.payload), bot)
            except (ValueError, TypeError, KeyError) as exc:  # written by an older version?
                log.warning("Cannot read the recorded Telegram update %s (%s); skipping it", item.key, exc)
                await self._inbox.answered(PLATFORM, [item.key])
                continue
            await super().put(update)
            count += 1
        return count
