"""Show an answer in Discord while it streams (throttled edits), then deliver all of it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, suppress
from typing import Any, Protocol

import discord

from adapters.discord.media import (
    DM_UPLOAD_LIMIT,
    MAX_FILES,
    Outgoing,
    Upload,
    plan_uploads,
    post_voice_message,
)
from adapters.splitting import split_markdown
from core.events import Attachment, Reply, ReplyStream
from core.venice.types import Citation

log = logging.getLogger(__name__)

MAX_MESSAGE = 2000
EDIT_INTERVAL = 1.2  # Discord allows about 5 edits per 5 s in a channel


class Surface(Protocol):
    """Where an answer's messages go: a channel (as replies) or an interaction's responses.

    Attributes:
        upload_limit: the most bytes one file may have here.
        voice_messages: voice replies may go out as Discord voice messages (not in interactions).
    """

    channel: Any
    upload_limit: int
    voice_messages: bool

    async def send(
        self, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> discord.Message:
        """Post a new message of this answer."""

    async def edit(
        self, message: discord.Message, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> None:
        """Change a message of this answer (``files`` are added to it)."""

    async def send_voice(self, voice: Attachment) -> None:
        """Post a voice message of its own."""


class ChannelSurface:
    """Messages in a channel or thread; the first replies to the user's message."""

    voice_messages = True

    def __init__(self, channel: Any, reply_to: discord.Message | None = None) -> None:
        self.channel = channel
        self._reply_to = reply_to
        guild = getattr(channel, "guild", None)
        self.upload_limit: int = guild.filesize_limit if guild is not None else DM_UPLOAD_LIMIT

    async def send(
        self, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> discord.Message:
        if files:
            extras["files"] = [f.file() for f in files]
        if self._reply_to is not None:
            reference, self._reply_to = self._reply_to, None
            return await reference.reply(content, mention_author=False, **extras)
        return await self.channel.send(content, **extras)  # type: ignore[no-any-return]

    async def edit(
        self, message: discord.Message, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> None:
        if files:
            extras["attachments"] = [f.file() for f in files]
        await message.edit(content=content, **extras)

    async def send_voice(self, voice: Attachment) -> None:
        """A real voice message where Discord lets the bot send one; else an audio file."""
        if self._may_send_voice():
            reference = None
            if self._reply_to is not None:
                reference = {
                    "message_id": self._reply_to.id,
                    "channel_id": self.channel.id,
                    "fail_if_not_exists": False,
                }
            try:
                await post_voice_message(
                    self.channel._state.http, self.channel.id, voice, reference=reference
                )
                self._reply_to = None
                return
            except ValueError as exc:  # not an Ogg/Opus stream: no waveform to draw
                log.warning("Cannot send a voice message (%s); sending an audio file", exc)
            except discord.HTTPException as exc:
                if exc.status not in (400, 403):
                    raise
                log.info(
                    "Discord refused a voice message (%s %s); sending an audio file", exc.status, exc.text
                )
        await self.send("", files=[Upload("voice.ogg", voice.data)])

    def _may_send_voice(self) -> bool:
        guild = getattr(self.channel, "guild", None)
        if guild is None or guild.me is None:
            return True
        return bool(self.channel.permissions_for(guild.me).send_voice_messages)


class InteractionSurface:
    """A deferred interaction: the first part fills the "thinking…" response, then followups."""

    voice_messages = False  # an interaction's response cannot be a voice message

    def __init__(self, interaction: discord.Interaction, *, ephemeral: bool = False) -> None:
        self.interaction = interaction
        self.ephemeral = ephemeral  # only its user sees the response
        self.channel = interaction.channel
        self.upload_limit: int = interaction.filesize_limit
        self._original_used = False

    async def send(
        self, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> discord.Message:
        if not self._original_used:
            self._original_used = True
            if files:
                extras["attachments"] = [f.file() for f in files]
            return await self.interaction.edit_original_response(content=content, **extras)
        if files:
            extras["files"] = [f.file() for f in files]
        # Only the first followup inherits the defer's privacy: the rest (a long answer's later parts) must ask.
        return await self.interaction.followup.send(content, wait=True, ephemeral=self.ephemeral, **extras)

    async def edit(
        self, message: discord.Message, content: str, *, files: list[Upload] | None = None, **extras: Any
    ) -> None:
        if files:
            extras["attachments"] = [f.file() for f in files]
        if isinstance(message, discord.InteractionMessage):
            await self.interaction.edit_original_response(content=content, **extras)
        else:
            await message.edit(content=content, **extras)

    async def send_voice(self, voice: Attachment) -> None:
        await self.send("", files=[Upload("voice.ogg", voice.data)])


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


def final_text(
    reply: Reply, *, sources_inline: bool = False, warnings: tuple[str, ...] = (), with_files: bool = False
) -> str:
    """The answer with its notices as small text below it (and sources, when not embedded).

    Args:
        warnings: the adapter's own notices (a file too big to upload).
        with_files: files go with the text, so an empty answer needs no "Done.".
    """
    pieces = [reply.text] if reply.text else []
    if sources_inline and reply.citations:
        pieces.append(sources_text(reply.citations))
    for notice in reply.notices:
        pieces.append("-# " + ("⚠️ " if notice.level == "warning" else "ℹ️ ") + notice.text)
    pieces += [f"-# ⚠️ {warning}" for warning in warnings]
    return "\n\n".join(pieces) or ("" if with_files else "Done.")


def streaming_text(text: str, status: str) -> str:
    """What a streaming answer shows: the text so far and the progress line below it."""
    if not status:
        return text
    return f"{text.rstrip()}\n\n-# {status}" if text.strip() else status


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
        self._activity = AsyncExitStack()
        self._active = False
        self.failed = False
        self.heading = ""  # goes above the answer: whose it is, when it cannot say so by itself

    @property
    def surface(self) -> Surface:
        """Where this answer goes."""
        return self._surface

    def use(self, surface: Surface) -> None:
        """Write to another surface (a character's webhook), before anything is shown."""
        assert not self._shown, "an answer cannot move once it is shown"
        self._surface = surface

    @property
    def messages(self) -> list[discord.Message]:
        """The messages this answer's text occupies (the last one carries the buttons)."""
        return [message for message, _ in self._shown]

    async def start_activity(self) -> None:
        """Show "typing…" until the first words (an interaction shows "thinking…" by itself)."""
        if not self._typing or self._active or self._shown:
            return
        try:
            await self._activity.enter_async_context(self._surface.channel.typing())
            self._active = True
        except discord.HTTPException as exc:  # only a nicety: the answer still goes out
            log.info("Cannot show typing in %s: %s", getattr(self._surface.channel, "id", "?"), exc)

    async def stop_activity(self) -> None:
        """Stop "typing…"."""
        if self._active:
            self._active = False
            await self._activity.aclose()

    async def write_stream(self, stream: ReplyStream, view_for: Callable[[Reply], Any]) -> Reply:
        """Follow the stream with throttled edits (and its progress line), then show the whole answer."""
        text, last = "", self._clock()
        await self.start_activity()  # Discord has one indicator for every kind of activity
        try:
            async for delta in stream:
                text += delta  # an empty delta: only the status line changed
                shown = self._headed(streaming_text(text, stream.status))
                # A progress line shows at once ("queued…"); then edits keep Discord's pace.
                due = self._clock() - last >= self._interval or (not self._shown and bool(stream.status))
                if shown.strip() and not self.failed and due:
                    last = self._clock()
                    if text.strip():
                        await self.stop_activity()  # the first words are there: stop "typing…"
                    await self._show(shown)
            reply = await stream.reply()
        finally:
            await self.stop_activity()
        await self.write_reply(reply, view_for(reply))
        return reply

    async def write_reply(self, reply: Reply, view: Any = None) -> None:
        """Show a complete reply: its text and files, a sources embed and buttons on the last part,
        then any voice messages."""
        await self.stop_activity()
        outgoing: Outgoing = plan_uploads(
            reply.attachments, limit=self._surface.upload_limit, voice_messages=self._surface.voice_messages
        )
        extras: dict[str, Any] = {}
        embed = sources_embed(reply.citations) if self._embeds else None
        if embed is not None:
            extras["embed"] = embed
        if view is not None:
            extras["view"] = view
        text = self._headed(
            final_text(
                reply,
                sources_inline=not self._embeds,
                warnings=tuple(outgoing.notices),
                with_files=bool(outgoing.files or outgoing.voice),
            )
        )
        files = outgoing.files
        if text or files or extras:
            await self._show(text, extras, files=files[:MAX_FILES])
        else:  # only voice: the progress line shown while it was made has done its job
            await self._clear()
        for start in range(MAX_FILES, len(files), MAX_FILES):  # more than one message holds
            await self._call(self._surface.send("", files=files[start : start + MAX_FILES]))
        for voice in outgoing.voice:
            await self._call(self._surface.send_voice(voice))

    def _headed(self, text: str) -> str:
        return f"{self.heading}{text}" if self.heading and text.strip() else text

    async def write_error(self, text: str) -> None:
        """Tell the user something went wrong."""
        await self.stop_activity()
        await self._show(f"⚠️ {text}")

    async def _clear(self) -> None:
        for message, _ in self._shown:
            with suppress(discord.HTTPException):
                await message.delete()
        self._shown.clear()

    async def _call(self, action: Coroutine[Any, Any, Any]) -> None:
        if self.failed:
            action.close()
            return
        try:
            await action
        except discord.Forbidden:
            self.failed = True
            await self._on_forbidden(self._surface.channel)

    async def _show(
        self, text: str, extras: dict[str, Any] | None = None, files: list[Upload] | None = None
    ) -> None:
        if self.failed:
            return
        parts = split_markdown(text, MAX_MESSAGE) or [""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            more = (extras or {}) if last else {}
            attach = (files or []) if last else []
            try:
                if index < len(self._shown):
                    message, shown = self._shown[index]
                    if shown == part and not more and not attach:
                        continue
                    await self._surface.edit(message, part, files=attach, **more)
                    self._shown[index] = (message, part)
                else:
                    self._shown.append((await self._surface.send(part, files=attach, **more), part))
            except discord.Forbidden:
                self.failed = True
                await self._on_forbidden(self._surface.channel)
                return
            except discord.NotFound:
                # The message was deleted meanwhile: post the part anew.
                self._shown[index] = (await self._surface.send(part, files=attach, **more), part)
