"""Telegram's updates in: each recorded in the inbox before Telegram is told it arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from telegram import Bot, Update
from telegram.error import NetworkError

from adapters.telegram.reading import PLATFORM
from core.errors import StorageUnavailable
from core.ports.inbox import Inbox
from core.ports.records import InboxItem
from core.settings import Settings

log = logging.getLogger(__name__)

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
