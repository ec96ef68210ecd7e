"""The tools every model that calls functions is offered: draw, search the web, read a page,
answer aloud, search the conversation's memory, and tell the time.

Each paid one goes through the cashier as its command does (held before, settled after, refunded
on failure) and returns its charge with its result, so an answer that cannot be delivered gives
the money back. A failure is told to the model, which answers around it.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.billing.cashier import Cashier
from core.billing.pricing import Prices
from core.chat.recall import Recall
from core.errors import InvalidInput
from core.events import Charge
from core.media.images import Images
from core.media.music import MusicJobs
from core.text import clip
from core.tools.base import Tool, ToolCall, ToolContext, ToolResult, ToolSpec
from core.venice.client import VeniceClient

SEARCH_RESULTS = 5
PAGE_CHARS = 10_000  # of a read page, for the model
ASPECTS = ("1:1", "16:9", "9:16", "4:3", "3:4")


def _shown(call: ToolCall, name: str) -> str:
    """An argument as a status line shows it: on one line, cut to 80 characters."""
    return clip(str((call.arguments or {}).get(name, "")), 80, one_line=True)


def _one_text(parameter: str) -> dict[str, Any]:
    """The JSON schema of a tool that takes one required text."""
    return {"type": "object", "properties": {parameter: {"type": "string"}}, "required": [parameter]}


def _text_argument(call: ToolCall, name: str) -> str:
    """A required text argument, or InvalidInput naming it (told to the model)."""
    value = (call.arguments or {}).get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{call.name} needs a non-empty text argument {name!r}.")
    return value.strip()


def public_url(url: str) -> str:
    """The URL when it is a public http(s) address; InvalidInput otherwise (no localhost, no
    private or link-local address, no other scheme): Venice fetches it, but the bot never sends
    Venice to its own network."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput("Only public http(s) web addresses can be read.")
    host = parts.hostname.lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan", ".home.arpa")):
        raise InvalidInput(f"{host} is not a public address.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url.strip()  # a name: public as far as the bot can tell
    if not address.is_global:
        raise InvalidInput(f"{host} is not a public address.")
    return url.strip()


class _Builtin:
    """What the built-in tools share: never for admins only."""

    admins_only = False

    async def price(self, call: ToolCall, context: ToolContext) -> int:
        """Free unless a tool says otherwise."""
        return 0


class GenerateImage(_Builtin):
    """``generate_image``: the /imagine path, at /imagine's price, shown with the answer."""

    spec = ToolSpec(
        "generate_image",
        "Draw a picture for the user (it costs them money: only when they want one).",
        {
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "description": "What to draw, in detail"},
                "aspect_ratio": {
                    "type": "string",
                    "enum": list(ASPECTS),
                },
            },
            "required": ["prompt"],
        },
    )

    def __init__(self, images: Images) -> None:
        self._images = images

    def status(self, call: ToolCall) -> str:
        """What the user sees while it draws."""
        return f"🎨 drawing: {_shown(call, 'prompt')}"

    def _options(self, call: ToolCall) -> dict[str, Any]:
        aspect = (call.arguments or {}).get("aspect_ratio")
        return {"aspect": aspect} if aspect in ASPECTS and aspect != "1:1" else {}

    async def price(self, call: ToolCall, context: ToolContext) -> int:
        """/imagine's price for this picture."""
        _, price = await self._images.priced_request(
            context.message, _text_argument(call, "prompt"), self._options(call)
        )
        return price

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Draw it and pay for it; the picture goes out with the answer."""
        files, notices, charge = await self._images.draw(
            context.message, _text_argument(call, "prompt"), self._options(call)
        )
        said = " ".join(n.text for n in notices)
        return ToolResult(
            "The picture is drawn and will be shown to the user with your answer (do not invent a "
            f"link to it).{' ' + said if said else ''}",
            attachments=files,
            charges=(charge,),
        )


class _Paid(_Builtin):
    """A tool with a fixed price per call, paid through the cashier."""

    feature = ""

    def __init__(self, venice: VeniceClient, cashier: Cashier, prices: Prices) -> None:
        self._venice = venice
        self._cashier = cashier
        self._prices = prices

    def _price(self) -> int:
        raise NotImplementedError

    async def price(self, call: ToolCall, context: ToolContext) -> int:
        """The fixed price of one call."""
        return self._price()

    async def _paid(self, context: ToolContext, work: Any) -> tuple[Any, Charge]:
        async with self._cashier.paying(
            context.message, self._price(), feature=self.feature, model_id=self.feature, answers=False
        ) as held:
            result = await work()
        charged = await self._cashier.settle(held, self._price())
        return result, Charge.of(held, charged)


class WebSearch(_Paid):
    """``web_search``: Venice's /augment/search, numbered results with their addresses."""

    feature = "search"
    spec = ToolSpec(
        "web_search",
        "Search the web; cite the addresses you use.",
        _one_text("query"),
    )

    def _price(self) -> int:
        return self._prices.web_search()

    def status(self, call: ToolCall) -> str:
        """What the user sees while it searches."""
        return f"🔎 searching: {_shown(call, 'query')}"

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Search and list what came back."""
        query = _text_argument(call, "query")
        results, charge = await self._paid(
            context, lambda: self._venice.web_search(query, limit=SEARCH_RESULTS)
        )
        if not results:
            return ToolResult(f"No results for {query!r}.", charges=(charge,))
        lines = [
            f"[{number}] {r.title}\n{r.url}{' (' + r.date + ')' if r.date else ''}\n{clip(r.content, 600, one_line=True)}"
            for number, r in enumerate(results, start=1)
        ]
        return ToolResult("\n\n".join(lines), charges=(charge,))


class ReadUrl(_Paid):
    """``read_url``: a public page read by Venice's /augment/scrape (the bot never fetches it)."""

    feature = "scrape"
    spec = ToolSpec(
        "read_url",
        "Read a public web page's text.",
        _one_text("url"),
    )

    def _price(self) -> int:
        return self._prices.scrape()

    def status(self, call: ToolCall) -> str:
        """What the user sees while the page is read."""
        return f"📄 reading: {_shown(call, 'url')}"

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Read the page, refusing private addresses before anything is paid."""
        url = public_url(_text_argument(call, "url"))
        page, charge = await self._paid(context, lambda: self._venice.scrape(url))
        text = page.content if len(page.content) <= PAGE_CHARS else page.content[:PAGE_CHARS] + "\n[… cut]"
        return ToolResult(f"{page.url}\n\n{text}", charges=(charge,))


class Speak(_Builtin):
    """``speak``: this turn's answer goes out as a voice note too (priced as /speak)."""

    spec = ToolSpec(
        "speak",
        "Also send your answer as a voice note (when the user wants it spoken).",
    )

    def status(self, call: ToolCall) -> str:
        """What the user sees."""
        return "🎙️ answering aloud"

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Mark the turn's answer to be spoken; the voice is paid when it is made."""
        context.wants_voice = True
        return ToolResult("Your answer will also be sent as a voice note. Write it to be read aloud.")


