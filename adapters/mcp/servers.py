"""Every MCP server of MCP_CONFIG, opened and closed together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TextIO

from adapters.mcp.config import CALL_SECONDS, CONNECT_SECONDS, RETRY_SECONDS, ServerConfig, load_config
from core.settings import Settings
from core.tools.base import ToolSource

if TYPE_CHECKING:
    from adapters.mcp.server import McpServer

# How long the bot's start waits for the servers' first connections: a server that takes longer
# (npx fetching a package) keeps connecting in the background, its tools offered once it is up.
START_WAIT_SECONDS = 10.0


class McpServers:
    """The configured MCP servers, each a ``ToolSource`` (a server that is down offers none)."""

    def __init__(
        self,
        configs: Sequence[ServerConfig],
        *,
        connect_seconds: float = CONNECT_SECONDS,
        call_seconds: float = CALL_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        errlog: TextIO | None = None,
    ) -> None:
        if configs:
            # The SDK takes a second or two to import: only a bot with MCP servers pays for it.
            from adapters.mcp.server import McpServer
        self.servers: list[McpServer] = [
            McpServer(
                config,
                connect_seconds=connect_seconds,
                call_seconds=call_seconds,
                retry_seconds=retry_seconds,
                errlog=errlog,
            )
            for config in configs
        ]

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        connect_seconds: float = CONNECT_SECONDS,
        call_seconds: float = CALL_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        errlog: TextIO | None = None,
        wait_seconds: float = START_WAIT_SECONDS,
    ) -> AsyncIterator[McpServers]:
        """Connect every server of MCP_CONFIG (none when it is unset), waiting at most
        ``wait_seconds`` for them (a slower one offers its tools once it is connected); close
        every session and child process on exit.

        Raises ``ConfigurationError`` for a file that cannot be used. ``errlog``: where the
        servers' stderr goes (None: the log, at DEBUG).
        """
        configs = load_config(settings.mcp_config) if settings.mcp_config else []
        servers = cls(
            configs,
            connect_seconds=connect_seconds,
            call_seconds=call_seconds,
            retry_seconds=retry_seconds,
            errlog=errlog,
        )
        try:
            await servers.start(wait_seconds)
            yield servers
        finally:
            await servers.aclose()

    def sources(self) -> list[ToolSource]:
        """Every server that is not disabled, to offer their tools next to the built-in ones."""
        return [server for server in self.servers if not server.config.disabled]

    async def start(self, wait_seconds: float = START_WAIT_SECONDS) -> None:
        """Connect every server at once; return when each has connected or failed once, or
        after ``wait_seconds`` (the bot does not wait longer for a slow server)."""
        for server in self.servers:
            server.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(server.tried.wait() for server in self.servers)), wait_seconds
            )

    async def aclose(self) -> None:
        """Close every session and end every child process."""
        await asyncio.gather(*(server.aclose() for server in self.servers))


def health_lines(servers: McpServers) -> list[tuple[str, str]]:
    """Doctor's lines, one a server: ``("ok", …)`` connected, ``("warn", …)`` down or disabled
    (the bot starts without it), each naming the server and never a secret."""
    lines = []
    for server in servers.servers:
        config, health = server.config, server.health
        who = f"MCP server {config.name} ({config.where})"
        if health.state == "disabled":
            lines.append(("info", f"{who}: disabled"))
        elif health.state != "connected":
            lines.append(("warn", f"{who}: failed: {health.reason}. The bot starts without it and retries."))
        else:
            access = ", for admins only" if config.admins_only else ""
            names = ", ".join(health.offered) or "none"
            lines.append(("ok", f"{who}: connected, {len(health.offered)} tool(s) offered{access}: {names}"))
            lines.extend(("warn", f"{who}: tool skipped: {reason}") for reason in health.skipped)
            if health.missing:
                lines.append(
                    ("warn", f'{who}: does not offer {", ".join(health.missing)} (named in its "tools")')
                )
    return lines
