"""/forget, /export, /ephemeral and /retention."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.commands import Arg, Audience, Command, CommandContext
from core.errors import InvalidInput
from core.events import Attachment, Choice, Reply
from core.privacy.policy import held

if TYPE_CHECKING:
    from core.ports.storage import ChatSettingsStore
    from core.privacy.policy import Privacy
    from core.settings import Settings


class PrivacyCommands:
    """Handlers for what is kept and for how long."""

    def __init__(self, settings: Settings, chat_settings: ChatSettingsStore, privacy: Privacy) -> None:
        self._settings = settings
        self._chat_settings = chat_settings
        self._privacy = privacy

    def definitions(self) -> list[Command]:
        """The command definitions, in the order /help shows them."""
        return [
            Command(
                "forget",
                "Delete everything the bot stored of you (asks first)",
                self.forget,
                (Arg("confirm", "confirm", choices=("confirm",)),),
                audience=Audience.ASKER,  # with its confirmation and its result: theirs alone
            ),
            Command(
                "export",
                "Get everything the bot stored of you, as a JSON file (in a private chat)",
                self.export,
                audience=Audience.ASKER,  # with its file
            ),
            Command(
                "ephemeral",
                "Keep this chat's conversation in memory only, never on disk: on or off",
                self.ephemeral,
                (Arg("mode", "on or off", choices=("on", "off")),),
            ),
            Command(
                "retention",
                "How many days this chat's messages are kept (0: forever; default)",
                self.retention,
                (Arg("days", "Days, 0 or default"),),
            ),
        ]

    async def forget(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Ask, then delete the caller's messages, summaries, settings and links."""
        message = ctx.message
        dm_chat = message.chat_id if message.is_direct else message.private_chat_id
        privacy = self._privacy
        if args.get("confirm") != "confirm":
            what = await privacy.held_summary(message.platform, message.user_id, dm_chat=dm_chat)
            return Reply(
                f"This deletes what the bot stored of you: {what} (your messages, the bot's answers "
                "to them, and the conversations only you took part in), summaries of conversations "
                "you were in, your private chat's settings and your account links. Your balance and "
                "the amounts in your ledger stay (they hold no content). This cannot be undone.",
                choices=(Choice("🗑 Yes, delete my data", "/forget confirm"),),
            )
        done = await privacy.forget(message.platform, message.user_id, dm_chat=dm_chat)
        return Reply(
            f"Done: deleted {done.held}, and your settings and links. Nothing of it is left in "
            "the database file."
        )

    async def export(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Send the caller their data as JSON, only in a private chat."""
        message = ctx.message
        if not message.is_direct:
            raise InvalidInput("Your data is yours: send /export in a private chat with the bot.")
        data = await self._privacy.export(message.platform, message.user_id, dm_chat=message.chat_id)
        blob = json.dumps(data, ensure_ascii=False, indent=2).encode()
        count = sum(len(c["messages"]) for c in data["conversations"])
        return Reply(
            f"Here is everything the bot stored of you: {held(count, len(data['conversations']))}, "
            "your settings and your account.",
            attachments=(Attachment("file", "application/json", blob, filename="venice-bots-export.json"),),
        )

    async def ephemeral(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or switch the chat's in-memory-only mode."""
        message = ctx.message
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        mode = args.get("mode")
        if not mode:
            return Reply(f"Ephemeral mode is {'on' if chat.ephemeral else 'off'}. /ephemeral on|off.")
        ctx.require_chat_admin("change where this chat's conversation is kept")
        await self._chat_settings.update(message.platform, message.chat_id, ephemeral=mode == "on")
        if mode == "on":
            return Reply(
                "Ephemeral mode on: from now on nothing written here is stored on disk. The "
                "conversation lives in the bot's memory only and is lost when the bot restarts. "
                "What was stored before stays until retention or /forget removes it."
            )
        return Reply(
            "Ephemeral mode off: this chat's conversation is stored again (the in-memory one is left behind)."
        )

    async def retention(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set how long this chat's messages are kept."""
        message = ctx.message
        default = self._settings.message_retention_days
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        raw = args.get("days")
        if raw is None:
            days = chat.retention_days if chat.retention_days is not None else default
            return Reply(
                f"Messages here are kept {kept_for(days)}"
                + ("" if chat.retention_days is not None else " (the bot's default)")
                + "."
            )
        ctx.require_chat_admin("change how long messages are kept")
        if raw.lower() == "default":
            value: int | None = None
        elif raw.isdigit() and int(raw) <= 36_500:
            value = int(raw)
        else:
            raise InvalidInput("Give a number of days (0 keeps messages forever), or default.")
        await self._chat_settings.update(message.platform, message.chat_id, retention_days=value)
        return Reply(
            f"Messages here are now kept {kept_for(default if value is None else value)}. Older ones "
            "are deleted within the hour."
        )


def kept_for(days: int) -> str:
    """ "forever", or "for 1 day", "for 30 days"."""
    return "forever" if days == 0 else f"for {days} day{'s' if days != 1 else ''}"
