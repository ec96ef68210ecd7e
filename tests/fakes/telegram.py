"""A fake Telegram Bot API server over real HTTP on 127.0.0.1, for driving the real python-telegram-bot.

    async with FakeTelegram() as tg:
        builder = ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url)
        ...
        tg.push_message("/start", chat_id=42)            # a user writes; served by getUpdates
        await tg.wait_for_call("sendMessage", chat_id=42)
        assert tg.visible(42)[-1]["text"] == "Hello!"    # what the user sees now

What it does, by module:
  telegram.py          the HTTP server, the request pipeline, recorded calls, scripted failures, waiting.
  telegram_state.py    chats, users, messages, drafts, files, and the test API (push_message, visible, ...).
  telegram_methods.py  the Bot API methods and their answers.
  telegram_api.py      Telegram's rules: parameter decoding, text/markup/command validation, error texts.
  telegram_html.py     HTML parse_mode as tdlib parses it (strict about unescaped "&" and ">" by default).
  telegram_updates.py  pending updates: offsets, long polling, and replays (the same update twice).

The fake rejects what Telegram rejects, with Telegram's words: bad HTML, texts over 4096 UTF-16 units
after parsing, unchanged edits, callback_data over 64 bytes, invalid commands, unknown chats.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.local_server import Hold, Holds, serve_aiohttp
from tests.fakes.telegram_api import TgError, bad_request, decode_param
from tests.fakes.telegram_methods import TelegramBotApi
from tests.fakes.telegram_state import DEFAULT_USER_ID

__all__ = ["DEFAULT_USER_ID", "REGISTERED_SECRET", "FakeTelegram", "TgCall"]

DEFAULT_TOKEN = "123456:TEST-token-abcdef"
MAX_UPLOAD = 50 * 1024 * 1024  # the Bot API's limit for files bots send
_API_PATH = re.compile(r"/bot([^/]*)/([^/]*)/?")
_FILE_PATH = re.compile(r"/file/bot([^/]*)/(.+)")


class _Secret(enum.Enum):
    REGISTERED = "the secret_token registered with setWebhook"


REGISTERED_SECRET = _Secret.REGISTERED


@dataclass
class TgCall:
    """One Bot API request the fake received, with its parameters decoded."""

    method: str  # canonical spelling ("sendMessage") even if sent as "sendmessage"
    params: dict[str, Any]  # ints, bools and JSON decoded; uploads as {"filename", "content_type", "data"}
    time: float  # time.monotonic() on arrival
    status: int | None = None  # the HTTP status answered; None while pending or if the client went away
    response: dict[str, Any] | None = None  # the JSON body answered


@dataclass
class _Failure:
    method: str
    error: TgError
    remaining: int
    chat_id: int | None


class FakeTelegram(TelegramBotApi):
    """A fake Telegram Bot API: real HTTP, recorded calls, Telegram's validation, updates by polling or webhook."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "venice_test_bot",
        bot_first_name: str = "Venice Test Bot",
    ) -> None:
        """Create the fake; the bot's id is the part of ``token`` before the colon, as on Telegram."""
        super().__init__(
            bot_id=int(token.split(":", 1)[0]), bot_username=bot_username, bot_first_name=bot_first_name
        )
        self.token = token
        self.calls: list[TgCall] = []
        self.delay: float = 0.0  # seconds to wait before answering any method except getUpdates
        self.webhook_deliveries: list[
            tuple[dict[str, Any], int]
        ] = []  # (update, HTTP status) per deliver_webhook
        self._failures: list[_Failure] = []
        self._holds = Holds(lambda method, called: method.lower() == called.lower())
        self._blocked: set[int] = set()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._canonical = {name.lower(): name for name in self._methods}

    # ---- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Return the TCP port the OS picked (0 before start)."""
        return self._port

    @property
    def base_url(self) -> str:
        """Return the value for ``ApplicationBuilder().base_url()``: PTB appends the token, then /method."""
        return f"http://127.0.0.1:{self._port}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the value for ``ApplicationBuilder().base_file_url()``."""
        return f"http://127.0.0.1:{self._port}/file/bot"

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving on 127.0.0.1 (a port the OS picks) in this event loop."""
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._endpoint)
        self._runner, self._port = await serve_aiohttp(app)

    async def stop(self) -> None:
        """Answer waiting long polls and stop serving."""
        self._updates.close()
        self._holds.release_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- test API: calls, failures -----------------------------------------------------------------

    def calls_to(self, method: str) -> list[TgCall]:
        """Return the recorded calls of ``method`` (any capitalisation), in arrival order."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def hold(self, method: str) -> Hold:
        """Keep the next call of ``method`` waiting, not done yet, until the test releases it
        (``hold.arrived`` is set when it comes): a moment to kill the bot in."""
        return self._holds.add(method)

    def fail(
        self,
        method: str,
        error_code: int = 400,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Fail the next ``times`` calls of ``method`` (to ``chat_id`` only, if given).

        With ``retry_after`` the answer is Telegram's flood-wait: 429 "Too Many Requests: retry after N" with
        ``parameters.retry_after`` (PTB raises RetryAfter). ``description`` defaults to a text for the code.
        """
        if retry_after is not None:
            error_code = 429
            description = description or f"Too Many Requests: retry after {retry_after}"
        defaults = {
            400: "Bad Request: scripted failure",
            403: "Forbidden: bot was blocked by the user",
            409: "Conflict: scripted failure",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }
        error = TgError(
            error_code, description or defaults.get(error_code, f"Error {error_code}"), retry_after
        )
        self._failures.append(_Failure(self._canonical.get(method.lower(), method), error, times, chat_id))

    def block(self, chat_id: int) -> None:
        """Answer every send, edit, draft and chat action to ``chat_id`` with 403, as when the user blocks the bot."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """Undo ``block``."""
        self._blocked.discard(chat_id)

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

    async def wait_for_call(
        self, method: str, count: int = 1, timeout: float = 5.0, **param_filters: Any
    ) -> list[TgCall]:
        """Wait for ``count`` calls of ``method`` whose params equal ``param_filters``; return those calls."""

        def matching() -> list[TgCall]:
            return [
                call
                for call in self.calls_to(method)
                if all(call.params.get(key) == value for key, value in param_filters.items())
            ]

        try:
            await self.wait_for(lambda: len(matching()) >= count, timeout)
        except AssertionError:
            wanted = ", ".join(f"{k}={v!r}" for k, v in param_filters.items())
            raise AssertionError(
                f"expected {count} call(s) of {method}({wanted}) within {timeout} s, got {len(matching())}; "
                f"last calls:\n{self.describe_calls()}"
            ) from None
        return matching()

    def describe_calls(self, last: int = 10) -> str:
        """Return the last ``last`` calls, one a line, for assertion messages."""
        lines = []
        for call in self.calls[-last:]:
            params = {
                k: ("<file>" if isinstance(v, dict) and "data" in v else v) for k, v in call.params.items()
            }
            outcome = (
                ""
                if call.response is None
                else (
                    "ok" if call.response.get("ok") else f"{call.status} {call.response.get('description')}"
                )
            )
            lines.append(f"  {call.method} {params} -> {outcome or 'pending'}")
        return "\n".join(lines) or "  (none)"

    # ---- test API: webhooks ----------------------------------------------------------------------

    async def deliver_webhook(
        self, update: dict[str, Any], *, secret: str | _Secret | None = REGISTERED_SECRET
    ) -> int:
        """POST ``update`` to the webhook set with setWebhook, as Telegram does; return the HTTP status.

        The X-Telegram-Bot-Api-Secret-Token header carries the registered secret by default, ``secret`` if
        given a string, and is left out with ``secret=None``.
        """
        if not self.webhook_url:
            raise AssertionError(
                f"no webhook is set (call setWebhook first); last calls:\n{self.describe_calls()}"
            )
        headers = {"Content-Type": "application/json"}  # PTB's webhook answers 403 to anything else
        token = self.webhook_secret if secret is REGISTERED_SECRET else secret
        if isinstance(token, str):
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        # force_close: no keep-alive connection left behind for PTB's webhook server to wait on at shutdown.
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(self.webhook_url, data=json.dumps(update).encode(), headers=headers) as response,
        ):
            await response.read()
            status = response.status
        self.webhook_deliveries.append((copy.deepcopy(update), status))
        return status

    # ---- request pipeline --------------------------------------------------------------------------

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        file_match = _FILE_PATH.fullmatch(request.path)
        if file_match is not None and request.method in ("GET", "HEAD"):
            return self._download(*file_match.groups())
        api_match = _API_PATH.fullmatch(request.path)
        if api_match is None:
            return _answer(TgError(404, "Not Found").body(), 404)
        token, name = api_match.groups()
        method = self._canonical.get(name.lower(), name)
        call = TgCall(method, {}, time.monotonic())
        self.calls.append(call)
        try:
            call.params = await _read_params(request)
            result = await self._dispatch(token, method, call.params)
            body, status = {"ok": True, "result": result}, 200
        except TgError as exc:
            body, status = exc.body(), exc.error_code
        call.status, call.response = status, body
        return _answer(body, status)

    async def _dispatch(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if token != self.token:
            raise TgError(401, "Unauthorized")
        handler = self._methods.get(method)
        if handler is None:
            raise TgError(404, "Not Found")
        if self.delay > 0 and method != "getUpdates":  # a delayed long poll would only slow every test down
            await asyncio.sleep(self.delay)
        await self._holds.wait(method)
        self._take_failure(method, params)
        if method in self._blockable and params.get("chat_id") in self._blocked:
            raise TgError(403, self._blocked_description(params["chat_id"]))
        result = handler(params)
        return await result if isinstance(result, Awaitable) else result

    def _take_failure(self, method: str, params: dict[str, Any]) -> None:
        for failure in self._failures:
            if failure.method == method and failure.chat_id in (None, params.get("chat_id")):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                raise failure.error

    def _blocked_description(self, chat_id: int) -> str:
        kind = self.chats.get(chat_id, {}).get("type", "private")
        if kind == "private":
            return "Forbidden: bot was blocked by the user"
        return f"Forbidden: bot was kicked from the {kind} chat"

    def _download(self, token: str, file_path: str) -> web.Response:
        file_id = self._file_by_path(file_path) if token == self.token else None
        if file_id is None or file_id not in self.files:
            return _answer(TgError(404, "Not Found").body(), 404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")


def _answer(body: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
    )


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Return the request's parameters from the query, a form, a multipart body or JSON, decoded."""
    raw: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if isinstance(body, dict):
            raw.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                raw[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read(),
                }
            else:
                raw[key] = value
    return {key: decode_param(key, value) for key, value in raw.items()}
