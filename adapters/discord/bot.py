"""The Discord adapter: gateway events and slash commands in, core actions, messages out."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import discord
import yarl
from discord import app_commands

from adapters.discord import reading
from adapters.discord.components import (
    CommandButton,
    CommandSelect,
    RegenerateButton,
    is_ours,
    view_for,
)
from adapters.discord.inbox import DiscordInbox
from adapters.discord.media import download_all
from adapters.discord.permissions import Forbidden, may_send, permission
from adapters.discord.reading import PLATFORM
from adapters.discord.slash import SlashCommands
from adapters.discord.speakers import (
    NoWebhooksNotice,
    Webhooks,
    WebhookSurface,
    may_manage_webhooks,
    webhook_home,
)
from adapters.discord.writer import (
    ChannelSurface,
    DiscordWriter,
    InteractionSurface,
    Surface,
)
from adapters.dispatch import EXPIRED, NOT_NEWEST, Dispatch, error_text, write_afterword
from core.app import App
from core.errors import ConfigurationError
from core.events import (
    Destination,
    Reply,
    ReplyStream,
    Speaker,
)
from core.settings import Settings
from core.turns import Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiscordOptions:
    """Knobs tests and benchmarks turn; the defaults are for production."""

    edit_interval: float = 1.2
    ready_timeout: float = 60.0
    guild_ready_timeout: float = 2.0  # discord.py's wait for the servers' data after READY


class _Hooks:
    """What our clients add to discord.py's: the set-up hook and message events go to the adapter."""

    adapter: DiscordAdapter
    tree: app_commands.CommandTree[Any]

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_interaction(interaction)


class _Client(_Hooks, discord.Client):
    """One connection to the gateway: enough for most bots."""

    def __init__(self, adapter: DiscordAdapter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)


class _ShardedClient(_Hooks, discord.AutoShardedClient):
    """Several gateway connections (DISCORD_SHARD_COUNT), for bots in many servers; with
    DISCORD_SHARD_IDS only those shards, the others run in other workers."""

    def __init__(self, adapter: DiscordAdapter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)


