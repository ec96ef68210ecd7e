"""Characters speak with their own name and face: answers posted through the bot's webhook in each channel."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from adapters.discord.media import Upload
from core.events import Attachment, Speaker

log = logging.getLogger(__name__)

WEBHOOK_NAME = "venice-bots"
MAX_USERNAME = 80
RETRY_AFTER = 600.0  # seconds before a channel whose webhook could not be had is tried again
# Discord refuses webhook names containing these words; one Cyrillic look-alike letter gets them through.
_LOOKALIKES = {"clyde": (4, "е", "Е"), "discord": (5, "о", "О")}
_REFUSED = re.compile("|".join(_LOOKALIKES), re.IGNORECASE)


def webhook_username(name: str) -> str:
    """The name to post a message under: one line, 1–80 characters, nothing Discord refuses."""
    name = " ".join(name.split())[:MAX_USERNAME] or "Character"

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        index, lower, upper = _LOOKALIKES[word.lower()]
        return word[:index] + (upper if word[index].isupper() else lower) + word[index + 1 :]

    return _REFUSED.sub(swap, name)


def webhook_home(channel: Any) -> Any | None:
    """The channel whose webhooks post in ``channel``: itself, a thread's parent; None in DMs."""
    home = channel.parent if isinstance(channel, discord.Thread) else channel
    return home if home is not None and hasattr(home, "create_webhook") else None


def may_manage_webhooks(home: Any) -> bool:
    """The bot has Manage Webhooks in ``home`` (it lists and creates webhooks with it)."""
    guild = getattr(home, "guild", None)
    return guild is not None and guild.me is not None and home.permissions_for(guild.me).manage_webhooks


class Webhooks:
    """The bot's own webhook in each channel: looked up once (or created), then kept.

    Only a webhook the bot made carries buttons that work (Discord sends their clicks to the
    application that owns the webhook), so one made by someone else is never reused.
    """

    def __init__(self, me: Callable[[], int | None], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._me = me
        self._clock = clock
        self._found: dict[int, discord.Webhook] = {}
        self._retry_at: dict[int, float] = {}  # channels where none could be had: not asked again before then
        self._locks: dict[int, asyncio.Lock] = {}

    def cached(self, home: Any) -> discord.Webhook | None:
        """The webhook of ``home`` if it is known already."""
        return self._found.get(home.id)

    async def get(self, home: Any) -> discord.Webhook | None:
        """The bot's webhook in ``home``, found or made on first use; None where it cannot have one."""
        found = self._found.get(home.id)
        if found is not None:
            return found
        if self._retry_at.get(home.id, 0.0) > self._clock():
            return None
        lock = self._locks.setdefault(home.id, asyncio.Lock())
        async with lock:  # a channel and its threads share one: make it once
            found = self._found.get(home.id)
            if found is None and self._retry_at.get(home.id, 0.0) <= self._clock():
                found = await self._find_or_make(home)
                if found is None:
                    self._retry_at[home.id] = self._clock() + RETRY_AFTER
                else:
                    self._found[home.id] = found
        return found

    def forget(self, home: Any, webhook: discord.Webhook) -> None:
        """Drop a webhook that is gone (deleted by an admin): the next ``get`` makes a new one."""
        if self._found.get(home.id) is webhook:
            del self._found[home.id]

    async def _find_or_make(self, home: Any) -> discord.Webhook | None:
        me = self._me()
        try:
            webhooks: list[discord.Webhook] = await home.webhooks()
            for webhook in webhooks:
                if webhook.name == WEBHOOK_NAME and webhook.token and webhook.user and webhook.user.id == me:
                    return webhook
            made: discord.Webhook = await home.create_webhook(
                name=WEBHOOK_NAME, reason="Characters bound to this channel speak through it"
            )
            log.info("Made a webhook in channel %s", home.id)
            return made
        except discord.HTTPException as exc:  # 50013 without the permission, 30007 when the channel has 15
            log.warning("Cannot have a webhook in channel %s: %s %s", home.id, exc.status, exc.text)
            return None


class WebhookSurface:
    """An answer's messages posted through the channel's webhook, under the speaker's name and avatar."""

    voice_messages = False  # a webhook cannot post a voice message: voice goes as an audio file

    def __init__(self, webhooks: Webhooks, webhook: discord.Webhook, channel: Any, speaker: Speaker) -> None:
        self.channel = channel
        self.speaker = speaker
        self._webhooks = webhooks
        self._webhook = webhook
        self._home = webhook_home(channel)
        self._thread: Any = channel if isinstance(channel, discord.Thread) else discord.utils.MISSING
        guild = getattr(channel, "guild", None)
        self.upload_limit: int = (
            guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        )

    async def send(
        self, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> discord.Message:
        try:
            return await self._send(content, files, extras)
        except discord.NotFound as exc:
            if exc.code != 10015:  # Unknown Webhook: an admin deleted it; make another, once
                raise
            self._webhooks.forget(self._home, self._webhook)
            again = await self._webhooks.get(self._home)
            if again is None:
                raise
            self._webhook = again
            return await self._send(content, files, extras)

    async def _send(
        self, content: str, files: list[Upload] | None, extras: dict[str, Any]
    ) -> discord.Message:
        if files:
            extras = {**extras, "files": [f.file() for f in files]}
        avatar = self.speaker.avatar_url or discord.utils.MISSING
        message = await self._webhook.send(
            content,
            username=webhook_username(self.speaker.name),
            avatar_url=avatar,
            thread=self._thread,
            wait=True,
            **extras,
        )
        return message

    async def edit(
        self, message: discord.Message, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> None:
        if files:
            extras["attachments"] = [f.file() for f in files]
        await self._webhook.edit_message(message.id, content=content, thread=self._thread, **extras)

    async def send_voice(self, voice: Attachment) -> None:
        await self.send("", files=[Upload("voice.ogg", voice.data)])


NO_WEBHOOKS = (
    "In #{channel} on {guild}, {name} speaks through my own messages. With the Manage Webhooks "
    "permission there, it would speak with its own name and face."
)


class NoWebhooksNotice:
    """Tell a server's owner, once per channel, that characters would look better with Manage Webhooks."""

    def __init__(self, fetch_user: Callable[[int], Awaitable[Any]]) -> None:
        self._fetch_user = fetch_user
        self._told: set[int] = set()  # channels whose owner heard it

    async def tell(self, home: Any, speaker: Speaker) -> None:
        """Say it to the owner of ``home``'s server, unless they heard it for that channel."""
        if home.id in self._told:
            return
        self._told.add(home.id)
        guild = home.guild
        text = NO_WEBHOOKS.format(channel=home.name, guild=guild.name, name=speaker.name)
        log.warning("%s", text)
        try:
            owner = guild.owner or await self._fetch_user(guild.owner_id)
            await owner.send(text)
        except discord.HTTPException as exc:
            log.info("Cannot tell the owner of %s about webhooks: %s", guild.id, exc)
