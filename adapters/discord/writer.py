"""Show an answer in Discord while it streams (throttled edits), then deliver all of it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, Protocol

import discord

from adapters.splitting import split_markdown
from core.events import Reply, ReplyStream
from core.venice.types import Citation

log = logging.getLogger(__name__)

MAX_MESSAGE = 2000
EDIT_INTERVAL = 1.2  # Discord allows about 5 edits per 5 s in a channel


class Surface(Protocol):
    """Where an answer's messages go: a channel (as replies) or an interaction's responses."""

    channel: Any

    async def send(self, content: str, **extras: Any) -> discord.Message:
        """Post a new message of this answer."""

    async def edit(self, message: discord.Message, content: str, **extras: Any) -> None:
        """Change a message of this answer."""


class ChannelSurface:
    """Messages in a channel or thread; the first replies to the user's message."""

    def __init__(self, channel: Any, reply_to: discord.Message | None = None) -> None:
        self.channel = channel
        self._reply_to = reply_to

    async def send(self, content: str, **extras: Any) -> discord.Message:
        if self._reply_to is not None:
            reference, self._reply_to = self._reply_to, None
            return await reference.reply(content, mention_author=False, **extras)  # type: ignore[no-any-return]
        return await self.channel.send(content, **extras)  # type: ignore[no-any-return]

    async def edit(self, message: discord.Message, content: str, **extras: Any) -> None:
        await message.edit(content=content, **extras)


class InteractionSurface:
    """A deferred interaction: the first part fills the "thinking…" response, then followups."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.channel = interaction.channel
        self._original_used = False

    async def send(self, content: str, **extras: Any) -> discord.Message:
        if not self._original_used:
            self._original_used = True
            return await self.interaction.edit_original_response(content=content, **extras)
        return await self.interaction.followup.send(content, wait=True, **extras)

    async def edit(self, message: discord.Message, content: str, **extras: Any) -> None:
        if isinstance(message, discord.InteractionMessage):
            await self.interaction.edit_original_response(content=content, **extras)
        else:
            await message.edit(content=content, **extras)


def sources_embed(citations: tuple[Citation, ...]) -> discord.Embed | None:
    """Web sources as numbered links in an embed."""
    if not citations:
        return None
    lines = []
    for number, citation in enumerate(citations[:20], start=1):
        title = citation.title.replace("[", "(").replace("]", ")")[:100]
        lines.append(f"[{number}] [{title}]({citation.url})")
    return discord.Embed(title="Sources", description="\n".join(lines)[:4096])


def sources_text(citations: tuple[Citation, ...]) -> str:
    """Web sources as plain lines, for channels where the bot may not embed."""
    lines = [f"[{n}] {c.title} <{c.url}>" for n, c in enumerate(citations[:20], start=1)]
    return "Sources:\n" + "\n".join(lines) if lines else ""


def final_text(reply: Reply, *, sources_inline: bool = False) -> str:
    """The answer with its notices as small text below it (and sources, when not embedded)."""
    pieces = [reply.text] if reply.text else []
    if sources_inline and reply.citations:
        pieces.append(sources_text(reply.citations))
    for notice in reply.notices:
        pieces.append("-# " + ("⚠️ " if notice.level == "warning" else "ℹ️ ") + notice.text)
    return "\n\n".join(pieces) or "Done."


class DiscordWriter:
    """Write one answer to one surface."""

    def __init__(
        self,
        surface: Surface,
        *,
        on_forbidden: Callable[[Any], Awaitable[None]],
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        typing: bool = True,
        embeds: bool = True,
    ) -> None:
        self._surface = surface
        self._on_forbidden = on_forbidden
        self._interval = interval
        self._clock = clock
        self._typing = typing
        self._embeds = embeds
        self._shown: list[tuple[discord.Message, str]] = []
        self.failed = False

    @property
    def messages(self) -> list[discord.Message]:
        """The messages this answer occupies."""
        return [message for message, _ in self._shown]

    async def write_stream(self, stream: ReplyStream, view_for: Callable[[Reply], Any]) -> Reply:
        """Follow the stream with throttled edits, then show the whole answer."""
        text, last = "", self._clock()
        async with AsyncExitStack() as typing:
            if self._typing:
                await typing.enter_async_context(self._surface.channel.typing())
            async for delta in stream:
                text += delta
                if text.strip() and not self.failed and self._clock() - last >= self._interval:
                    last = self._clock()
                    if not self._shown:
                        await typing.aclose()  # the first words are there: stop "typing…"
                    await self._show(text)
            reply = await stream.reply()
        await self.write_reply(reply, view_for(reply))
        return reply

    async def write_reply(self, reply: Reply, view: Any = None) -> None:
        """Show a complete reply: its text, a sources embed and buttons on the last part."""
        extras: dict[str, Any] = {}
        embed = sources_embed(reply.citations) if self._embeds else None
        if embed is not None:
            extras["embed"] = embed
        if view is not None:
            extras["view"] = view
        await self._show(final_text(reply, sources_inline=not self._embeds), extras)

    async def write_error(self, text: str) -> None:
        """Tell the user something went wrong."""
        await self._show(f"⚠️ {text}")

    async def _show(self, text: str, extras: dict[str, Any] | None = None) -> None:
        if self.failed:
            return
        parts = split_markdown(text, MAX_MESSAGE)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            more = (extras or {}) if last else {}
            try:
                if index < len(self._shown):
                    message, shown = self._shown[index]
                    if shown == part and not more:
                        continue
                    await self._surface.edit(message, part, **more)
                    self._shown[index] = (message, part)
                else:
                    self._shown.append((await self._surface.send(part, **more), part))
            except discord.Forbidden:
                self.failed = True
                await self._on_forbidden(self._surface.channel)
                return
            except discord.NotFound:
                # The message was deleted meanwhile: post the part anew.
                self._shown[index] = (await self._surface.send(part, **more), part)
