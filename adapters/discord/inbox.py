"""Discord messages through the inbox: each recorded as it arrives, answered again after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

import discord

from adapters.discord.reading import PLATFORM
from core.errors import StorageUnavailable
from core.ports.inbox import Inbox
from core.ports.records import InboxItem
from core.settings import Settings

log = logging.getLogger(__name__)

OnMessage = Callable[..., Awaitable[None]]  # DiscordAdapter.on_message(message, replayed=True)


class DiscordInbox:
    """Record the messages for the bot, mark them answered, answer what a crash left.

    What is recorded is where the message is (channel and id), not its text: Discord keeps
    the message, and it is fetched again to be answered. So an ephemeral chat's messages
    are recorded too: nothing of their content is written.
    """

    def __init__(self, inbox: Inbox, settings: Settings) -> None:
        self._inbox = inbox
        self._settings = settings

    async def record(self, message: discord.Message) -> bool:
        """Record a message for the bot; False if it was recorded before (sent twice)."""
        payload = json.dumps({"channel_id": message.channel.id, "message_id": message.id})
        try:
            return await self._inbox.record(
                PLATFORM,
                str(message.id),
                str(message.channel.id),
                payload,
                lease=self._settings.turn_lease_seconds,
            )
        except StorageUnavailable:
            return True  # logged where it arose: answer it anyway (it says what cannot be saved)
        except Exception as exc:  # noqa: BLE001 - e.g. the database stayed locked
            # Discord sends a message once: answer it now rather than lose it, unrecorded.
            log.warning("Could not record Discord message %s (answering it anyway): %s", message.id, exc)
            return True

    async def answered(self, message: discord.Message) -> None:
        """Mark a message answered (whatever the answer was: an error is an answer too)."""
        try:
            await self._inbox.answered(PLATFORM, [str(message.id)])
        except StorageUnavailable:
            pass  # logged where it arose; the answer stands
        except Exception as exc:  # noqa: BLE001 - e.g. the database stayed locked
            # The answer stands; the next start may answer the message again.
            log.warning("Could not mark Discord message %s answered: %s", message.id, exc)

    async def take_over(self, client: discord.Client, on_message: OnMessage) -> None:
        """Answer the messages a crash (or a stop) left unanswered: each channel's oldest
        first, the channels side by side."""
        items = await self._inbox.take_over(
            PLATFORM,
            window=self._settings.redeliver_window_minutes * 60,
            lease=self._settings.turn_lease_seconds,
        )
        if not items:
            return
        log.info("Answering %d Discord messages received before the restart", len(items))
        by_channel: dict[str, list[InboxItem]] = defaultdict(list)
        for item in items:
            by_channel[item.chat].append(item)
        await asyncio.gather(*(self._replay(client, on_message, line) for line in by_channel.values()))

    async def _replay(self, client: discord.Client, on_message: OnMessage, items: list[InboxItem]) -> None:
        for item in items:
            try:
                where = json.loads(item.payload)
                channel = client.get_channel(where["channel_id"]) or await client.fetch_channel(
                    where["channel_id"]
                )
                message = await channel.fetch_message(where["message_id"])  # type: ignore[union-attr]  # a category has no messages; it raises below
            except (discord.HTTPException, ValueError, KeyError, TypeError, AttributeError) as exc:
                # Deleted meanwhile, or the bot lost the channel: nothing is left to answer.
                log.info("Cannot answer Discord message %s after the restart: %s", item.key, exc)
                with contextlib.suppress(StorageUnavailable):
                    await self._inbox.answered(PLATFORM, [item.key])
                continue
            await on_message(message, replayed=True)
