"""Taking Telegram's updates: long polling (by one elected worker of several) or webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlparse

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from adapters.telegram.inbox import InboxQueue
from core.ports.leadership import Leadership
from core.settings import Settings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
POLLING = "telegram-polling"  # the role of the one worker that polls Telegram
LEAD_EVERY = 5.0  # seconds between a waiting worker's tries to become the poller


class Receiving:
    """Take updates in, and stop taking them.

    One process (SQLite) answers what a crash left, then polls or takes webhooks. One of several
    workers (``leadership.shared``) claims updates from the shared inbox all along, and polls
    while it is the elected poller, or takes webhooks (each worker does).
    """

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        queue: InboxQueue,
        leadership: Leadership,
        settings: Settings,
        *,
        poll_timeout: int,
        claim_ahead: int,
    ) -> None:
        self._app = app
        self._queue = queue
        self._leadership = leadership
        self._settings = settings
        self._poll_timeout = poll_timeout
        self._claim_ahead = claim_ahead
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def mode(self) -> str:
        """How updates come in, for the log."""
        if self._settings.telegram_webhook_url:
            return "webhook"
        return "long polling by one elected worker" if self._leadership.shared else "long polling"

    async def start(self) -> None:
        """Start taking updates (and, alone, answer first what a crash left unanswered)."""
        shared = self._leadership.shared
        if shared:
            self._tasks.append(
                asyncio.create_task(
                    self._queue.claim(self._app.bot, self._settings, ahead=self._claim_ahead),
                    name="telegram-claims",
                )
            )
        else:
            await self._queue.take_over(self._app.bot, self._settings)
        if shared and not self._settings.telegram_webhook_url:
            self._tasks.append(
                asyncio.create_task(
                    lead_polling(self._app, self._leadership, poll_timeout=self._poll_timeout),
                    name="telegram-polling",
                )
            )
        else:
            await start_receiving(self._app, self._settings, poll_timeout=self._poll_timeout, shared=shared)

    async def stop(self) -> None:
        """Stop taking and claiming updates; another worker polls from its next try."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._app.updater and self._app.updater.running:
            await self._app.updater.stop()
        if self._leadership.shared:
            await self._leadership.step_down(POLLING)


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
