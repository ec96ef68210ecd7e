"""A small MCP server written with the official SDK, for the MCP adapter's tests.

Run as a program it serves stdio (``python -m tests.fakes.mcp_server``), as a real child process
of the bot; ``http_app()`` serves the same tools over streamable HTTP on 127.0.0.1. Its tools:
``add``, ``echo``, ``secret_admin_tool``, ``env_value`` (reads an environment variable the
config passed), ``fail`` (raises), ``slow`` (sleeps past any short timeout), ``picture`` (an
image) and ``crash`` (the process exits mid-call).
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.utilities.types import Image
from starlette.applications import Starlette

# A 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def build() -> MCPServer:
    """The fake server with its tools."""
    server = MCPServer("fake-tools", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        return str(a + b)

    @server.tool()
    def echo(text: str) -> str:
        """Repeat the text."""
        return text

    @server.tool()
    def secret_admin_tool() -> str:
        """Something only the bot's admins may do."""
        return "the admins' secret"

    @server.tool()
    def env_value(name: str) -> str:
        """The value of an environment variable of the server's process."""
        return os.environ.get(name, "(unset)")

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ValueError("the fake tool failed on purpose")

    @server.tool()
    async def slow(seconds: float = 30.0) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "finally"

    @server.tool()
    def picture() -> Image:
        """A tiny picture."""
        return Image(data=PNG, format="png")

    @server.tool()
    def crash() -> str:
        """End the server's process without answering."""
        os._exit(3)

    return server


def http_app(server: MCPServer) -> Starlette:
    """The server over streamable HTTP (run ``server.session_manager.run()`` around serving it)."""
    return server.streamable_http_app(host="127.0.0.1")


if __name__ == "__main__":
    print("fake MCP server starting", file=sys.stderr, flush=True)
    build().run("stdio")
