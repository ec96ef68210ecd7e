"""The Discord adapter: gateway events and slash commands in, core actions, messages out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import discord
import yarl
from discord import app_commands

from adapters.discord.components import (
    CommandButton,
    CommandSelect,
    RegenerateButton,
    view_for,
)
from adapters.discord.media import channel_nsfw, download, download_all, first_image
from adapters.discord.speakers import (
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
from adapters.dispatch import APOLOGY, NOT_NEWEST, Dispatch, error_text
from core.chat import ChatService
from core.commands import Access, ArgType, Command
from core.errors import BotError, ConfigurationError, UnknownCommand
from core.events import (
    Attachment,
    Destination,
    IncomingMessage,
    RepliedMessage,
    Reply,
    ReplyStream,
    Speaker,
)
from core.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "discord"
SYNC_KEY = "discord.commands.fingerprint"
# Informational commands answer only the person who asked; the rest are public. A user's own data
# (/forget, with its confirmation and its result; /export, with its file) is theirs alone too.
PRIVATE_REPLIES = frozenset({"help", "settings", "status", "forget", "export"})
PUBLIC_ACTIONS = frozenset({"reset", "retry"})
# What these make (pictures, speech, video) is for the channel to see, whoever asks.
PUBLIC_RESULTS = frozenset({"imagine", "upscale", "edit", "speak", "video"})
# Subcommands that only show something: answered to the asker alone, whatever their arguments.
PRIVATE_SUBCOMMANDS = frozenset(
    {("character", "search"), ("character", "info"), ("persona", "list"), ("persona", "show")}
)
MEDIA_SUGGESTIONS = frozenset({"image_models", "image_styles", "voices", "video_models"})
NO_IMAGE = "That message has no image."
NO_WEBHOOKS = (
    "In #{channel} on {guild}, {name} speaks through my own messages. With the Manage Webhooks "
    "permission there, it would speak with its own name and face."
)
NEEDED = ("send_messages", "embed_links", "attach_files")
# An autocomplete callback: the interaction and what the user has typed so far.
Completer = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]


@dataclass(frozen=True)
class DiscordOptions:
    """Knobs tests and benchmarks turn; the defaults are for production."""

    edit_interval: float = 1.2
    ready_timeout: float = 60.0
    guild_ready_timeout: float = 2.0  # discord.py's wait for the servers' data after READY


class EditImageModal(discord.ui.Modal, title="Edit image"):
    """Ask how to change the image of the message the "Edit image" menu was used on."""

    prompt: discord.ui.TextInput[EditImageModal] = discord.ui.TextInput(
        label="How should the image change?",
        style=discord.TextStyle.paragraph,
        placeholder="Make the sky purple",
        max_length=1500,
    )

    def __init__(self, adapter: DiscordAdapter, image: discord.Attachment) -> None:
        super().__init__(timeout=600)
        self._adapter = adapter
        self._image = image

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._adapter.edit_submitted(interaction, self._image, self.prompt.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        log.error("The Edit image form failed", exc_info=error)
        if not interaction.response.is_done():
            await interaction.response.send_message(f"⚠️ {APOLOGY}", ephemeral=True)


class _Hooks:
    """What our clients add to discord.py's: the set-up hook and message events go to the adapter."""

    adapter: DiscordAdapter
    tree: app_commands.CommandTree[Any]

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)


class _Client(_Hooks, discord.Client):
    """One connection to the gateway: enough for most bots."""

    def __init__(self, adapter: DiscordAdapter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)


class _ShardedClient(_Hooks, discord.AutoShardedClient):
    """Several gateway connections (DISCORD_SHARD_COUNT), for bots in many servers."""

    def __init__(self, adapter: DiscordAdapter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)


