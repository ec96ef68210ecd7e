"""Telegram's updates in: each recorded in the inbox before Telegram is told it arrived."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlparse

from telegram import Bot, Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import Application

from adapters.telegram.reading import PLATFORM
from core.errors import StorageUnavailable
from core.ports.inbox import Inbox
from core.ports.leadership import Leadership
from core.ports.records import InboxItem
from core.settings import Settings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
POLLING = "telegram-polling"  # the role of the one worker that polls Telegram
LEAD_EVERY = 5.0  # seconds between a waiting worker's tries to become the poller
LOOK_EVERY = 2.0  # seconds between looks at the inbox when no notice of a new message came
# A worker's claim on an update, renewed every third of it while the update is answered: a
# dead worker's claims run out within this, and another worker answers them.
CLAIM_LEASE = 45.0


class InboxQueue(asyncio.Queue[object]):
    """The application's update queue, recording each update in the inbox as it is queued.

    PTB's poller puts a batch of updates here and asks for the next batch, which tells
    Telegram to drop this one, only once every put returned; the webhook answers Telegram
    only after its put. So an update is recorded before Telegram forgets it. One that cannot
    be recorded fails the put as a network error: the poller asks for the same batch again
    after a pause, and a webhook call fails, so Telegram sends it again.

    An ephemeral chat's updates are recorded without their content (nothing of such a chat
    is written to disk): a redelivery is still known, but a crash cannot answer them again.

    ``shared``: several workers share the inbox. An update is then recorded for any worker to
    claim, not queued here; every worker (this one too) claims them in ``claim``. An ephemeral
    chat's update has no content another worker could read: the worker that received it
    answers it, as with one worker.
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        lease: float,
        may_store: Callable[[str, str], Awaitable[bool]],
        shared: bool = False,
    ) -> None:
        super().__init__()
        self._inbox = inbox
        self._lease = lease
        self._may_store = may_store
        self._shared = shared
        self._claimed: set[str] = set()  # claimed from the inbox, not answered yet
        self._room = asyncio.Event()  # set as claimed updates are answered

    async def put(self, item: object) -> None:
        """Record an update, then queue it; a redelivered one is dropped."""
        if isinstance(item, Update):
            chat = str(item.effective_chat.id) if item.effective_chat else ""
            try:
                payload = item.to_json() if await self._may_store(PLATFORM, chat) else None
                for_anyone = self._shared and payload is not None
                fresh = await self._inbox.record(
                    PLATFORM, str(item.update_id), chat, payload, lease=0 if for_anyone else self._lease
                )
                if for_anyone:
                    return  # the workers claim it (this one as well)
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

    async def claim(self, bot: Bot, settings: Settings, *, ahead: int) -> None:
        """Claim the updates any worker received, oldest first, and answer them here; forever.

        At most ``ahead`` are held at once (being answered, or waiting for their turn), so the
        workers share the work; new ones are looked for at each notice of one, and every few
        seconds without one (a notice lost, a worker's lease run out).
        """
        window = settings.redeliver_window_minutes * 60
        renewed = time.monotonic()
        while True:
            room = ahead - len(self._claimed)
            try:
                if time.monotonic() - renewed > CLAIM_LEASE / 3:
                    await self._inbox.renew(PLATFORM, list(self._claimed), lease=CLAIM_LEASE)
                    renewed = time.monotonic()
                items = (
                    await self._inbox.claim_next(PLATFORM, window=window, lease=CLAIM_LEASE, limit=room)
                    if room > 0
                    else []
                )
            except Exception as exc:  # noqa: BLE001 - the database is away: try again shortly
                log.warning("Could not claim Telegram updates from the inbox (trying again): %s", exc)
                items = []
            self._claimed.update(item.key for item in items)
            await self._replay(items, bot)
            if room <= 0:  # busy: look again once an update is answered here
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), LOOK_EVERY)
            elif len(items) < room:  # nothing more waits now
                await self._inbox.wait_for_more(PLATFORM, LOOK_EVERY)

    async def answered(self, keys: Sequence[str]) -> None:
        """Mark updates answered (so the claim loop has room for more)."""
        try:
            await self._inbox.answered(PLATFORM, keys)
        finally:
            self._claimed.difference_update(keys)
            self._room.set()

    async def _replay(self, items: Iterable[InboxItem], bot: Bot) -> int:
        """Queue updates recorded before a restart and never answered, in the order they came."""
        count = 0
        for item in items:
            try:
                update = Update.de_json(json.loads(item.payload), bot)
            except (ValueError, TypeError, KeyError) as exc:  # written by an older version?
                log.warning("Cannot read the recorded Telegram update %s (%s); skipping it", item.key, exc)
                await self.answered([item.key])
                continue
            await super().put(update)
            count += 1
        return count


async def start_receiving(
    app: Application[Any, Any, Any, Any, Any, Any],
    settings: Settings,
    *,
    poll_timeout: int,
    shared: bool = False,
) -> None:
    """Start taking updates from Telegram: long polling, or a webhook when one is configured
    (``shared``: by every worker of several, with one secret)."""
    updater = app.updater
    assert updater is not None
    url = settings.telegram_webhook_url
    if not url:
        await _start_polling(app, poll_timeout)
        return
    configured = settings.telegram_webhook_secret
    # Telegram sends the secret with every call and PTB refuses calls without it: a
    # webhook without one would take updates from anyone who finds the URL. Workers sharing
    # the webhook (behind a load balancer) need the same one: derived from the bot's token.
    if configured:
        secret = configured.get_secret_value()
    elif shared and settings.telegram_bot_token is not None:
        token = settings.telegram_bot_token.get_secret_value().encode()
        secret = hmac.new(token, b"venice-bots telegram webhook", hashlib.sha256).hexdigest()
    else:
        secret = secrets.token_urlsafe(32)
    await updater.start_webhook(
        listen=settings.telegram_webhook_listen,
        port=settings.telegram_webhook_port,
        url_path=urlparse(url).path.lstrip("/"),
        webhook_url=url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
    )


async def lead_polling(
    app: Application[Any, Any, Any, Any, Any, Any], leadership: Leadership, *, poll_timeout: int
) -> None:
    """Poll Telegram while this worker is the elected poller; try to become it every few
    seconds while another is; forever. Telegram serves one poller at a time (a second one
    gets 409 Conflict), so the workers elect one."""
    updater = app.updater
    assert updater is not None
    while True:
        leading = await leadership.lead(POLLING)
        try:
            if leading and not updater.running:
                log.info("This worker polls Telegram now")
                await _start_polling(app, poll_timeout)
            elif not leading and updater.running:  # its database connection broke: another may poll
                log.warning("This worker stops polling Telegram: it is no longer the elected poller")
                await updater.stop()
        except TelegramError as exc:  # Telegram unreachable for now: the next round tries again
            log.warning("Could not start polling Telegram (trying again): %s", exc)
        await asyncio.sleep(LEAD_EVERY)


async def _start_polling(app: Application[Any, Any, Any, Any, Any, Any], poll_timeout: int) -> None:
    """Start PTB's long polling (it tells Telegram which updates the bot reads)."""
    assert app.updater is not None
    await app.updater.start_polling(
        poll_interval=0,
        timeout=poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
        error_callback=_polling_failed,
    )


def _polling_failed(exc: TelegramError) -> None:
    # One line, not PTB's traceback: the poller tries again by itself.
    log.warning("Asking Telegram for updates failed (trying again): %s", exc)
