"""Reading Discord: a message or an interaction as the core's IncomingMessage."""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord.media import channel_nsfw, download, first_image
from core.commands import CommandRegistry
from core.errors import BotError, UnknownCommand
from core.events import Attachment, IncomingMessage, RepliedMessage

log = logging.getLogger(__name__)

PLATFORM = "discord"


def incoming(
    channel: Any,
    user: discord.User | discord.Member,
    text: str,
    *,
    is_direct: bool,
    message_id: str | None = None,
    reply_to: RepliedMessage | None = None,
    attachments: tuple[Attachment, ...] = (),
    receipts: tuple[str, ...] = (),
) -> IncomingMessage:
    """A message in a channel (or a DM) as the core takes it."""
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
        receipts=receipts,
    )


def from_interaction(interaction: discord.Interaction, text: str) -> IncomingMessage:
    """A slash command, menu or form as a message from its user in its channel."""
    channel = interaction.channel
    assert channel is not None
    return incoming(channel, interaction.user, text, is_direct=interaction.guild is None)


async def replied(message: discord.Message) -> discord.Message | None:
    """The message this one replies to, if it still exists."""
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    if isinstance(reference.resolved, discord.Message):
        return reference.resolved
    try:
        return await message.channel.fetch_message(reference.message_id)
    except discord.HTTPException:
        return None


async def replied_message(
    media: Any, replied: discord.Message | None, to_bot: bool, *, needed: bool
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
            attachments = (await download(media, image),)
        except BotError:
            if needed:
                raise
            log.info("Left out the image of replied message %s", replied.id)
    if not replied.content and not attachments:
        return None
    return RepliedMessage(
        replied.content, from_bot=to_bot, author=replied.author.display_name, attachments=attachments
    )


def takes_replied_image(commands: CommandRegistry, text: str) -> bool:
    """Whether a typed command works on an image, which may be in the message replied to."""
    words = text.split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return False
    try:
        command = commands.get(words[0][1:].split("@", 1)[0])
    except UnknownCommand:
        return False
    file = command.file
    return file is not None and file.action is None and "image" in file.kinds
