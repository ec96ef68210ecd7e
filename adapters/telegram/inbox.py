"""Telegram's updates in: each recorded in the inbox before Telegram is told it arrived."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from telegram import Bot, Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import Application

from adapters.telegram.reading import PLATFORM
from core.errors import StorageUnavailable
from core.ports.inbox import Inbox
from core.ports.records import InboxItem
from core.settings import Settings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


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

    async def take_over(self, bot: Bot, settings: Settings) -> None:
        """Answer the updates a crash (or a stop) left unanswered, oldest first."""
        items = await self._inbox.take_over(
            PLATFORM, window=settings.redeliver_window_minutes * 60, lease=settings.turn_lease_seconds
        )
        count = await self._replay(items, bot)
        if count:
            log.info("Answering %d Telegram messages received before the restart", count)

    async def _replay(self, items: Iterable[InboxItem], bot: Bot) -> int:
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


async def start_receiving(
    app: Application[Any, Any, Any, Any, Any, Any], settings: Settings, *, poll_timeout: int
) -> None:
    """Start taking updates from Telegram: long polling, or a webhook when one is configured."""
    updater = app.updater
    assert updater is not None
    url = settings.telegram_webhook_url
    if not url:
        await updater.start_polling(
            poll_interval=0,
            timeout=poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            error_callback=_polling_failed,
        )
        return
    configured = settings.telegram_webhook_secret
    # Telegram sends the secret with every call and PTB refuses calls without it: a
    # webhook without one would take updates from anyone who finds the URL.
    secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
    await updater.start_webhook(
        listen=settings.telegram_webhook_listen,
        port=settings.telegram_webhook_port,
        url_path=urlparse(url).path.lstrip("/"),
        webhook_url=url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
    )


def _polling_failed(exc: TelegramError) -> None:
    # One line, not PTB's traceback: the poller tries again by itself.
    log.warning("Asking Telegram for updates failed (trying again): %s", exc)
