"""A fake Discord (REST API and gateway) over real HTTP and websockets on 127.0.0.1, for driving the real discord.py.

    async with FakeDiscord() as dc, dc.patch_discord():   # discord.py's Route.BASE and DEFAULT_GATEWAY point here
        guild = dc.add_guild("Venice")
        general = dc.add_channel(guild, "general")
        alice = dc.add_user("Alice")
        dc.add_member(guild, alice)
        client = discord.Client(intents=intents, guild_ready_timeout=0.1)
        await client.login(dc.token)
        task = asyncio.create_task(client.connect(reconnect=False))
        await dc.wait_until_ready()
        dc.send_message(general, alice, f"<@{dc.bot_id}> hi")   # MESSAGE_CREATE over the gateway
        await dc.wait_for(lambda: len(dc.messages(general)) == 2)   # what users see, after edits
        await client.close()
        await task

What it does, by module:
  discord.py          the server: the REST pipeline, recorded calls, scripted failures and 429s, the CDN, waiting.
  discord_rest.py     the REST routes: users, application, gateway info, commands, channels, messages, threads;
                      add_thread (a thread a user started).
  discord_interactions.py  interaction callbacks and the interaction webhook (@original, followups).
  discord_webhooks.py channel webhooks: list, create, delete; messages posted and edited through them under any
                      name and avatar; add_webhook, webhooks_of, remove_webhook, avatar_url_of.
  discord_events.py   what users do: send_message, send_voice_message, send_slash, send_context_menu,
                      send_autocomplete, send_component, submit_modal.
  discord_gateway.py  the websocket: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME, intents, shards.
  discord_state.py    users, guilds, roles, channels, permissions (deny, allow), messages, interactions; messages(),
                      edits_of().
  discord_api.py      Discord's rules: permission and intent bits, error bodies, message, embed and command limits.

The fake answers as Discord does, in Discord's words: Invalid Form Body (50035) for content over 2000 characters
or embeds over their limits, 50006 for an empty message, 50013 Missing Permissions where the bot may not post,
40060 for a second interaction callback, 10062 for a callback after ``interaction_timeout`` (3 s), 429s with the
headers discord.py needs (``Via`` included: without it discord.py takes a 429 for a Cloudflare ban), 413 (40005)
for a file over ``attachment_size_limit``, and 50159-50162 for a voice message (flags 8192) that has text, is not
one audio file, lacks ``duration_secs``/``waveform``, or is edited; ``refuse_voice_messages`` answers 400 (50173).
Webhooks need Manage Webhooks, which @everyone lacks: ``allow(channel, Perm.MANAGE_WEBHOOKS)`` grants it to the bot.

Discord's habits it keeps, which a bot must cope with:
  - the bot gets MESSAGE_CREATE/UPDATE for its own messages too (and for non-ephemeral interaction responses);
  - without the MESSAGE_CONTENT intent a guild message arrives blank unless it mentions the bot (DMs keep theirs);
  - without the GUILD_MEMBERS intent GUILD_CREATE lists only the bot's own member;
  - the first followup after a deferred (type 5) response replaces the "thinking" message: it becomes
    ``interaction(id).original``, not a followup, and keeps the defer's ephemerality;
  - the bot user's id is the application id; a thread started from a message takes the message's id.
"""

from __future__ import annotations

import asyncio
import http
import json
import math
import re
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, web

from tests.fakes.discord_api import DcError, Intent, Perm
from tests.fakes.discord_rest import NO_CONTENT, RestRequest
from tests.fakes.discord_state import SEND_DENIED, DcInteraction
from tests.fakes.discord_webhooks import DiscordWebhookRoutes
from tests.fakes.local_server import serve_aiohttp

__all__ = [
    "DEFAULT_TOKEN",
    "SEND_DENIED",
    "DcCall",
    "DcInteraction",
    "DiscordPatch",
    "FakeDiscord",
    "Intent",
    "Perm",
]

DEFAULT_TOKEN = "fake-discord-token.abc.def"
API_PREFIX = "/api/v10"
MAX_BODY = 64 * 1024 * 1024
# Answers need "Authorization: Bot <token>" except on routes whose token is in the path (webhooks, interactions).
_PATH_TOKEN = "{token}"


@dataclass
class DcCall:
    """One REST request the fake received, decoded."""

    method: str
    path: str  # after /api/v10, e.g. "/channels/123/messages"
    json: Any  # the JSON body, or a multipart body's payload_json; None without a body
    files: list[dict[str, Any]]  # uploads: {"field": "files[0]", "filename", "content_type", "data"}
    time: float  # time.monotonic() on arrival
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # the HTTP status answered; None while pending
    response: Any = None  # the body answered