class DiscordAdapter:
    """Run one Discord bot over the core: ``async with DiscordAdapter(...):`` serves events."""

    def __init__(
        self,
        service: ChatService,
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
        self._reported: set[int] = set()
        self._told_webhooks: set[int] = set()  # channels whose owner heard that Manage Webhooks is missing
        self._webhooks = Webhooks(lambda: self.client.user.id if self.client.user else None, clock=clock)
        self._runner: asyncio.Task[None] | None = None
        # REST and gateway proxies: discord.py reads these two class attributes.
        discord.http.Route.BASE = settings.discord_api_base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the developer portal
        sharded = settings.discord_shard_count is not None
        kwargs: dict[str, Any] = {"shard_count": settings.discord_shard_count} if sharded else {}
        self.client: _Client | _ShardedClient = (_ShardedClient if sharded else _Client)(
            self,
            intents=intents,
            guild_ready_timeout=self._options.guild_ready_timeout,
            **kwargs,
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=False, replied_user=False
            ),
        )
        self._build_commands()

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
        self._service.s.account.alerts.append(self.tell_admins)
        self._service.deliverers[PLATFORM] = self.deliver
        log.info("Discord bot %s is running in %d servers", self.client.user, len(self.client.guilds))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.tell_admins in self._service.s.account.alerts:
            self._service.s.account.alerts.remove(self.tell_admins)
        if self._service.deliverers.get(PLATFORM) == self.deliver:
            del self._service.deliverers[PLATFORM]
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

    # ----- slash commands

    def _build_commands(self) -> None:
        tree = self.client.tree
        names = set()
        for command in self._service.commands:
            if not command.hidden:  # run by buttons only
                tree.add_command(self._slash_command(command))
                names.add(command.name)
        for menu in self._context_menus(names):
            tree.add_command(menu)

        @tree.command(name="chat", description="Start a conversation in a new thread")
        @app_commands.describe(message="What to ask")
        async def chat(interaction: discord.Interaction, message: str) -> None:
            await self.chat_command(interaction, message)

        tree.on_error = self._on_tree_error  # type: ignore[method-assign]

    def _slash_command(self, command: Command) -> app_commands.Command[Any, Any, Any]:
        """A discord.py slash command built from a core command's definition."""

        async def callback(interaction: discord.Interaction, **values: Any) -> None:
            await self.run_slash(interaction, command, values)

        parameters = [
            inspect.Parameter(
                "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
            )
        ]
        for arg in command.args:
            annotation: Any = int if arg.type is ArgType.INTEGER else str
            required = arg.required and not arg.option  # named options are always optional
            parameters.append(
                inspect.Parameter(
                    arg.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=annotation if required else annotation | None,
                    default=inspect.Parameter.empty if required else None,
                )
            )
        file_option = self._file_option(command)
        if file_option is not None:
            parameters.append(
                inspect.Parameter(
                    file_option[0],
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=discord.Attachment | None,
                    default=None,
                )
            )
        # Discord wants required options first; the core lists positional args before options.
        parameters[1:] = sorted(parameters[1:], key=lambda p: p.default is not inspect.Parameter.empty)
        callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        # The signature is built at run time, which mypy cannot follow: hence Any.
        handler: Any = callback
        slash: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=command.name, description=command.description[:100], callback=handler
        )
        # Descriptions, choices and autocompletes through discord.py's public decorators,
        # which accept a built Command as well as a function.
        descriptions = {arg.name: arg.description[:100] for arg in command.args}
        if file_option is not None:
            descriptions[file_option[0]] = file_option[1]
        app_commands.describe(**descriptions)(slash)
        choices = {
            arg.name: [app_commands.Choice(name=c, value=c) for c in arg.choices]
            for arg in command.args
            if arg.choices
        }
        if choices:
            app_commands.choices(**choices)(slash)
        completers = {
            arg.name: completer
            for arg in command.args
            if arg.autocomplete and (completer := self._completer(arg.autocomplete)) is not None
        }
        if completers:
            app_commands.autocomplete(**completers)(slash)
        if command.access is Access.BOT_ADMIN:
            slash.default_permissions = discord.Permissions(manage_guild=True)
        return slash

    def _completer(self, kind: str) -> Completer | None:
        """The autocomplete callback for a core argument's ``autocomplete`` kind."""
        if kind == "models":
            return self._complete_models
        if kind in MEDIA_SUGGESTIONS:
            return self._suggester(kind)
        if kind == "characters":
            return self._complete_characters
        return None

    async def _complete_models(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            models = await self._service.s.venice.models("text")
        except BotError:
            return []
        current = current.lower()
        found = [m for m in models if current in m.id.lower() or current in m.name.lower()]
        return [
            app_commands.Choice(name=f"{m.id} ({m.context_length // 1000}k)"[:100], value=m.id)
            for m in found[:25]
        ]

    @staticmethod
    def _file_option(command: Command) -> tuple[str, str] | None:
        """The attachment option a slash command gets: the file its definition declares."""
        file = command.file
        if file is None or any(a.name == file.name for a in command.args):
            return None
        if file.action is None and "image" in file.kinds:  # see _takes_replied_image
            return file.name, f"{file.description} (else the one in the message you reply to)"[:100]
        return file.name, file.description[:100]

    def _takes_replied_image(self, text: str) -> bool:
        """Whether a typed command works on an image, which may be in the message replied to."""
        words = text.split(maxsplit=1)
        if not words or not words[0].startswith("/"):
            return False
        try:
            command = self._service.commands.get(words[0][1:].split("@", 1)[0])
        except UnknownCommand:
            return False
        file = command.file
        return file is not None and file.action is None and "image" in file.kinds

    async def _complete_characters(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            found = await self._service.characters.suggest(current)
        except BotError:
            return []
        return [app_commands.Choice(name=label[:100], value=value[:100]) for label, value in found[:25]]

    def _suggester(self, source: str) -> Completer:
        async def suggest(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            try:
                found = await self._service.media.suggest(source, current)
            except BotError:
                return []
            return [app_commands.Choice(name=label[:100], value=value[:100]) for label, value in found[:25]]

        return suggest

    def _context_menus(self, commands: set[str]) -> list[app_commands.ContextMenu]:
        """Right-click → Apps on a message: upscale or edit its image."""
        menus = []
        if "upscale" in commands:

            async def upscale_2(interaction: discord.Interaction, message: discord.Message) -> None:
                await self.menu_upscale(interaction, message, 2)

            async def upscale_4(interaction: discord.Interaction, message: discord.Message) -> None:
                await self.menu_upscale(interaction, message, 4)

            menus += [
                app_commands.ContextMenu(name="Upscale ×2", callback=upscale_2),
                app_commands.ContextMenu(name="Upscale ×4", callback=upscale_4),
            ]
        if "edit" in commands:

            async def edit_image(interaction: discord.Interaction, message: discord.Message) -> None:
                await self.menu_edit(interaction, message)

            menus.append(app_commands.ContextMenu(name="Edit image", callback=edit_image))
        return menus

    def fingerprint(self, guild_ids: tuple[int, ...]) -> str:
        """What the synced commands look like, so an unchanged set is not synced again."""
        payload = [c.to_dict(self.client.tree) for c in self.client.tree.get_commands()]
        blob = json.dumps({"commands": payload, "guilds": guild_ids}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def sync_commands(self) -> bool:
        """Sync the slash commands to Discord if they changed since the last sync."""
        guilds = self._settings.discord_guild_ids
        fingerprint = self.fingerprint(guilds)
        state = self._service.s.state
        if await state.get(SYNC_KEY) == fingerprint:
            log.info("Slash commands unchanged; not syncing")
            return False
        tree = self.client.tree
        for guild_id in guilds:  # development servers get them at once
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)
        await tree.sync()
        await state.set(SYNC_KEY, fingerprint)
        log.info("Synced %d slash commands", len(tree.get_commands()))
        return True

    async def run_slash(
        self, interaction: discord.Interaction, command: Command, values: dict[str, Any]
    ) -> None:
        """Acknowledge at once ("thinking…"), then let the core answer."""
        file_option = self._file_option(command)
        attached_file: discord.Attachment | None = values.pop(file_option[0], None) if file_option else None
        raw = command.text_args(values)
        incoming = self._from_interaction(interaction, f"/{command.name} {raw}".strip())
        # A change to the chat is shown to everyone; anything else (lists, help, a refusal
        # the asker would get anyway) only to the asker. Pictures, speech and video are public.
        changes = bool(raw) or command.name in PUBLIC_ACTIONS
        ctx = self._service.command_context(incoming)
        allowed = ctx.may_administer_chat
        private = command.name not in PUBLIC_RESULTS and (
            command.name in PRIVATE_REPLIES
            or (command.name, raw.split(" ", 1)[0].lower()) in PRIVATE_SUBCOMMANDS
            or command.access is Access.BOT_ADMIN  # the operator's business, not the channel's
            or not changes
            or (bool(raw) and not allowed)
        )
        await interaction.response.defer(thinking=True, ephemeral=private)

        async def start() -> Reply | ReplyStream:
            attached = incoming
            if attached_file is not None:
                attached = replace(
                    incoming, attachments=(await download(self._service.media, attached_file),)
                )
            return await self._service.run_command(attached, command.name, raw)

        await self._answer(
            incoming.chat_id,
            InteractionSurface(interaction, ephemeral=private),
            start,
            interaction=interaction,
        )

    async def menu_upscale(
        self, interaction: discord.Interaction, message: discord.Message, scale: int
    ) -> None:
        """The "Upscale ×2/×4" menu on a message: upscale its first image."""
        image = first_image(message)
        if image is None:
            await interaction.response.send_message(NO_IMAGE, ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        incoming = self._from_interaction(interaction, f"/upscale {scale}")

        async def start() -> Reply | ReplyStream:
            attached = replace(incoming, attachments=(await download(self._service.media, image),))
            return await self._service.run_command(attached, "upscale", str(scale))

        await self._answer(incoming.chat_id, InteractionSurface(interaction), start, interaction=interaction)

    async def menu_edit(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The "Edit image" menu on a message: ask how (a form), then edit its first image."""
        image = first_image(message)
        if image is None:
            await interaction.response.send_message(NO_IMAGE, ephemeral=True)
            return
        try:  # refuse before the user types a prompt for an image that cannot be used
            self._service.media.check_download("image", image.size, None)
        except BotError as exc:
            await interaction.response.send_message(f"⚠️ {exc.user_message}", ephemeral=True)
            return
        await interaction.response.send_modal(EditImageModal(self, image))

    async def edit_submitted(
        self, interaction: discord.Interaction, image: discord.Attachment, prompt: str
    ) -> None:
        """The "Edit image" form came back: run /edit with its prompt on the image."""
        await interaction.response.defer(thinking=True)
        incoming = self._from_interaction(interaction, f"/edit {prompt}")

        async def start() -> Reply | ReplyStream:
            attached = replace(incoming, attachments=(await download(self._service.media, image),))
            return await self._service.run_command(attached, "edit", prompt)

        await self._answer(incoming.chat_id, InteractionSurface(interaction), start, interaction=interaction)

    async def chat_command(self, interaction: discord.Interaction, message: str) -> None:
        """``/chat``: a new thread that is a conversation of its own."""
        await interaction.response.defer(thinking=True)
        channel = interaction.channel
        surface: Surface
        if isinstance(channel, discord.TextChannel):
            name = interaction.user.display_name
            opener = await interaction.edit_original_response(content=f"**{name}:** {message}"[:2000])
            thread = await opener.create_thread(name=(message[:90] or "Chat"), auto_archive_duration=1440)
            incoming = self._incoming(thread, interaction.user, message, is_direct=False)
            surface = ChannelSurface(thread)
        else:  # a DM or a thread already: answer right here
            incoming = self._from_interaction(interaction, message)
            surface = InteractionSurface(interaction)
        await self._answer(
            incoming.chat_id,
            surface,
            lambda: self._service.handle_message(incoming),
            interaction=interaction if isinstance(surface, InteractionSurface) else None,
        )

    async def regenerate(self, interaction: discord.Interaction) -> None:
        """The Regenerate button: answer the last question again, if this is the last answer."""
        message = interaction.message
        channel = interaction.channel
        if message is None or channel is None or not self._dispatch.is_newest(str(channel.id), message.id):
            await interaction.response.send_message(NOT_NEWEST, ephemeral=True)
            return
        await interaction.response.defer()
        incoming = self._incoming(channel, interaction.user, "/retry", is_direct=interaction.guild is None)
        await self._answer(
            incoming.chat_id, ChannelSurface(channel), lambda: self._service.handle_message(incoming)
        )

    async def press(self, interaction: discord.Interaction, command: str) -> None:
        """A command button: run its command as the person who pressed it, in that channel."""
        channel = interaction.channel
        if channel is None:
            return
        await interaction.response.defer()  # silently: the answer goes to the channel
        incoming = self._incoming(channel, interaction.user, command, is_direct=interaction.guild is None)
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

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("Slash command failed", exc_info=error)
        text = f"⚠️ {APOLOGY}"
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    # ----- messages

    async def on_message(self, message: discord.Message) -> None:
        """Answer DMs, mentions, replies to the bot (or its characters), anything in the bot's own threads,
        and every message in a channel a character is bound to (a roleplay channel)."""
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
        replied = await self._replied(message)
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
        if not self._may_send(channel):
            await self.report_forbidden(channel)
            return

        async def start() -> Reply | ReplyStream:
            # Files are fetched here, in the channel's turn: each is checked against the limits first.
            incoming = self._incoming(
                channel,
                message.author,
                text,
                is_direct=direct,
                message_id=str(message.id),
                attachments=await download_all(self._service.media, message),
                reply_to=await self._replied_message(replied, to_bot, needed=self._takes_replied_image(text)),
            )
            return await self._service.handle_message(incoming)

        await self._answer(str(channel.id), ChannelSurface(channel, reply_to=message), start)

    async def _replied_message(
        self, replied: discord.Message | None, to_bot: bool, *, needed: bool
    ) -> RepliedMessage | None:
        """The message replied to, as the core sees it: its text and its image (for /upscale, /edit).

        Args:
            needed: the image is what the message asks about, so a problem fetching it is reported
                (otherwise an oversized or expired image is left out and the reply still answered).
        """
        if replied is None:
            return None
        image = first_image(replied)
        attachments: tuple[Attachment, ...] = ()
        if image is not None:
            try:
                attachments = (await download(self._service.media, image),)
            except BotError:
                if needed:
                    raise
                log.info("Left out the image of replied message %s", replied.id)
        if not replied.content and not attachments:
            return None
        return RepliedMessage(
            replied.content, from_bot=to_bot, author=replied.author.display_name, attachments=attachments
        )

    def _writer(self, surface: Surface, *, typing: bool = True) -> DiscordWriter:
        return DiscordWriter(
            surface,
            on_forbidden=self.report_forbidden,
            interval=self._options.edit_interval,
            clock=self._clock,
            typing=typing,
            embeds=self._permission(surface.channel, "embed_links"),
        )

    async def _answer(
        self,
        chat_id: str,
        surface: Surface,
        start: Callable[[], Awaitable[Reply | ReplyStream]],
        interaction: discord.Interaction | None = None,
    ) -> None:
        """Hand a message to the core in arrival order, then write what comes back."""
        writer = self._writer(surface, typing=interaction is None)
        if not self._permission(surface.channel, "embed_links"):
            await self.report_forbidden(surface.channel)  # once; sources go in as text meanwhile
        try:
            # "typing…" from the start: making a picture or reading a voice message takes a while.
            await writer.start_activity()
            async with self._dispatch.take_turn(chat_id):
                result = await start()
        except discord.HTTPException as exc:
            await writer.stop_activity()
            log.warning("Discord refused a request in channel %s: %s", chat_id, exc)
            return
        except asyncio.CancelledError:
            await writer.stop_activity()
            raise
        except Exception as exc:  # noqa: BLE001 - error_text logs it
            # Errors fill the "thinking…" response (ephemeral whenever the command was).
            await writer.write_error(error_text(exc, log, "Handling a Discord message failed"))
            return
        await self._write(chat_id, writer, result)  # "typing…" goes on until the first words

    async def _write(self, chat_id: str, writer: DiscordWriter, result: Reply | ReplyStream) -> None:
        """Write the core's answer (streamed or whole), and remember the newest regenerable one."""
        try:
            writer = await self._speaking(writer, result.speaker)
            if isinstance(result, ReplyStream):
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
            await self._tell_no_webhooks(home, speaker)
        return writer

    async def _tell_no_webhooks(self, home: Any, speaker: Speaker) -> None:
        """Tell the server's owner once per channel that characters would look better with Manage Webhooks."""
        if home.id in self._told_webhooks:
            return
        self._told_webhooks.add(home.id)
        guild = home.guild
        text = NO_WEBHOOKS.format(channel=home.name, guild=guild.name, name=speaker.name)
        log.warning("%s", text)
        try:
            owner = guild.owner or await self.client.fetch_user(guild.owner_id)
            await owner.send(text)
        except discord.HTTPException as exc:
            log.info("Cannot tell the owner of %s about webhooks: %s", guild.id, exc)

    async def report_forbidden(self, channel: Any) -> None:
        """Say once per channel that the bot lacks permissions there: in the log, and to the owner."""
        if channel.id in self._reported:
            return
        self._reported.add(channel.id)
        guild = getattr(channel, "guild", None)
        missing = [p for p in NEEDED if not self._permission(channel, p)] or list(NEEDED)
        log.warning(
            "Missing permissions in #%s (%s) of %s: %s",
            getattr(channel, "name", channel.id),
            channel.id,
            getattr(guild, "name", "a DM"),
            ", ".join(missing),
        )
        owner = getattr(guild, "owner", None)
        if guild is not None and owner is not None:
            with contextlib.suppress(discord.HTTPException):
                await owner.send(
                    f"I can't answer in #{channel.name} on {guild.name}: I need the "
                    f"{', '.join(p.replace('_', ' ').title() for p in missing)} permission there."
                )

    def _may_send(self, channel: Any) -> bool:
        return self._permission(
            channel, "send_messages_in_threads" if isinstance(channel, discord.Thread) else "send_messages"
        )

    def _permission(self, channel: Any, name: str) -> bool:
        guild = getattr(channel, "guild", None)
        if guild is None or guild.me is None:
            return True
        return bool(getattr(channel.permissions_for(guild.me), name, True))

    # ----- reading events

    async def _replied(self, message: discord.Message) -> discord.Message | None:
        reference = message.reference
        if reference is None or reference.message_id is None:
            return None
        if isinstance(reference.resolved, discord.Message):
            return reference.resolved
        try:
            return await message.channel.fetch_message(reference.message_id)
        except discord.HTTPException:
            return None

    def _incoming(
        self,
        channel: Any,
        user: discord.User | discord.Member,
        text: str,
        *,
        is_direct: bool,
        message_id: str | None = None,
        reply_to: RepliedMessage | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> IncomingMessage:
        admin = is_direct or bool(
            isinstance(user, discord.Member)
            and (user.guild_permissions.manage_guild or user.guild_permissions.administrator)
        )
        guild = getattr(channel, "guild", None)  # None in a DM
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=str(channel.id),
            user_id=str(user.id),
            user_name=user.display_name,
            text=text,
            is_direct=is_direct,
            is_chat_admin=admin,
            reply_to=reply_to,
            message_id=message_id,
            attachments=attachments,
            nsfw=None if is_direct else channel_nsfw(channel),
            server_id=None if guild is None else str(guild.id),
        )

    def _from_interaction(self, interaction: discord.Interaction, text: str) -> IncomingMessage:
        channel = interaction.channel
        assert channel is not None
        return self._incoming(channel, interaction.user, text, is_direct=interaction.guild is None)