class DiscordAdapter:
    """Run one Discord bot over the core: ``async with DiscordAdapter(...):`` serves events."""

    def __init__(
        self,
        service: App,
        settings: Settings,
        *,
        options: DiscordOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = service
        self._settings = settings
        self._options = options or DiscordOptions()
        self._clock = clock
        self._dispatch: Dispatch[str, int] = Dispatch()  # keyed by channel id
        self._forbidden = Forbidden()  # which channels were reported
        self._no_webhooks = NoWebhooksNotice(lambda user: self.client.fetch_user(user))  # noqa: PLW0108 - made below
        self._webhooks = Webhooks(lambda: self.client.user.id if self.client.user else None, clock=clock)
        self._runner: asyncio.Task[None] | None = None
        self._inbox = DiscordInbox(service.inbox, settings)
        self._replaying: asyncio.Task[None] | None = None
        # REST and gateway proxies: discord.py reads these two class attributes.
        discord.http.Route.BASE = settings.discord_api_base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the developer portal
        sharded = settings.discord_shard_count is not None
        kwargs: dict[str, Any] = {"shard_count": settings.discord_shard_count} if sharded else {}
        if settings.discord_shard_ids is not None:
            # This worker's part of the bot: Discord sends it only its shards' servers (DMs: shard 0).
            kwargs["shard_ids"] = sorted(settings.discord_shard_ids)
        self.client: _Client | _ShardedClient = (_ShardedClient if sharded else _Client)(
            self,
            intents=intents,
            guild_ready_timeout=self._options.guild_ready_timeout,
            **kwargs,
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=False, replied_user=False
            ),
        )
        self._slash = SlashCommands(service, settings, self.client.tree, self.answer)
        self._slash.build()

    # ----- lifecycle

    async def __aenter__(self) -> DiscordAdapter:
        token = self._settings.discord_bot_token
        if token is None:
            raise ConfigurationError("DISCORD_BOT_TOKEN is not set.")
        try:
            await self.client.login(token.get_secret_value())
        except discord.LoginFailure:
            await self.client.close()
            raise ConfigurationError(
                "Discord rejected DISCORD_BOT_TOKEN. Copy the bot token again from the developer "
                "portal (Applications → your app → Bot)."
            ) from None
        self._runner = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._runner}, timeout=self._options.ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            await self.client.close()
            if self._runner in done and self._runner.exception():
                raise ConfigurationError(f"Discord connection failed: {self._runner.exception()}")
            raise ConfigurationError("Discord did not become ready in time.")
        self._service.admin_alerts.append(self.tell_admins)
        self._service.deliverers[PLATFORM] = self.deliver
        self._replaying = asyncio.create_task(self._inbox.take_over(self.client, self.on_message))
        log.info("Discord bot %s is running in %d servers", self.client.user, len(self.client.guilds))
        if isinstance(self.client, discord.AutoShardedClient):
            log.info("Discord shards %s of %s", sorted(self.client.shards), self.client.shard_count)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.tell_admins in self._service.admin_alerts:
            self._service.admin_alerts.remove(self.tell_admins)
        if self._service.deliverers.get(PLATFORM) == self.deliver:
            del self._service.deliverers[PLATFORM]
        if self._replaying is not None:
            self._replaying.cancel()
            await asyncio.gather(self._replaying, return_exceptions=True)
        await self.client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    async def tell_admins(self, text: str) -> None:
        """DM every bot admin on Discord."""
        for user_id in self._settings.admin_ids(PLATFORM):
            try:
                user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
                await user.send(text)
            except discord.HTTPException as exc:
                log.warning("Cannot DM Discord admin %s: %s", user_id, exc)

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        """Post a late result (a video finished after a restart) in its channel or thread."""
        channel_id = int(destination.thread_id or destination.chat_id)
        channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
        writer = await self._speaking(self._writer(ChannelSurface(channel), typing=False), reply.speaker)
        await writer.write_reply(reply, view_for(reply.choices))

    async def setup(self) -> None:
        """discord.py's setup hook: persistent buttons, and commands synced if they changed."""
        RegenerateButton.handler = CommandButton.handler = CommandSelect.handler = self
        self.client.add_dynamic_items(RegenerateButton, CommandButton, CommandSelect)
        await self.sync_commands()

    async def sync_commands(self) -> bool:
        """Sync the slash commands to Discord if they changed since the last sync."""
        return await self._slash.sync()

    # ----- slash commands

    async def regenerate(self, interaction: discord.Interaction) -> None:
        """The Regenerate button: answer the last question again, if this is the last answer."""
        message = interaction.message
        channel = interaction.channel
        if message is None or channel is None or not self._dispatch.is_newest(str(channel.id), message.id):
            await interaction.response.send_message(NOT_NEWEST, ephemeral=True)
            return
        await interaction.response.defer()
        incoming = reading.incoming(channel, interaction.user, "/retry", is_direct=interaction.guild is None)
        await self.answer(
            incoming.chat_id, ChannelSurface(channel), lambda: self._service.handle_message(incoming)
        )

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Answer a click on a component this bot did not make (forged, or from an older version)."""
        data: dict[str, Any] = dict(interaction.data or {})
        if interaction.type is discord.InteractionType.component and not is_ours(str(data.get("custom_id"))):
            await self.expired(interaction)

    async def expired(self, interaction: discord.Interaction) -> None:
        """Tell only the presser that the button has expired."""
        try:
            await interaction.response.send_message(EXPIRED, ephemeral=True)
        except discord.HTTPException as exc:  # e.g. the interaction is too old to answer
            log.info("Cannot answer a click on an expired component: %s", exc)

    async def press(self, interaction: discord.Interaction, command: str) -> None:
        """A command button: run its command as the person who pressed it, in that channel."""
        channel = interaction.channel
        if channel is None:
            await self.expired(interaction)
            return
        await interaction.response.defer()  # silently: the answer goes to the channel
        incoming = reading.incoming(channel, interaction.user, command, is_direct=interaction.guild is None)
        try:
            async with self._dispatch.take_turn(incoming.chat_id):
                result = await self._service.handle_message(incoming)
        except Exception as exc:  # noqa: BLE001 - error_text logs it; e.g. someone else's quote: tell only the presser
            text = error_text(exc, log, "A Discord button failed")
            await interaction.followup.send(f"⚠️ {text}", ephemeral=True)
            return
        try:  # done: pressing again would run it twice (this edits the message the button is on)
            await interaction.edit_original_response(view=None)
        except discord.HTTPException as exc:
            log.info("Cannot take the buttons off a message in %s: %s", channel.id, exc)
        surface: Surface
        if interaction.message is not None and interaction.message.flags.ephemeral:
            surface = InteractionSurface(
                interaction, ephemeral=True
            )  # only its user sees it: the answer replaces it
        else:
            surface = ChannelSurface(channel, reply_to=interaction.message)
        await self._write(
            incoming.chat_id, self._writer(surface, typing=isinstance(surface, ChannelSurface)), result
        )

    # ----- messages

    async def on_message(self, message: discord.Message, *, replayed: bool = False) -> None:
        """Answer DMs, mentions, replies to the bot (or its characters), anything in the bot's own threads,
        and every message in a channel a character is bound to (a roleplay channel).

        A message for the bot is recorded in the inbox before it is answered, and marked answered
        after: one a crash left unanswered is answered at the next start (``replayed``).
        """
        me = self.client.user
        if (
            me is None
            or message.author.bot
            or message.type not in (discord.MessageType.default, discord.MessageType.reply)
        ):
            return
        channel = message.channel
        direct = message.guild is None
        own_thread = isinstance(channel, discord.Thread) and channel.owner_id == me.id
        replied = await reading.replied(message)
        # A character's message (through the bot's webhook) carries the bot's application id.
        to_bot = bool(
            replied
            and (replied.author.id == me.id or (replied.webhook_id and replied.application_id == me.id))
        )
        if not (
            direct
            or own_thread
            or to_bot
            or me in message.mentions
            or await self._service.roleplay_here(PLATFORM, str(channel.id))
        ):
            return
        text = re.sub(rf"<@!?{me.id}>", "", message.content).strip()
        if not may_send(channel):
            await self._forbidden.report(channel)
            return
        if not replayed and not await self._inbox.record(message):
            return  # the gateway sent it twice

        async def start() -> Reply | ReplyStream:
            # Files are fetched here, in the channel's turn: each is checked against the limits first.
            incoming = reading.incoming(
                channel,
                message.author,
                text,
                is_direct=direct,
                message_id=str(message.id),
                receipts=(str(message.id),),
                attachments=await download_all(self._service.uploads, message),
                reply_to=await reading.replied_message(
                    self._service.uploads,
                    replied,
                    to_bot,
                    needed=reading.takes_replied_image(self._service.commands, text),
                ),
            )
            return await self._service.handle_message(incoming)

        await self.answer(str(channel.id), ChannelSurface(channel, reply_to=message), start)
        await self._inbox.answered(message)

    def _writer(self, surface: Surface, *, typing: bool = True) -> DiscordWriter:
        return DiscordWriter(
            surface,
            on_forbidden=self._forbidden.report,
            interval=self._options.edit_interval,
            clock=self._clock,
            typing=typing,
            embeds=permission(surface.channel, "embed_links"),
        )

    async def answer(
        self,
        chat_id: str,
        surface: Surface,
        start: Callable[[], Awaitable[Reply | ReplyStream]],
        interaction: discord.Interaction | None = None,
    ) -> None:
        """Hand a message to the core in arrival order, then write what comes back in that order."""
        writer = self._writer(surface, typing=interaction is None)
        # Both places at once: the core must answer in the order the answers are delivered in
        # (an answer is paid once it arrived, and the next one of its conversation waits).
        core, delivery = self._dispatch.take_turn(chat_id), self._dispatch.take_delivery(chat_id)
        if not permission(surface.channel, "embed_links"):
            await self._forbidden.report(surface.channel)  # once; sources go in as text meanwhile
        try:
            await self._answer(chat_id, writer, start, core, delivery)
        finally:
            core.release()  # also when it failed or was cancelled before its place came
            delivery.release()

    async def _answer(
        self,
        chat_id: str,
        writer: DiscordWriter,
        start: Callable[[], Awaitable[Reply | ReplyStream]],
        core: Turn,
        delivery: Turn,
    ) -> None:
        try:
            # "typing…" from the start: making a picture or reading a voice message takes a while.
            await writer.start_activity()
            async with core:
                result = await start()
            if isinstance(result, ReplyStream):
                result.expect_report()  # what is paid once it arrived waits to hear that it did
        except discord.HTTPException as exc:
            await writer.stop_activity()
            log.warning("Discord refused a request in channel %s: %s", chat_id, exc)
            return
        except asyncio.CancelledError:
            await writer.stop_activity()
            raise
        except Exception as exc:  # noqa: BLE001 - error_text logs it
            # Errors fill the "thinking…" response (ephemeral whenever the command was).
            async with delivery:
                await writer.write_error(error_text(exc, log, "Handling a Discord message failed"))
            return
        if isinstance(result, ReplyStream) and result.status:
            delivery.release()  # a job showing its progress (a video) holds no one up
        try:
            async with delivery:  # an earlier answer still being written goes first
                await self._write(chat_id, writer, result)  # "typing…" goes on until the first words
            await write_afterword(result, writer.write_error)
        finally:
            if isinstance(result, ReplyStream):
                result.not_delivered()  # unless it was reported: cancelled before writing

    async def _write(self, chat_id: str, writer: DiscordWriter, result: Reply | ReplyStream) -> None:
        """Write the core's answer (streamed or whole), and remember the newest regenerable one."""
        try:
            writer = await self._speaking(writer, result.speaker)
            if isinstance(result, ReplyStream):
                with result.delivering():  # a video is paid once it is sent
                    reply = await writer.write_stream(result, lambda r: view_for(r.choices))
            else:
                reply = result
                await writer.write_reply(reply, view_for(reply.choices))
            self._dispatch.answered(chat_id, reply, [m.id for m in writer.messages])
        except discord.HTTPException as exc:
            log.warning("Discord refused a message in channel %s: %s", chat_id, exc)
        except Exception as exc:  # noqa: BLE001 - error_text logs it
            await writer.write_error(error_text(exc, log, "Handling a Discord message failed"))

    async def _speaking(self, writer: DiscordWriter, speaker: Speaker | None) -> DiscordWriter:
        """The writer for an answer a character speaks: through the channel's webhook, in its name.

        In a DM it is a plain answer. Where the bot has no webhook (no Manage Webhooks), the answer
        is the bot's own message headed by the character's name, and the server's owner is told once.
        A slash command's or a button's own response only says who speaks: the character speaks in
        the channel, for everyone (the response may be visible to its user alone).
        """
        surface = writer.surface
        home = webhook_home(surface.channel) if speaker is not None else None
        if speaker is None or home is None:
            return writer
        webhook = self._webhooks.cached(home) or (
            await self._webhooks.get(home) if may_manage_webhooks(home) else None
        )
        if isinstance(surface, InteractionSurface):
            note = f"🎭 **{speaker.name}** speaks in this channel."
            if webhook is None:
                note += "\n-# With the Manage Webhooks permission here, it would speak with its own name and face."
            await surface.send(note)
            writer = self._writer(ChannelSurface(surface.channel), typing=False)
        if webhook is not None:
            writer.use(WebhookSurface(self._webhooks, webhook, surface.channel, speaker))
        else:
            writer.heading = f"**{speaker.name}**\n"
            await self._no_webhooks.tell(home, speaker)
        return writer