@dataclass
class _Scripted:
    method: str  # "*" for any
    pattern: re.Pattern[str]
    remaining: int
    make: Callable[[str, str], DcError]  # (method, route template) -> the error to answer


class FakeDiscord(DiscordWebhookRoutes):
    """A fake Discord: REST and gateway on one port, recorded calls, Discord's validation and rate limits."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, bot_name: str = "venice-test") -> None:
        """Create the fake: one bot application, no guilds yet."""
        super().__init__(token=token, bot_name=bot_name)
        self.calls: list[DcCall] = []
        self.unknown_routes: list[str] = []  # "METHOD /path" of requests to routes the fake does not know
        self.delay: float = 0.0  # seconds to wait before answering each REST request
        self._scripted: list[_Scripted] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ---- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Return the TCP port the OS picked (0 before start)."""
        return self._port

    @property
    def api_base(self) -> str:
        """Return the value for ``discord.http.Route.BASE``."""
        return f"{self._origin}{API_PREFIX}"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving on 127.0.0.1 (a port the OS picks) in this event loop."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api)
        app.router.add_route("*", "/{tail:.*}", self._outside_api)
        self._runner, self._port = await serve_aiohttp(app)
        self._origin = f"http://127.0.0.1:{self._port}"

    async def stop(self) -> None:
        """Close the gateway sockets (1001) and stop serving."""
        await self._close_gateway()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def patch_discord(self) -> DiscordPatch:
        """Return a context manager (``with`` or ``async with``) pointing discord.py at this fake; it restores on exit.

        It sets ``discord.http.Route.BASE`` and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``: class
        attributes, so the patch is process-wide while the block runs.
        """
        return DiscordPatch(self.api_base, self.gateway_url)

    # ---- test API: calls, failures, waiting --------------------------------------------------------

    def calls_to(self, method: str, path_regex: str) -> list[DcCall]:
        """Return the recorded calls of ``method`` ("*" for any) whose path fully matches ``path_regex``."""
        pattern = re.compile(path_regex)
        return [c for c in self.calls if method in ("*", c.method) and pattern.fullmatch(c.path)]

    def rate_limit(self, path_regex: str, retry_after: float, times: int = 1, global_: bool = False) -> None:
        """Answer the next ``times`` requests whose path fully matches ``path_regex`` with a 429.

        The body and headers are Discord's (``retry_after``, ``global``, ``Retry-After``, ``X-RateLimit-*``,
        ``Via``): discord.py sleeps ``retry_after`` seconds and retries by itself, so keep it small (0.2).
        """

        def make(method: str, template: str) -> DcError:
            headers = {
                "Retry-After": str(max(1, math.ceil(retry_after))),
                "X-RateLimit-Scope": "global" if global_ else "user",
            }
            if global_:
                headers["X-RateLimit-Global"] = "true"
            else:
                headers.update(_bucket_headers(method, template, remaining=0, reset_after=retry_after))
            body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_}
            return DcError(429, body, headers)

        self._scripted.append(_Scripted("*", re.compile(path_regex), times, make))

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: dict[str, Any] | str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` ``method`` ("*": any) requests matching ``path_regex`` with ``status``.

        ``body`` defaults to Discord's for the status (403: Missing Permissions). A string body goes out as text,
        like a proxy's error page. discord.py retries 500, 502, 504 and 524 by itself after 1 + 2n seconds.
        """
        if body is None:
            body = (
                {"message": "Missing Permissions", "code": 50013}
                if status == 403
                else {"message": f"{status}: {http.HTTPStatus(status).phrase}", "code": 0}
            )
        answer = body
        self._scripted.append(
            _Scripted(method.upper(), re.compile(path_regex), times, lambda m, t: DcError(status, answer))
        )

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true; raise AssertionError listing the last calls after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(
                    f"condition not met within {timeout} s; last calls:\n{self.describe_calls()}"
                )
            await asyncio.sleep(0.005)

    def describe_calls(self, last: int = 10) -> str:
        """Return the last ``last`` calls, one a line, for assertion messages."""
        lines = []
        for call in self.calls[-last:]:
            body = json.dumps(call.json)[:120] if call.json is not None else ""
            files = f" +{len(call.files)} file(s)" if call.files else ""
            outcome = "pending" if call.status is None else str(call.status)
            if isinstance(call.response, dict) and call.status and call.status >= 400:
                outcome += f" {call.response.get('message')} ({call.response.get('code')})"
            lines.append(f"  {call.method} {call.path} {body}{files} -> {outcome}")
        return "\n".join(lines) or "  (none)"

    # ---- request pipeline --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        call = DcCall(request.method, path, None, [], time.monotonic(), dict(request.query))
        self.calls.append(call)
        headers = {"Via": "1.1 google"}  # discord.py treats a 429 without Via as a Cloudflare ban
        try:
            call.json, call.files = await _read_body(request)
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            found = self.route(request.method, path)
            if found is None:
                self.unknown_routes.append(f"{request.method} {path}")
                raise DcError.coded(404, 0, "404: Not Found")
            if found is False:
                raise DcError.coded(405, 0, "405: Method Not Allowed")
            handler, params, template = found  # type: ignore[misc]
            if (
                _PATH_TOKEN not in template
                and template != "/gateway"
                and (request.headers.get("Authorization") != f"Bot {self.token}")
            ):
                raise DcError.coded(401, 0, "401: Unauthorized")
            self._take_scripted(request.method, path, template)
            result = handler(
                RestRequest(request.method, path, params, call.query, call.json, call.files, call.time)
            )
            status, body = (204, None) if result is NO_CONTENT else (200, result)
            headers.update(_bucket_headers(request.method, template, remaining=49, reset_after=1.0))
        except DcError as exc:
            status, body = exc.status, exc.body
            headers.update(exc.headers)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake: 400, as discord.py retries a 500 for 25 s
            self.errors.append(f"{request.method} {path}: {traceback.format_exc()}")
            status, body = 400, {"message": f"fake Discord failed: {exc!r}", "code": -1}
        call.status, call.response = status, body
        return _answer(status, body, headers)

    def _take_scripted(self, method: str, path: str, template: str) -> None:
        for scripted in self._scripted:
            if scripted.method in ("*", method) and scripted.pattern.fullmatch(path):
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    self._scripted.remove(scripted)
                raise scripted.make(method, template)

    async def _outside_api(self, request: web.Request) -> web.Response:
        self.unknown_routes.append(f"{request.method} {request.path}")
        return _answer(404, {"message": "404: Not Found", "code": 0}, {"Via": "1.1 google"})

    async def _cdn(self, request: web.Request) -> web.Response:
        try:
            attachment_id = int(request.match_info["attachment_id"])
            data, content_type = self.files[attachment_id]
        except (KeyError, ValueError):
            return web.Response(status=404, text="This content is no longer available.")
        self.downloads.append(attachment_id)
        return web.Response(body=data, headers={"Content-Type": content_type})


class DiscordPatch:
    """Point discord.py's REST base and default gateway at a fake while the block runs, then restore them."""

    def __init__(self, api_base: str, gateway_url: str) -> None:
        """Remember where to point; nothing changes before the block starts."""
        self._targets = api_base, gateway_url
        self._saved: list[tuple[str, Any]] = []

    def __enter__(self) -> None:
        import discord.gateway
        import discord.http
        import yarl

        route, websocket = discord.http.Route, discord.gateway.DiscordWebSocket
        self._saved.append((route.BASE, websocket.DEFAULT_GATEWAY))
        route.BASE = self._targets[0]
        websocket.DEFAULT_GATEWAY = yarl.URL(self._targets[1])

    def __exit__(self, *exc_info: object) -> None:
        import discord.gateway
        import discord.http

        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved.pop()

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)


def _bucket_headers(method: str, template: str, *, remaining: int, reset_after: float) -> dict[str, str]:
    # A bucket that never runs out on success (Limit 50): discord.py would otherwise sleep before requests.
    return {
        "X-RateLimit-Bucket": f"{zlib.crc32(f'{method} {template}'.encode()):08x}",
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
    }


def _answer(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    # Exactly "application/json": discord.py parses JSON only then (aiohttp's json_response adds a charset).
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"}
    )


async def _read_body(request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
    """Return the JSON body (or multipart payload_json) and the uploaded files."""
    if not request.can_read_body:
        return None, []
    if request.content_type == "multipart/form-data":
        payload: Any = None
        files: list[dict[str, Any]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                payload = _json(await part.text())
            elif part.filename is not None:
                files.append(
                    {
                        "field": part.name,
                        "filename": part.filename,
                        "content_type": part.headers.get("Content-Type"),
                        "data": await part.read(decode=True),
                    }
                )
        return payload, files
    raw = await request.read()
    if request.content_type == "application/json":
        return _json(raw.decode()), []
    return None, []


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        raise DcError.coded(400, 50109, "The request body contains invalid JSON.") from None
