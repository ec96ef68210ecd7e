"""One MCP server: connected in the background, its tools offered while it is up.

Each server has a task that owns its connection (the SDK's ``Client`` is entered and left in
one task, as its cancel scopes require): connect with a deadline, list the tools, wait until
the connection is lost or the bot stops, and after a failure try again every ``retry_seconds``.
Turns call its tools from their own tasks through the same client. Nothing here raises to a
turn or blocks the bot's start: a server that is down offers no tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from adapters.mcp.config import CALL_SECONDS, CONNECT_SECONDS, RETRY_SECONDS, ServerConfig
from adapters.mcp.tools import McpTool, tool_name, tool_result, why_unnamed
from core.tools.base import Tool, ToolResult
from core.version import version

log = logging.getLogger(__name__)

LIST_PAGES = 20  # a server whose listing never ends is cut there
STDERR_LINES = 5  # the last lines of a stdio server's stderr, to say why it stopped
STOP_SECONDS = 10.0  # the SDK's own shutdown of a child process is bounded at about 6 s

State = Literal["connecting", "connected", "failed", "disabled"]


@dataclass(frozen=True)
class Health:
    """How a server is now, for doctor and the log: its tools, or why it has none."""

    state: State
    reason: str = ""  # why it failed
    offered: tuple[str, ...] = ()  # the tools' names as the model sees them
    skipped: tuple[str, ...] = ()  # tools that cannot be offered, each with why
    missing: tuple[str, ...] = ()  # allow-listed names the server does not have


class McpServer:
    """A configured MCP server as a ``ToolSource``: its allowed tools while it is connected."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        connect_seconds: float = CONNECT_SECONDS,
        call_seconds: float = CALL_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        errlog: TextIO | None = None,
    ) -> None:
        self.config = config
        self._connect_seconds = connect_seconds
        self._call_seconds = call_seconds
        self._retry_seconds = retry_seconds
        self._errlog = errlog  # None: the child's stderr comes to the log (DEBUG), line by line
        self._secrets = config.secrets()
        self._client: Client | None = None
        self._tools: list[Tool] = []
        self.health = Health("disabled" if config.disabled else "connecting")
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._refused: int | None = None  # an HTTP server's last error status
        self._lost = asyncio.Event()  # the connection is gone (or the bot stops): leave it
        self._stop = asyncio.Event()
        self._stopping = False
        self._scope: anyio.CancelScope | None = None
        self._task: asyncio.Task[None] | None = None
        self.tried = asyncio.Event()  # the first attempt is over, either way
        self._last_failure = ""

    # ----- ToolSource

    def tools(self) -> list[Tool]:
        """The server's allowed tools while it is connected; none while it is down."""
        return list(self._tools) if self._client is not None else []

    # ----- lifetime

    def start(self) -> None:
        """Connect in the background, and keep connecting after a failure."""
        if self.config.disabled:
            self.tried.set()
            return
        self._task = asyncio.create_task(self._supervise(), name=f"mcp:{self.config.name}")

    async def aclose(self) -> None:
        """Close the session and end the child process (waits for it)."""
        self._stopping = True
        self._stop.set()
        self._lost.set()
        if self._scope is not None and self._client is None:
            self._scope.cancel()  # still connecting: stop waiting for it
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _supervise(self) -> None:
        at_once = False  # the last attempt was the one made at once after a loss
        while not self._stopping:
            self._lost.clear()
            was_up = False
            try:
                was_up = await self._attempt()
            except Exception as exc:  # noqa: BLE001 - whatever a server does, the bot goes on
                self._failed(self._describe(exc))
            finally:
                self._client, self._tools, self._scope = None, [], None
                self.tried.set()
            # Lost after it worked: try again at once (a restarted server is back), but only
            # once in a row, so that a server that drops at every start is not restarted in a loop.
            at_once = was_up and not at_once and not self._stopping
            if at_once:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._retry_seconds)

    async def _attempt(self) -> bool:
        """Connect and stay connected until lost or stopped; return whether it was connected."""
        with anyio.CancelScope(deadline=anyio.current_time() + self._connect_seconds) as scope:
            self._scope = scope
            async with contextlib.AsyncExitStack() as stack:
                client = await self._connect(stack)
                listing = await self._list(client)
                scope.deadline = math.inf  # connected: from now on only a loss or the stop ends it
                self._connected(client, listing)
                await self._lost.wait()
            if not self._stopping:
                self._failed(self.health.reason or "the connection was lost")
            return True
        if scope.cancelled_caught and not self._stopping:
            self._failed(f"no answer within {self._connect_seconds:g} s")
        return False

    async def _connect(self, stack: contextlib.AsyncExitStack) -> Client:
        info = types.Implementation(name="venice-bots", version=version())
        if self.config.command is None:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=dict(self.config.headers),
                    timeout=httpx2.Timeout(self._connect_seconds, read=max(self._call_seconds, 300.0)),
                    event_hooks={"response": [self._http_status]},
                )
            )
            self._refused = None
            transport = streamable_http_client(self.config.url or "", http_client=http)
            return await stack.enter_async_context(Client(transport, client_info=info))
        params = StdioServerParameters(
            command=self.config.command,
            args=list(self.config.args),
            env=dict(self.config.env),
            cwd=self.config.cwd,
        )
        self._stderr.clear()
        if self._errlog is not None:
            return await stack.enter_async_context(
                Client(stdio_client(params, self._errlog), client_info=info)
            )
        read_fd, write_fd = os.pipe()
        reader = asyncio.create_task(self._read_stderr(read_fd))
        stack.push_async_callback(self._stop_reading, reader)
        with os.fdopen(write_fd, "w") as errlog:  # closed once the child has its own copy
            return await stack.enter_async_context(Client(stdio_client(params, errlog), client_info=info))

    async def _http_status(self, response: httpx2.Response) -> None:
        # The SDK turns an HTTP error into "Server returned an error response": keep the status
        # to say which (a 401 is a wrong key in "headers", a 404 a wrong "url").
        if response.status_code >= 400:
            self._refused = response.status_code

    async def _list(self, client: Client) -> list[types.Tool]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    def _connected(self, client: Client, listing: Iterable[types.Tool]) -> None:
        allowed = self.config.tools
        offered: list[Tool] = []
        skipped: list[str] = []
        names: set[str] = set()
        listed = set()
        for tool in listing:
            listed.add(tool.name)
            if allowed is not None and tool.name not in allowed:
                continue  # never offered, not even by name
            name = tool_name(self.config.namespace, tool.name)
            if name is None or name in names:
                skipped.append(
                    why_unnamed(self.config.namespace, tool.name)
                    if name is None
                    else f"{tool.name} is listed twice"
                )
                continue
            names.add(name)
            offered.append(
                McpTool(self.config.name, tool, name, admins_only=self.config.admins_only, call=self._call)
            )
        missing = tuple(sorted((allowed or frozenset()) - listed))
        self._client, self._tools = client, offered
        self.health = Health(
            "connected",
            offered=tuple(t.spec.name for t in offered),
            skipped=tuple(skipped),
            missing=missing,
        )
        self._last_failure = ""
        self.tried.set()
        log.info(
            "MCP server %s connected (%s): %d tool(s) offered%s",
            self.config.name,
            self.config.where,
            len(offered),
            " for admins only" if self.config.admins_only else "",
        )
        for reason in skipped:
            log.warning("MCP server %s: a tool is skipped: %s", self.config.name, reason)
        if missing:
            log.warning(
                'MCP server %s does not offer %s, which its "tools" list names',
                self.config.name,
                ", ".join(missing),
            )

    def _failed(self, reason: str) -> None:
        self.health = Health("failed", reason=reason)
        # The first failure is a warning; the same one again, every retry, only for debugging.
        level = logging.DEBUG if reason == self._last_failure else logging.WARNING
        self._last_failure = reason
        log.log(
            level,
            "MCP server %s (%s) is not available: %s; its tools are left out, and it is tried again every %g s",
            self.config.name,
            self.config.where,
            reason,
            self._retry_seconds,
        )

    # ----- calls

    async def _call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        client = self._client
        if client is None:
            return ToolResult.error(f"the MCP server {self.config.name} is not connected right now.")
        try:
            with anyio.fail_after(self._call_seconds + 5):  # the SDK's own timeout, in case it hangs
                result = await client.call_tool(name, arguments, read_timeout_seconds=self._call_seconds)
        except MCPError as exc:
            # "Session terminated": an HTTP server that restarted forgot the session.
            if exc.code == types.CONNECTION_CLOSED or exc.message == "Session terminated":
                self._lose()
                return ToolResult.error(f"the MCP server {self.config.name} disconnected.")
            if exc.code == types.REQUEST_TIMEOUT:
                return ToolResult.error(f"{name} did not answer within {self._call_seconds:g} s.")
            return ToolResult.error(f"{name} failed: {self._mask(exc.message)}")
        except TimeoutError:
            return ToolResult.error(f"{name} did not answer within {self._call_seconds:g} s.")
        except Exception as exc:  # noqa: BLE001 - a transport failure is the model's to hear, not a traceback
            log.warning("MCP server %s: calling %s failed: %s", self.config.name, name, self._describe(exc))
            self._lose()
            return ToolResult.error(f"the MCP server {self.config.name} could not be reached.")
        return tool_result(result)

    def _lose(self) -> None:
        if self._client is not None:
            self._client, self._tools = None, []
            self.health = Health("failed", reason="the connection was lost")
            self._lost.set()

    # ----- a stdio server's stderr

    async def _read_stderr(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0)
        )
        try:
            buffer = b""
            while chunk := await reader.read(4096):
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    self._stderr_line(line)
                if len(buffer) > 4096:
                    self._stderr_line(buffer)
                    buffer = b""
            self._stderr_line(buffer)
        finally:
            transport.close()

    def _stderr_line(self, raw: bytes) -> None:
        line = self._mask(raw.decode("utf-8", "replace").strip())[:300]
        if line:
            self._stderr.append(line)
            log.debug("MCP server %s says: %s", self.config.name, line)

    async def _stop_reading(self, reader: asyncio.Task[None]) -> None:
        # The process is gone by now, so its stderr ends; a grandchild that kept it open does not wait us.
        try:
            await asyncio.wait_for(asyncio.shield(reader), 2.0)
        except TimeoutError:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    # ----- saying what went wrong, without secrets

    def _describe(self, exc: BaseException) -> str:
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, FileNotFoundError) and self.config.command is not None:
            return f"cannot start {self.config.command}: no such program (is it installed, and on PATH?)"
        if isinstance(exc, PermissionError) and self.config.command is not None:
            return f"cannot start {self.config.command}: permission denied"
        if isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED:
            said = f" (its last words: {self._stderr[-1]})" if self._stderr else ""
            return f"the server closed the connection while starting{said}"
        if isinstance(exc, MCPError) and self._refused is not None:
            hint = {401: ': check its "headers" (a key?)', 403: ': check its "headers" (a key?)'}
            hint |= {404: ': check its "url" (the MCP endpoint, often ending in /mcp)'}
            return f"{self.config.where} answered HTTP {self._refused}{hint.get(self._refused, '')}"
        if isinstance(exc, httpx2.TransportError):
            return f"cannot reach {self.config.where} ({type(exc).__name__}: {self._mask(str(exc)) or 'no detail'})"
        text = self._mask(str(exc))
        return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__

    def _mask(self, text: str) -> str:
        if self.config.url:
            text = text.replace(self.config.url, self.config.where)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
