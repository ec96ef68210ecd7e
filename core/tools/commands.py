"""/tools and /timezone, and the buttons of a tool call that waits for the user's yes."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from core.commands import Arg, Audience, Command, CommandContext
from core.errors import InvalidInput
from core.events import Reply, ReplyStream
from core.ports.storage import ChatSettingsStore
from core.runner import Runner
from core.tools.base import ToolContext, failed
from core.tools.pending import PendingCalls
from core.tools.registry import ToolRegistry

SHOWN_CHARS = 3_000  # of a confirmed tool's text result (a search's), shown as it is


class ToolCommands:
    """Turn tools on or off per chat, set the chat's time zone, and answer a waiting call."""

    def __init__(
        self, chat_settings: ChatSettingsStore, tools: ToolRegistry, pending: PendingCalls, runner: Runner
    ) -> None:
        self._chat_settings = chat_settings
        self._tools = tools
        self._pending = pending
        self._runner = runner

    def definitions(self) -> list[Command]:
        """The command definitions, in the order /help shows them."""
        return [
            Command(
                "tools",
                "Let the model draw, search, read links and more by itself: on or off",
                self.tools,
                (Arg("mode", "on or off", choices=("on", "off")),),
            ),
            Command(
                "timezone",
                "This chat's time zone for the model (e.g. Europe/Berlin)",
                self.timezone,
                (Arg("zone", "An IANA time zone name, or UTC"),),
            ),
            Command(
                "toolconfirm",
                "Run a tool call that waits for your yes",
                self.confirm,
                (Arg("id", "The waiting call", required=True),),
                hidden=True,
                audience=Audience.ACTION,
            ),
            Command(
                "toolcancel",
                "Drop a tool call that waits for your yes",
                self.cancel,
                (Arg("id", "The waiting call", required=True),),
                hidden=True,
                audience=Audience.ASKER,
            ),
        ]

    async def tools(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set whether the model may call tools here."""
        msg = ctx.message
        mode = args.get("mode")
        if mode is None:
            chat = await self._chat_settings.get(msg.platform, msg.chat_id)
            state = "on" if self._tools.enabled(chat) else "off"
            return Reply(
                f"Tools are {state} here: models that can call functions may draw, search the web, "
                "read links, answer aloud, search this chat's memory and tell the time. "
                "Change it with /tools on|off."
            )
        ctx.require_chat_admin("turn tools on or off")
        await self._chat_settings.update(msg.platform, msg.chat_id, tools=mode == "on")
        if mode == "on":
            return Reply(
                "Tools are on: the model may draw, search and read links by itself (each priced as its command)."
            )
        return Reply("Tools are off: the model only writes.")

    async def timezone(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Show or set the chat's time zone (what ``current_time`` tells the model)."""
        msg = ctx.message
        zone = args.get("zone")
        if zone is None:
            chat = await self._chat_settings.get(msg.platform, msg.chat_id)
            return Reply(
                f"This chat's time zone is {chat.timezone or 'UTC'}. Change it with /timezone Europe/Berlin."
            )
        ctx.require_chat_admin("set the time zone")
        name = _zone(str(zone))
        await self._chat_settings.update(msg.platform, msg.chat_id, timezone=None if name == "UTC" else name)
        return Reply(f"Time zone set to {name}.")

    async def confirm(self, ctx: CommandContext, args: dict[str, Any]) -> ReplyStream:
        """Run the waiting call the user said yes to, and show what it made."""
        msg = ctx.message
        call = await self._pending.take(msg, str(args["id"]))
        chat = await self._chat_settings.get(msg.platform, msg.chat_id)
        offered = {t.spec.name: t for source in self._tools.sources() for t in source.tools()}
        tool = offered.get(call.name)
        if tool is None or (tool.admins_only and not ctx.is_bot_admin):
            raise InvalidInput("That tool is not available any more.")

        async def work(stream: ReplyStream) -> None:
            stream.set_status(tool.status(call))
            try:
                result = await tool.run(call, ToolContext(msg, chat, stream, ctx.is_bot_admin))
            except Exception as exc:  # noqa: BLE001 - told in words, like the model would be
                result = failed(call, exc)
            text = tool.status(call) + (
                "\n\n" + result.content[:SHOWN_CHARS] if not result.attachments else ""
            )
            stream.finish(Reply(text, result.attachments, charges=result.charges))

        return self._runner.spawn(work)

    async def cancel(self, ctx: CommandContext, args: dict[str, Any]) -> Reply:
        """Drop the waiting call: nothing is done, nothing charged."""
        await self._pending.drop(ctx.message, str(args["id"]))
        return Reply("Not done. Nothing was charged.")


def _zone(given: str) -> str:
    """An IANA zone name as the database spells it, or InvalidInput with close names."""
    given = given.strip()
    if given.upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    try:
        ZoneInfo(given)
        return given
    except (ZoneInfoNotFoundError, ValueError):
        pass
    lowered = given.lower().replace(" ", "_")
    found = sorted(z for z in available_timezones() if lowered in z.lower())[:5]
    hint = (
        f" Did you mean {', '.join(found)}?"
        if found
        else " Use a name like Europe/Berlin or America/New_York."
    )
    raise InvalidInput(f"{given!r} is not a time zone.{hint}")
