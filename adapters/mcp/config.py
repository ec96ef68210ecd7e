"""The MCP_CONFIG file: the ``mcpServers`` JSON shape other MCP clients use, plus our own keys.

    {"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]},
        "search": {"url": "https://mcp.example.org/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"},
                   "tools": ["search"], "access": "admins"}}}

A file that cannot be used is a ``ConfigurationError`` naming the file and the problem (the bot
does not start); values never appear in a message, since env values and headers hold secrets.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from core.errors import ConfigurationError

# Keys a server may have: the common ones of the mcpServers shape, then ours.
SERVER_KEYS = ("command", "args", "env", "cwd", "url", "headers", "type", "tools", "access", "disabled")
HTTP_TYPES = ("http", "streamable-http", "streamable_http", "streamableHttp")
ACCESS = ("everyone", "admins")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Transport = Literal["stdio", "http"]

CONNECT_SECONDS = 30.0  # start (npx may fetch a package first), initialize and list the tools
CALL_SECONDS = 60.0
RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server as the operator configured it, with ``${VAR}`` already read."""

    name: str  # as written in the file
    namespace: str  # what prefixes its tools' names: the name in [A-Za-z0-9_-], no "__"
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None
    url: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    tools: frozenset[str] | None = None  # None: every tool the server offers
    admins_only: bool = False
    disabled: bool = False

    @property
    def transport(self) -> Transport:
        """How it is reached: a child process (stdio) or streamable HTTP."""
        return "stdio" if self.command is not None else "http"

    @property
    def where(self) -> str:
        """Where it runs, fit for a log line: the command's name, or the URL without its
        credentials, query or fragment (either may carry a key)."""
        if self.command is not None:
            return f"command {Path(self.command).name}"
        parts = urlsplit(self.url or "")
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    def secrets(self) -> list[str]:
        """Values that must never be shown (env values, headers), longest first, for masking."""
        values = {v for v in (*self.env.values(), *self.headers.values()) if len(v) >= 4}
        return sorted(values, key=len, reverse=True)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> list[ServerConfig]:
    """Read and check the MCP_CONFIG file; raise ``ConfigurationError`` saying what is wrong."""
    where = f"MCP_CONFIG file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist. Create it, or unset MCP_CONFIG.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{where} cannot be read ({type(exc).__name__}: {exc}).") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    return parse_config(document, where=where, environ=os.environ if environ is None else environ)


def parse_config(document: object, *, where: str, environ: Mapping[str, str]) -> list[ServerConfig]:
    """Check a parsed MCP_CONFIG document; ``where`` names it in errors."""
    if not isinstance(document, dict):
        raise ConfigurationError(f'{where}: must be a JSON object like {{"mcpServers": {{…}}}}.')
    unknown = sorted(set(document) - {"mcpServers"})
    if unknown:
        raise ConfigurationError(f'{where}: unknown key "{unknown[0]}" (only "mcpServers" is read).')
    servers = document.get("mcpServers")
    if not isinstance(servers, dict):
        raise ConfigurationError(f'{where}: "mcpServers" must be an object of servers by name.')
    configs = [_server(name, entry, where=where, environ=environ) for name, entry in servers.items()]
    seen: dict[str, str] = {}
    for config in configs:
        if config.namespace in seen:
            raise ConfigurationError(
                f'{where}: servers "{seen[config.namespace]}" and "{config.name}" both name their tools '
                f"{config.namespace}__…: rename one of them."
            )
        seen[config.namespace] = config.name
    return configs


def namespace_of(name: str) -> str:
    """The server's name as its tools' prefix: A-Z, a-z, 0-9, _ and - only, with no "__"
    (so ``{namespace}__{tool}`` names one server's tool)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return re.sub(r"_{2,}", "_", cleaned).strip("_")


def _server(name: str, entry: object, *, where: str, environ: Mapping[str, str]) -> ServerConfig:
    here = f'{where}: server "{name}"'
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{here} must be an object (command and args, or url).")
    unknown = [key for key in entry if key not in SERVER_KEYS]
    if unknown:
        raise ConfigurationError(f'{here}: unknown key "{unknown[0]}" (known: {", ".join(SERVER_KEYS)}).')
    namespace = namespace_of(name)
    if not namespace:
        raise ConfigurationError(f'{where}: the server name "{name}" needs a letter or a digit.')
    disabled = _flag(entry, "disabled", here)
    command = _text(entry, "command", here, environ)
    url = _text(entry, "url", here, environ)
    kind = entry.get("type")
    if kind is not None and kind != "stdio" and kind not in HTTP_TYPES:
        hint = " (SSE is not supported: use the server's streamable HTTP endpoint)" if kind == "sse" else ""
        raise ConfigurationError(f'{here}: "type" must be "stdio" or "http"{hint}.')
    if (command is None) == (url is None):
        raise ConfigurationError(f'{here} needs either "command" (a program to start) or "url", not both.')
    if kind is not None and (kind == "stdio") != (command is not None):
        raise ConfigurationError(
            f'{here}: "type" is "{kind}" but it has a "{"command" if command else "url"}".'
        )
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise ConfigurationError(f'{here}: "url" must start with http:// or https://.')
    if command is None and any(key in entry for key in ("args", "env", "cwd")):
        raise ConfigurationError(f'{here}: "args", "env" and "cwd" are for a "command", not a "url".')
    if url is None and "headers" in entry:
        raise ConfigurationError(f'{here}: "headers" are for a "url", not a "command".')
    access = entry.get("access", "everyone")
    if access not in ACCESS:
        raise ConfigurationError(f'{here}: "access" must be "everyone" or "admins".')
    tools = entry.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, str) and t.strip() for t in tools)
    ):
        raise ConfigurationError(f'{here}: "tools" must be a list of tool names, e.g. ["search"].')
    return ServerConfig(
        name=name,
        namespace=namespace,
        command=command,
        args=tuple(_list(entry, "args", here, environ)),
        env=_map(entry, "env", here, environ),
        cwd=_text(entry, "cwd", here, environ),
        url=url,
        headers=_map(entry, "headers", here, environ),
        tools=None if tools is None else frozenset(t.strip() for t in tools),
        admins_only=access == "admins",
        disabled=disabled,
    )


def _flag(entry: dict[str, Any], key: str, here: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ConfigurationError(f'{here}: "{key}" must be true or false.')
    return value


def _text(entry: dict[str, Any], key: str, here: str, environ: Mapping[str, str]) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f'{here}: "{key}" must be a non-empty string.')
    return _expand(value, f'{here}, "{key}"', environ)


def _list(entry: dict[str, Any], key: str, here: str, environ: Mapping[str, str]) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f'{here}: "{key}" must be a list of strings.')
    return [_expand(v, f'{here}, "{key}"', environ) for v in value]


def _map(entry: dict[str, Any], key: str, here: str, environ: Mapping[str, str]) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigurationError(f'{here}: "{key}" must be an object of string values.')
    return {str(k): _expand(v, f'{here}, "{key}" {k}', environ) for k, v in value.items()}


def _expand(value: str, here: str, environ: Mapping[str, str]) -> str:
    """Replace each ``${VAR}`` by the environment's value (a missing one is named, never a value)."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigurationError(f"{here}: ${{{name}}} is not set in the environment.")
        return environ[name]

    return _VARIABLE.sub(variable, value)
