"""What the bot may do in a channel, and telling the owner once when it may not."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord

log = logging.getLogger(__name__)

NEEDED = ("send_messages", "embed_links", "attach_files")


def may_send(channel: Any) -> bool:
    """Whether the bot may post in this channel (or thread)."""
    return permission(
        channel, "send_messages_in_threads" if isinstance(channel, discord.Thread) else "send_messages"
    )


def permission(channel: Any, name: str) -> bool:
    """Whether the bot has this permission in the channel (always, in a DM)."""
    guild = getattr(channel, "guild", None)
    if guild is None or guild.me is None:
        return True
    return bool(getattr(channel.permissions_for(guild.me), name, True))


class Forbidden:
    """Channels where the bot lacks permissions, each reported once."""

    def __init__(self) -> None:
        self._reported: set[int] = set()

    async def report(self, channel: Any) -> None:
        """Say once per channel that the bot lacks permissions there: in the log, and to the owner."""
        if channel.id in self._reported:
            return
        self._reported.add(channel.id)
        guild = getattr(channel, "guild", None)
        missing = [p for p in NEEDED if not permission(channel, p)] or list(NEEDED)
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