class RecallTool(_Builtin):
    """``recall``: search this conversation's long-term memory (what left the recent window)."""

    spec = ToolSpec(
        "recall",
        "Search this conversation's older messages (out of view) for a topic.",
        _one_text("query"),
    )

    def __init__(self, recall: Recall, cashier: Cashier, prices: Prices) -> None:
        self._recall = recall
        self._cashier = cashier
        self._prices = prices

    def status(self, call: ToolCall) -> str:
        """What the user sees while memory is searched."""
        return f"🧠 remembering: {_shown(call, 'query')}"

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """The passages most like the query, from this conversation only; the query's embedding
        is charged as memory."""
        query = _text_argument(call, "query")
        if context.conversation is None or not context.chat.recall or not self._recall.enabled:
            return ToolResult("Long-term memory is off in this chat: there is nothing to search.")
        found = await self._recall.search(context.conversation, query, messages_before=1 << 62, before=None)
        if found.spent.model is not None and found.spent.tokens:
            cost = self._prices.embedding_cost(found.spent.model, found.spent.tokens)
            await self._cashier.charge_after(context.message, cost, feature="memory")
        if not found.items:
            return ToolResult(f"Nothing in this conversation's memory matches {query!r}.")
        return ToolResult("\n".join(found.lines()))


class CurrentTime(_Builtin):
    """``current_time``: the date and time in the chat's time zone (/timezone)."""

    spec = ToolSpec("current_time", "The date and time in this chat's time zone.")

    def __init__(self, clock: Any) -> None:
        self._clock = clock

    def status(self, call: ToolCall) -> str:
        """What the user sees."""
        return "🕒 checking the time"

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Now, in the chat's zone (UTC when it set none)."""
        name = context.chat.timezone or "UTC"
        try:
            zone: Any = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone, name = UTC, "UTC"
        now = datetime.fromtimestamp(self._clock(), zone)
        offset = now.strftime("%z")
        return ToolResult(f"{now:%A %Y-%m-%d %H:%M} in {name} (UTC{offset[:3]}:{offset[3:]})")


class MakeMusic(_Builtin):
    """``make_music``: /music's quote, with its Make it button under the answer (nothing is made
    or paid before the user presses it)."""

    spec = ToolSpec(
        "make_music",
        "Offer the user a song or sound effect: they see its price and a button to make it.",
        {
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "description": "Style, mood, instruments"},
                "duration": {"type": "integer", "description": "Seconds"},
                "instrumental": {"type": "boolean"},
            },
            "required": ["prompt"],
        },
    )

    def __init__(self, music: MusicJobs) -> None:
        self._music = music

    def status(self, call: ToolCall) -> str:
        """What the user sees while the track is priced."""
        return f"🎵 pricing a track: {_shown(call, 'prompt')}"

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Quote it; the buttons go under the answer."""
        arguments = call.arguments or {}
        options: dict[str, Any] = {}
        if isinstance(arguments.get("duration"), int):
            options["duration"] = arguments["duration"]
        if isinstance(arguments.get("instrumental"), bool):
            options["instrumental"] = "on" if arguments["instrumental"] else "off"
        quote = await self._music.quote(context.message, _text_argument(call, "prompt"), options)
        return ToolResult(
            f"{quote.text}\nThe user sees this price with a Make it button under your answer; tell "
            "them to press it if they want the track. Nothing is made or charged before that.",
            choices=quote.choices,
        )


class Builtins:
    """The built-in tools, as one source."""

    def __init__(self, tools: list[Tool]) -> None:
        self._tools = tools

    def tools(self) -> list[Tool]:
        """Every built-in tool."""
        return list(self._tools)
