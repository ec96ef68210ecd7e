"""Discord's app commands, built from the core's Command definitions, and the message menus."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, Protocol

import discord
from discord import app_commands

from adapters.discord import reading
from adapters.discord.media import download, first_image
from adapters.discord.writer import ChannelSurface, InteractionSurface, Surface
from adapters.dispatch import APOLOGY
from core.app import App
from core.commands import Access, ArgType, Audience, Command
from core.errors import BotError
from core.events import IncomingMessage, Reply, ReplyStream
from core.settings import Settings

log = logging.getLogger(__name__)

SYNC_KEY = "discord.commands.fingerprint"
MEDIA_SUGGESTIONS = frozenset({"image_models", "image_styles", "voices", "video_models", "music_models"})
NO_IMAGE = "That message has no image."
# An autocomplete callback: the interaction and what the user has typed so far.
Completer = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]


class Answer(Protocol):
    """The adapter's way to answer: in the chat's turn, written to a surface."""

    async def __call__(
        self,
        chat_id: str,
        surface: Surface,
        start: Callable[[], Awaitable[Reply | ReplyStream]],
        interaction: discord.Interaction | None = None,
    ) -> None:
        """Hand a message to the core in arrival order, then write what comes back."""


class EditImageModal(discord.ui.Modal, title="Edit image"):
    """Ask how to change the image of the message the "Edit image" menu was used on."""

    prompt: discord.ui.TextInput[EditImageModal] = discord.ui.TextInput(
        label="How should the image change?",
        style=discord.TextStyle.paragraph,
        placeholder="Make the sky purple",
        max_length=1500,
    )

    def __init__(self, commands: SlashCommands, image: discord.Attachment) -> None:
        super().__init__(timeout=600)
        self._commands = commands
        self._image = image

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._commands.edit_submitted(interaction, self._image, self.prompt.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        log.error("The Edit image form failed", exc_info=error)
        if not interaction.response.is_done():
            await interaction.response.send_message(f"⚠️ {APOLOGY}", ephemeral=True)


class SlashCommands:
    """The slash commands and message menus of one bot, and what they do when used."""

    def __init__(
        self,
        service: App,
        settings: Settings,
        tree: app_commands.CommandTree[Any],
        answer: Answer,
    ) -> None:
        self._service = service
        self._settings = settings
        self._tree = tree
        self._answer = answer

    def build(self) -> None:
        """Add the slash commands, the message menus and /chat to the tree."""
        tree = self._tree
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
        file_option = attachment_option(command)
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
            # What /model offers: online models (private ones alone, with PRIVATE_MODELS_ONLY).
            models = await self._service.catalogue.models_of("text")
        except BotError:
            return []
        current = current.lower()
        found = [m for m in models if current in m.id.lower() or current in m.name.lower()]
        return [
            app_commands.Choice(name=f"{m.id} ({m.context_length // 1000}k)"[:100], value=m.id)
            for m in found[:25]
        ]

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
                found = await self._service.catalogue.suggest(source, current)
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
        payload = [c.to_dict(self._tree) for c in self._tree.get_commands()]
        blob = json.dumps({"commands": payload, "guilds": guild_ids}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def sync(self) -> bool:
        """Sync the slash commands to Discord if they changed since the last sync."""
        guilds = self._settings.discord_guild_ids
        fingerprint = self.fingerprint(guilds)
        state = self._service.state
        if await state.get(SYNC_KEY) == fingerprint:
            log.info("Slash commands unchanged; not syncing")
            return False
        tree = self._tree
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
        file_option = attachment_option(command)
        attached_file: discord.Attachment | None = values.pop(file_option[0], None) if file_option else None
        raw = command.text_args(values)
        incoming = reading.from_interaction(interaction, f"/{command.name} {raw}".strip())
        private = self._private(command, raw, incoming)
        await interaction.response.defer(thinking=True, ephemeral=private)

        async def start() -> Reply | ReplyStream:
            attached = incoming
            if attached_file is not None:
                attached = replace(
                    incoming, attachments=(await download(self._service.uploads, attached_file),)
                )
            return await self._service.run_command(attached, command.name, raw)

        await self._answer(
            incoming.chat_id,
            InteractionSurface(interaction, ephemeral=private),
            start,
            interaction=interaction,
        )

    def _private(self, command: Command, raw: str, incoming: IncomingMessage) -> bool:
        """Whether the reply is for the asker alone, as the command's definition says.

        A change to the chat is shown to everyone; anything else (lists, help, a refusal the
        asker would get anyway) only to the asker. Pictures, speech and video are public.
        """
        audience = command.audience_for(raw)
        if audience is Audience.ASKER:
            return True
        if audience is Audience.CHAT:
            return False
        changes = bool(raw) or audience is Audience.ACTION
        allowed = self._service.command_context(incoming).may_administer_chat
        return (
            command.access is Access.BOT_ADMIN  # the operator's business, not the channel's
            or not changes
            or (bool(raw) and not allowed)
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
        incoming = reading.from_interaction(interaction, f"/upscale {scale}")

        async def start() -> Reply | ReplyStream:
            attached = replace(incoming, attachments=(await download(self._service.uploads, image),))
            return await self._service.run_command(attached, "upscale", str(scale))

        await self._answer(incoming.chat_id, InteractionSurface(interaction), start, interaction=interaction)

    async def menu_edit(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The "Edit image" menu on a message: ask how (a form), then edit its first image."""
        image = first_image(message)
        if image is None:
            await interaction.response.send_message(NO_IMAGE, ephemeral=True)
            return
        try:  # refuse before the user types a prompt for an image that cannot be used
            self._service.uploads.check_download("image", image.size, None)
        except BotError as exc:
            await interaction.response.send_message(f"⚠️ {exc.user_message}", ephemeral=True)
            return
        await interaction.response.send_modal(EditImageModal(self, image))

    async def edit_submitted(
        self, interaction: discord.Interaction, image: discord.Attachment, prompt: str
    ) -> None:
        """The "Edit image" form came back: run /edit with its prompt on the image."""
        await interaction.response.defer(thinking=True)
        incoming = reading.from_interaction(interaction, f"/edit {prompt}")

        async def start() -> Reply | ReplyStream:
            attached = replace(incoming, attachments=(await download(self._service.uploads, image),))
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
            incoming = reading.incoming(thread, interaction.user, message, is_direct=False)
            surface = ChannelSurface(thread)
        else:  # a DM or a thread already: answer right here
            incoming = reading.from_interaction(interaction, message)
            surface = InteractionSurface(interaction)
        await self._answer(
            incoming.chat_id,
            surface,
            lambda: self._service.handle_message(incoming),
            interaction=interaction if isinstance(surface, InteractionSurface) else None,
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


def attachment_option(command: Command) -> tuple[str, str] | None:
    """The attachment option a slash command gets: the file its definition declares."""
    file = command.file
    if file is None or any(a.name == file.name for a in command.args):
        return None
    if file.action is None and "image" in file.kinds:  # see reading.takes_replied_image
        return file.name, f"{file.description} (else the one in the message you reply to)"[:100]
    return file.name, file.description[:100]
